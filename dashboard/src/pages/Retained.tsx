import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useAuth } from '../api/auth';
import { api, seg } from '../api/client';
import { readList, type ListResult } from '../api/queries';
import type { RetainedMessage } from '../api/types';
import { DataTable, Pager, type Columns, type Features } from '../components/DataTable';
import { ErrorState, Loading } from '../components/States';
import { ConfirmDialog, Dialog } from '../components/Dialog';
import { DebouncedInput } from '../components/Fields';
import { PageHeader } from '../components/PageHeader';
import { useToast } from '../components/Toasts';
import { formatBytes, formatTime, isoTime, truncate } from '../lib/format';
import { useUrlState } from '../lib/url-state';

const DEFAULTS = { topic: '', page: '0', pageSize: '25' };
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

export function RetainedPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const queryClient = useQueryClient();
  const [state, setState] = useUrlState(DEFAULTS);
  const [viewing, setViewing] = useState<RetainedMessage | null>(null);
  const [deleting, setDeleting] = useState<RetainedMessage | null>(null);

  const params = { ...topicQuery(state.topic), page: Number(state.page) || 0, pageSize: Number(state.pageSize) || 25 };
  const list = useQuery<ListResult<RetainedMessage>>({
    queryKey: ['retained', params],
    queryFn: ({ signal }) => api.get<unknown>('/retained', params, signal).then((b) => readList<RetainedMessage>(b)),
    placeholderData: keepPreviousData,
    refetchInterval: 15_000,
  });

  const columns = useMemo<Columns<RetainedMessage>>(() => {
    const cols: Columns<RetainedMessage> = [
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
      column.display({
        id: 'actions',
        header: () => <span className="visually-hidden">Actions</span>,
        cell: (c) => (
          <span className="row-actions">
            <button type="button" className="btn btn-small" onClick={() => setViewing(c.row.original)}>
              View
            </button>
            {canWrite && (
              <button type="button" className="btn btn-small btn-danger-outline" onClick={() => setDeleting(c.row.original)}>
                Delete
              </button>
            )}
          </span>
        ),
      }),
    ];
    return cols;
  }, [canWrite]);

  const pageMeta = list.data?.page;
  // Lists carry the first 1024 bytes; the dialog loads the whole payload.
  const full = useQuery({
    queryKey: ['retained', 'one', viewing?.topic],
    queryFn: ({ signal }) => api.get<RetainedMessage>(`/retained/${seg(viewing!.topic)}`, undefined, signal),
    enabled: viewing !== null && viewing.payloadTruncated,
  });
  const shown = viewing?.payloadTruncated ? (full.data ?? null) : viewing;
  const viewed = shown ? payloadText(shown) : null;

  return (
    <section>
      <PageHeader title="Retained messages" description="The last retained message of each topic, delivered to every new subscriber; ordered by topic." />
      <form className="filters" role="search" aria-label="Filter retained messages" onSubmit={(e) => e.preventDefault()}>
        <DebouncedInput label="Topic" name="topic" value={state.topic} onChange={(v) => setState({ topic: v, page: '0' })} placeholder="part of a topic, or a filter like sensors/+/temp" />
      </form>
      <DataTable
        label="Retained messages"
        columns={columns}
        data={list.data?.rows}
        sort={null}
        onSortChange={() => undefined}
        manualSorting
        getRowId={(r) => r.topic}
        isPending={list.isPending || list.isPlaceholderData}
        error={list.error}
        onRetry={() => void list.refetch()}
        empty="No retained messages."
      />
      {pageMeta && pageMeta.totalElements > 0 && (
        <Pager
          {...pageMeta}
          onPage={(p) => setState({ page: String(p) }, { replace: false })}
          onPageSize={(s) => setState({ pageSize: String(s), page: '0' })}
        />
      )}
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
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this retained message?"
        message={
          <p>
            New subscribers to <code>{deleting?.topic}</code> will no longer receive it.
          </p>
        }
        confirmLabel="Delete"
        onConfirm={async () => {
          await api.delete(`/retained/${seg(deleting!.topic)}`);
          toast(`Deleted the retained message of ${deleting!.topic}`);
          await queryClient.invalidateQueries({ queryKey: ['retained'] });
        }}
        onClose={() => setDeleting(null)}
      />
    </section>
  );
}
