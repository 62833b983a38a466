import { createColumnHelper } from '@tanstack/react-table';
import { useListPage } from '../api/list-page';
import type { SubscriptionEntry } from '../api/types';
import { CrudList } from '../components/CrudList';
import type { Columns, Features } from '../components/DataTable';
import { DebouncedInput, SelectField } from '../components/Fields';
import { FilterForm } from '../components/FilterPanel';
import { PageHeader } from '../components/PageHeader';
import { subscriptionOptions } from './Sessions';

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
  // The shards keep subscriptions in topic filter order: there is nothing else to sort by.
  const subscriptions = useListPage<SubscriptionEntry, 'clientId' | 'topicFilter' | 'shared'>({
    resource: 'subscriptions',
    filters: { clientId: '', topicFilter: '', shared: '' },
    sort: null,
    refetchInterval: 15_000,
  });
  const { filterField } = subscriptions;

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
      <FilterForm label="Filter subscriptions">
        <DebouncedInput label="Topic filter" {...filterField('topicFilter')} />
        <DebouncedInput label="Client ID" {...filterField('clientId')} />
        <SelectField
          label="Kind"
          {...filterField('shared')}
          options={[
            { value: '', label: 'All' },
            { value: 'true', label: 'Shared only' },
            { value: 'false', label: 'Not shared' },
          ]}
        />
      </FilterForm>
      <CrudList
        page={subscriptions}
        label="Subscriptions"
        columns={columns}
        getRowId={(r) => `${r.clientId}\u0000${r.shareGroup ?? ''}\u0000${r.topicFilter}`}
        empty="No subscriptions yet."
      />
    </section>
  );
}
