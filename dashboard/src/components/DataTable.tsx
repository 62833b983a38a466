import {
  rowSortingFeature,
  tableFeatures,
  useTable,
  type ColumnDef,
  type RowData,
  type SortingState,
  type Updater,
} from '@tanstack/react-table';
import type { ReactNode } from 'react';
import { Empty, ErrorState, Loading } from './States';

/**
 * Tables show one page of a list the API sorted and cut (useListPage): the
 * sort headers say what to ask for, and the rows stay in the order they came.
 */
export const tableFeatureSet = tableFeatures({ rowSortingFeature });

export type Features = typeof tableFeatureSet;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Columns<T extends RowData> = ColumnDef<Features, T, any>[];

export interface Sort {
  id: string;
  desc: boolean;
}

export function DataTable<T extends RowData>({
  label,
  columns,
  data,
  sort,
  onSortChange,
  getRowId,
  isPending = false,
  error,
  onRetry,
  empty,
  rowClassName,
}: {
  /** Accessible name of the table (a visually hidden caption). */
  label: string;
  columns: Columns<T>;
  data: T[] | undefined;
  sort: Sort | null;
  onSortChange: (sort: Sort | null) => void;
  getRowId: (row: T) => string;
  isPending?: boolean;
  error?: unknown;
  onRetry?: () => void;
  empty: ReactNode;
  rowClassName?: (row: T) => string | undefined;
}) {
  const sorting: SortingState = sort ? [sort] : [];
  const table = useTable({
    features: tableFeatureSet,
    columns,
    data: data ?? [],
    getRowId: (row: T) => getRowId(row),
    manualSorting: true,
    enableMultiSort: false,
    // The API always sorts by something; a third click flips the order instead of dropping it.
    enableSortingRemoval: false,
    state: { sorting },
    onSortingChange: (updater: Updater<SortingState>) => {
      const next = typeof updater === 'function' ? updater(sorting) : updater;
      onSortChange(next[0] ? { id: next[0].id, desc: next[0].desc } : null);
    },
  });

  if (isPending && !data) return <Loading />;
  if (error && !data) return <ErrorState error={error} onRetry={onRetry} />;

  const rows = table.getRowModel().rows;
  return (
    <>
      {error ? <ErrorState error={error} title="Showing the last data; refreshing failed" onRetry={onRetry} /> : null}
      <div className="table-wrap" tabIndex={-1}>
        <table className="data-table stackable" aria-busy={isPending || undefined}>
          <caption className="visually-hidden">{label}</caption>
          <thead>
            {table.getHeaderGroups().map((group) => (
              <tr key={group.id}>
                {group.headers.map((header) => {
                  const sorted = header.column.getIsSorted();
                  const content = header.isPlaceholder ? null : <table.FlexRender header={header} />;
                  return (
                    <th
                      key={header.id}
                      scope="col"
                      aria-sort={sorted === 'asc' ? 'ascending' : sorted === 'desc' ? 'descending' : undefined}
                      className={`col-${header.column.id}`}
                    >
                      {header.column.getCanSort() ? (
                        <button type="button" className="sort-button" onClick={header.column.getToggleSortingHandler()}>
                          {content}
                          <span className="sort-indicator" aria-hidden="true">
                            {sorted === 'asc' ? '▲' : sorted === 'desc' ? '▼' : '↕'}
                          </span>
                        </button>
                      ) : (
                        content
                      )}
                    </th>
                  );
                })}
              </tr>
            ))}
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.id} className={rowClassName?.(row.original)} data-row-id={row.id}>
                {row.getAllCells().map((cell) => (
                  <td key={cell.id} className={`col-${cell.column.id}`} data-label={headerText(cell.column.columnDef.header, cell.column.id)}>
                    <table.FlexRender cell={cell} />
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.length === 0 && !isPending ? <Empty title="Nothing here">{empty}</Empty> : null}
    </>
  );
}

/** Phones show each row as a card; each cell is labelled with its column's header. */
function headerText(header: unknown, id: string): string {
  return typeof header === 'string' ? header : id === 'actions' ? '' : id;
}

export function Pager({
  page,
  pageSize,
  totalElements,
  totalPages,
  hasNext,
  onPage,
  onPageSize,
  sizes = [10, 25, 50, 100],
}: {
  page: number;
  pageSize: number;
  totalElements: number;
  totalPages: number;
  hasNext: boolean;
  onPage: (page: number) => void;
  onPageSize: (size: number) => void;
  sizes?: number[];
}) {
  const first = totalElements === 0 ? 0 : page * pageSize + 1;
  const last = Math.min(totalElements, (page + 1) * pageSize);
  return (
    <nav className="pager" aria-label="Pages">
      <span aria-live="polite">
        {first}–{last} of {totalElements}
      </span>
      <label>
        Rows per page{' '}
        <select value={pageSize} onChange={(e) => onPageSize(Number(e.target.value))}>
          {sizes.map((size) => (
            <option key={size} value={size}>
              {size}
            </option>
          ))}
        </select>
      </label>
      <button type="button" className="btn" onClick={() => onPage(0)} disabled={page <= 0}>
        First
      </button>
      <button type="button" className="btn" onClick={() => onPage(page - 1)} disabled={page <= 0}>
        Previous
      </button>
      <span>
        Page {totalPages === 0 ? 0 : page + 1} of {totalPages}
      </span>
      <button type="button" className="btn" onClick={() => onPage(page + 1)} disabled={!hasNext}>
        Next
      </button>
    </nav>
  );
}
