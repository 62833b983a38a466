import { useQuery } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useAuth } from '../api/auth';
import { api, seg } from '../api/client';
import { useListPage } from '../api/list-page';
import { queryKeys } from '../api/query-keys';
import type { RetainedMessage } from '../api/types';
import { actionsColumn, CrudList, type ConfirmedAction } from '../components/CrudList';
import type { Columns, Features } from '../components/DataTable';
import { Dialog } from '../components/Dialog';
import { DebouncedInput } from '../components/Fields';
import { FilterForm } from '../components/FilterPanel';
import { PageHeader } from '../components/PageHeader';
import { ErrorState, Loading } from '../components/States';
import { formatBytes, formatTime, isoTime, truncate } from '../lib/format';

const column = createColumnHelper<Features, RetainedMessage>();

/** Payloads are bytes: text when the broker could read them as UTF-8, otherwise hex. */
export function payloadText(m: RetainedMessage): { text: string; binary: boolean } {
  if (typeof m.payload === 'string') return { text: m.payload, binary: false };
  const bytes = Uint8Array.from(atob(m.payloadBase64 ?? ''), (c) => c.charCodeAt(0));
  return { text: [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(' '), binary: true };
}

/** An MQTT filter (with + or #) matches topics; anything else is a substring of the topic. */
function topicQuery(text: string): { topic?: string; filter?: string } {
  if (!text) return {};
  return /[+#]/.test(text) ? { filter: text } : { topic: text };
}

const ACTIONS: Record<'delete', ConfirmedAction<RetainedMessage>> = {
  delete: {
    title: 'Delete this retained message?',
    message: (m) => (
      <p>
        New subscribers to <code>{m.topic}</code> will no longer receive it.
      </p>
    ),
    confirmLabel: 'Delete',
    run: async (m) => {
      await api.delete(`/retained/${seg(m.topic)}`);
      return `Deleted the retained message of ${m.topic}`;
    },
  },
};

export function RetainedPage() {
  const { canWrite } = useAuth();
  const [viewing, setViewing] = useState<RetainedMessage | null>(null);
  // The shards keep retained messages in topic order: there is nothing else to sort by.
  const retained = useListPage<RetainedMessage, 'topic'>({
    resource: 'retained',
    filters: { topic: '' },
    sort: null,
    toQuery: (f) => topicQuery(f.topic),
    refetchInterval: 15_000,
  });

  const { confirm } = retained;
  const columns = useMemo<Columns<RetainedMessage>>(
    () => [
      column.accessor('topic', { header: 'Topic', enableSorting: false, cell: (c) => <code className="ident">{c.getValue()}</code> }),
      column.accessor((r) => payloadText(r).text, {
        id: 'payload',
        header: 'Payload',
        enableSorting: false,
        cell: (c) => <span className="payload-preview">{truncate(c.getValue(), 60) || <span className="muted">(empty)</span>}</span>,
      }),
      column.accessor('payloadSize', { header: 'Size', enableSorting: false, cell: (c) => formatBytes(c.getValue()) }),
      column.accessor('qos', { header: 'QoS', enableSorting: false }),
      column.accessor('createdAt', {
        header: 'Stored',
        enableSorting: false,
        cell: (c) => <time dateTime={isoTime(c.getValue())}>{formatTime(c.getValue())}</time>,
      }),
      actionsColumn((m) => (
        <span className="row-actions">
          <button type="button" className="btn btn-small" onClick={() => setViewing(m)}>
            View
          </button>
          {canWrite && (
            <button type="button" className="btn btn-small btn-danger-outline" onClick={() => confirm('delete', m)}>
              Delete
            </button>
          )}
        </span>
      )),
    ],
    [canWrite, confirm],
  );

  // Lists carry the first 1024 bytes; the dialog loads the whole payload.
  const full = useQuery({
    queryKey: queryKeys.one('retained', viewing?.topic ?? null),
    queryFn: ({ signal }) => api.get<RetainedMessage>(`/retained/${seg(viewing!.topic)}`, undefined, signal),
    enabled: viewing !== null && viewing.payloadTruncated,
  });
  const shown = viewing?.payloadTruncated ? (full.data ?? null) : viewing;
  const viewed = shown ? payloadText(shown) : null;

  return (
    <section>
      <PageHeader title="Retained messages" description="The last retained message of each topic, delivered to every new subscriber; ordered by topic." />
      <FilterForm label="Filter retained messages">
        <DebouncedInput
          label="Topic"
          {...retained.filterField('topic')}
          placeholder="part of a topic, or a filter like sensors/+/temp"
        />
      </FilterForm>
      <CrudList page={retained} label="Retained messages" columns={columns} getRowId={(r) => r.topic} actions={ACTIONS} empty="No retained messages." />
      <Dialog open={viewing !== null} title={viewing?.topic ?? ''} onClose={() => setViewing(null)} wide>
        {viewing && full.isPending && viewing.payloadTruncated ? <Loading /> : null}
        {viewing && full.error ? <ErrorState error={full.error} onRetry={() => void full.refetch()} /> : null}
        {viewing && viewed && (
          <>
            <dl className="facts">
              <dt>QoS</dt>
              <dd>{viewing.qos}</dd>
              <dt>Size</dt>
              <dd>{formatBytes(viewing.payloadSize)}</dd>
              {viewing.contentType && (
                <>
                  <dt>Content type</dt>
                  <dd>{viewing.contentType}</dd>
                </>
              )}
              <dt>Stored</dt>
              <dd>{formatTime(viewing.createdAt)}</dd>
              <dt>Expires</dt>
              <dd>{viewing.expiresAt ? formatTime(viewing.expiresAt) : 'never'}</dd>
            </dl>
            <h3>{viewed.binary ? 'Payload (hex)' : 'Payload'}</h3>
            <pre className="payload-full">{viewed.text || '(empty)'}</pre>
          </>
        )}
      </Dialog>
    </section>
  );
}
