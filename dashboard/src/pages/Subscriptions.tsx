import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { api } from '../api/client';
import { readList, type ListResult } from '../api/queries';
import type { SubscriptionEntry } from '../api/types';
import { DataTable, Pager, type Columns, type Features } from '../components/DataTable';
import { DebouncedInput, SelectField } from '../components/Fields';
import { PageHeader } from '../components/PageHeader';
import { useUrlState } from '../lib/url-state';
import { subscriptionOptions } from './Sessions';

const DEFAULTS = { clientId: '', topicFilter: '', shared: '', page: '0', pageSize: '25' };
const column = createColumnHelper<Features, SubscriptionEntry>();

const columns: Columns<SubscriptionEntry> = [
  column.accessor('topicFilter', { header: 'Topic filter', enableSorting: false, cell: (c) => <code className="ident">{c.getValue()}</code> }),
  column.accessor((r) => r.shareGroup ?? '', {
    id: 'shareGroup',
    header: 'Shared group',
    enableSorting: false,
    cell: (c) => (c.getValue() ? <span className="badge badge-share">{c.getValue()}</span> : <span className="muted">—</span>),
  }),
  column.accessor('clientId', { header: 'Client ID', enableSorting: false, cell: (c) => <code className="ident">{c.getValue()}</code> }),
  column.accessor('qos', { header: 'QoS', enableSorting: false }),
  column.accessor('shard', { header: 'Shard', enableSorting: false }),
  column.accessor((r) => subscriptionOptions(r), { id: 'options', header: 'Options', enableSorting: false }),
];

export function SubscriptionsPage() {
  const [state, setState] = useUrlState(DEFAULTS);
  const params = {
    clientId: state.clientId,
    topicFilter: state.topicFilter,
    shared: state.shared,
    page: Number(state.page) || 0,
    pageSize: Number(state.pageSize) || 25,
  };
  const list = useQuery<ListResult<SubscriptionEntry>>({
    queryKey: ['subscriptions', params],
    queryFn: ({ signal }) => api.get<unknown>('/subscriptions', params, signal).then((b) => readList<SubscriptionEntry>(b)),
    placeholderData: keepPreviousData,
    refetchInterval: 15_000,
  });
  const pageMeta = list.data?.page;
  const setFilter = (changes: Partial<typeof DEFAULTS>) => setState({ ...changes, page: '0' });

  return (
    <section>
      <PageHeader
        title="Subscriptions"
        description={
          <>
            Every subscription of every session, ordered by topic filter. Shared subscriptions (<code>$share/group/filter</code>) show their group; each message goes to one member of a group.
          </>
        }
      />
      <form className="filters" role="search" aria-label="Filter subscriptions" onSubmit={(e) => e.preventDefault()}>
        <DebouncedInput label="Topic filter" name="topicFilter" value={state.topicFilter} onChange={(v) => setFilter({ topicFilter: v })} />
        <DebouncedInput label="Client ID" name="clientId" value={state.clientId} onChange={(v) => setFilter({ clientId: v })} />
        <SelectField
          label="Kind"
          name="shared"
          value={state.shared}
          onChange={(v) => setFilter({ shared: v })}
          options={[
            { value: '', label: 'All' },
            { value: 'true', label: 'Shared only' },
            { value: 'false', label: 'Not shared' },
          ]}
        />
      </form>
      <DataTable
        label="Subscriptions"
        columns={columns}
        data={list.data?.rows}
        sort={null}
        onSortChange={() => undefined}
        manualSorting
        getRowId={(r) => `${r.clientId}\u0000${r.shareGroup ?? ''}\u0000${r.topicFilter}`}
        isPending={list.isPending || list.isPlaceholderData}
        error={list.error}
        onRetry={() => void list.refetch()}
        empty="No subscriptions yet."
      />
      {pageMeta && pageMeta.totalElements > 0 && (
        <Pager
          {...pageMeta}
          onPage={(p) => setState({ page: String(p) }, { replace: false })}
          onPageSize={(s) => setState({ pageSize: String(s), page: '0' })}
        />
      )}
    </section>
  );
}
