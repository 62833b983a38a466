import { createColumnHelper, type RowData } from '@tanstack/react-table';
import type { ReactNode } from 'react';
import type { ListPage } from '../api/list-page';
import { DataTable, Pager, type Columns, type Features } from './DataTable';
import { ConfirmDialog } from './Dialog';
import { useToast } from './Toasts';

/** A row action that asks first: what it says, and what it does (the toast's text is its answer). */
export interface ConfirmedAction<T> {
  title: string;
  message: (row: T) => ReactNode;
  confirmLabel: string;
  run: (row: T) => Promise<string>;
}

/**
 * The table of a server-side list (useListPage) with its pager and the
 * confirmations of its row actions: after an action, a toast says what
 * happened and everything cached about the resource is refreshed.
 */
export function CrudList<T extends RowData>({
  page,
  label,
  columns,
  getRowId,
  empty,
  rowClassName,
  actions = {},
}: {
  page: ListPage<T>;
  label: string;
  columns: Columns<T>;
  getRowId: (row: T) => string;
  empty: ReactNode;
  rowClassName?: (row: T) => string | undefined;
  actions?: Record<string, ConfirmedAction<T>>;
}) {
  const toast = useToast();
  const { list, confirming } = page;
  const data = list.data;
  const action = confirming ? actions[confirming.action] : undefined;
  return (
    <>
      <DataTable
        label={label}
        columns={columns}
        data={data?.data}
        sort={page.sort}
        onSortChange={page.setSort}
        getRowId={getRowId}
        isPending={list.isPending || list.isPlaceholderData}
        error={list.error}
        onRetry={() => void list.refetch()}
        rowClassName={rowClassName}
        empty={empty}
      />
      {data && data.totalElements > 0 && <Pager {...data} onPage={page.setPage} onPageSize={page.setPageSize} />}
      <ConfirmDialog
        open={action !== undefined}
        title={action?.title ?? ''}
        message={confirming && action ? action.message(confirming.row) : null}
        confirmLabel={action?.confirmLabel ?? ''}
        onConfirm={async () => {
          toast(await action!.run(confirming!.row));
          await page.refresh();
        }}
        onClose={page.closeConfirmation}
      />
    </>
  );
}

/** The last column of a list: its row's buttons, under a header only screen readers hear. */
export function actionsColumn<T extends RowData>(cell: (row: T) => ReactNode): Columns<T>[number] {
  return createColumnHelper<Features, T>().display({
    id: 'actions',
    header: () => <span className="visually-hidden">Actions</span>,
    cell: (c) => cell(c.row.original),
  });
}
