import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useAuth } from '../api/auth';
import { api, seg } from '../api/client';
import { useLiveEvents, usePollWhileOffline } from '../api/events';
import { readList, type ListResult } from '../api/queries';
import type { SessionDetail, SessionSummary, SubscriptionEntry } from '../api/types';
import { DataTable, Pager, type Columns, type Features, type Sort } from '../components/DataTable';
import { ConfirmDialog, Dialog } from '../components/Dialog';
import { DebouncedInput, SelectField } from '../components/Fields';
import { PageHeader } from '../components/PageHeader';
import { ErrorState, Loading } from '../components/States';
import { useToast } from '../components/Toasts';
import { formatNumber, formatTime, isoTime } from '../lib/format';
import { useUrlState } from '../lib/url-state';

const DEFAULTS = { clientId: '', username: '', connected: '', sort: 'clientId', order: 'asc', page: '0', pageSize: '25' };
const column = createColumnHelper<Features, SessionSummary>();

export function SessionsPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const queryClient = useQueryClient();
  const [state, setState] = useUrlState(DEFAULTS);
  const [detail, setDetail] = useState<string | null>(null);
  const [disconnecting, setDisconnecting] = useState<SessionSummary | null>(null);
  const [removing, setRemoving] = useState<SessionSummary | null>(null);
  const poll = usePollWhileOffline();

  const params = {
    clientId: state.clientId,
    username: state.username,
    connected: state.connected,
    sort: state.sort,
    order: state.order,
    page: Number(state.page) || 0,
    pageSize: Number(state.pageSize) || 25,
  };
  const list = useQuery<ListResult<SessionSummary>>({
    queryKey: ['sessions', params],
    queryFn: ({ signal }) => api.get<unknown>('/sessions', params, signal).then((b) => readList<SessionSummary>(b)),
    placeholderData: keepPreviousData,
    refetchInterval: poll === false ? 15_000 : poll,
  });

  useLiveEvents((event) => {
    if (event.type === 'connected' || event.type === 'disconnected') void queryClient.invalidateQueries({ queryKey: ['sessions'] });
  });

  const columns = useMemo<Columns<SessionSummary>>(() => {
    const cols: Columns<SessionSummary> = [
      column.accessor('clientId', {
        header: 'Client ID',
        cell: (c) => (
          <button type="button" className="btn-link" onClick={() => setDetail(c.getValue())}>
            <code className="ident">{c.getValue()}</code>
          </button>
        ),
      }),
      column.accessor('connected', {
        header: 'Status',
        cell: (c) => <span className={c.getValue() ? 'badge badge-true' : 'badge'}>{c.getValue() ? 'connected' : 'disconnected'}</span>,
      }),
      // Where the session lives: FNV-1a(client id) mod BROKER_SHARDS, so it is fixed for a client id.
      column.accessor('shard', { header: 'Shard', enableSorting: false, cell: (c) => formatNumber(c.getValue()) }),
      column.accessor((r) => r.username ?? '', { id: 'username', header: 'Username', cell: (c) => c.getValue() || <span className="muted">—</span> }),
      column.accessor((r) => r.ip ?? '', { id: 'ip', header: 'Client IP', cell: (c) => (c.getValue() ? <code>{c.getValue()}</code> : '—') }),
      column.accessor((r) => r.protocolVersion ?? 0, {
        id: 'protocolVersion',
        header: 'MQTT',
        enableSorting: false,
        cell: (c) => ({ 3: '3.1', 4: '3.1.1', 5: '5.0' } as Record<number, string>)[Number(c.getValue())] ?? '—',
      }),
      column.accessor((r) => r.subscriptions ?? 0, { id: 'subscriptions', header: 'Subscriptions', cell: (c) => formatNumber(c.getValue()) }),
      column.accessor((r) => r.queueDepth ?? 0, { id: 'queueDepth', header: 'Queued', enableSorting: false, cell: (c) => formatNumber(c.getValue()) }),
      column.accessor((r) => r.disconnectedAt ?? '', {
        id: 'disconnectedAt',
        header: 'Connected / disconnected at',
        cell: (c) => {
          const at = c.row.original.connected ? c.row.original.connectedAt : c.row.original.disconnectedAt;
          return <time dateTime={isoTime(at ?? null)}>{formatTime(at ?? null)}</time>;
        },
      }),
      column.accessor((r) => r.createdAt ?? '', {
        id: 'createdAt',
        header: 'Created',
        cell: (c) => <time dateTime={isoTime(c.getValue() || null)}>{formatTime(c.getValue() || null)}</time>,
      }),
    ];
    cols.push(
      column.display({
        id: 'actions',
        header: () => <span className="visually-hidden">Actions</span>,
        cell: (c) => (
          <span className="row-actions">
            <button type="button" className="btn btn-small" onClick={() => setDetail(c.row.original.clientId)}>
              Details
            </button>
            {canWrite && c.row.original.connected && (
              <button type="button" className="btn btn-small" onClick={() => setDisconnecting(c.row.original)}>
                Disconnect
              </button>
            )}
            {canWrite && (
              <button type="button" className="btn btn-small btn-danger-outline" onClick={() => setRemoving(c.row.original)}>
                Remove
              </button>
            )}
          </span>
        ),
      }),
    );
    return cols;
  }, [canWrite]);

  const pageMeta = list.data?.page;
  const sort: Sort | null = state.sort ? { id: state.sort, desc: state.order === 'desc' } : null;
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['sessions'] });
  const setFilter = (changes: Partial<typeof DEFAULTS>) => setState({ ...changes, page: '0' });

  return (
    <section>
      <PageHeader title="Sessions" description="Connected clients and persistent sessions kept for disconnected ones." />
      <form className="filters" role="search" aria-label="Filter sessions" onSubmit={(e) => e.preventDefault()}>
        <DebouncedInput label="Client ID" name="clientId" value={state.clientId} onChange={(v) => setFilter({ clientId: v })} />
        <DebouncedInput label="Username" name="username" value={state.username} onChange={(v) => setFilter({ username: v })} />
        <SelectField
          label="Status"
          name="connected"
          value={state.connected}
          onChange={(v) => setFilter({ connected: v })}
          options={[
            { value: '', label: 'All' },
            { value: 'true', label: 'Connected' },
            { value: 'false', label: 'Disconnected' },
          ]}
        />
      </form>
      <DataTable
        label="Sessions"
        columns={columns}
        data={list.data?.rows}
        sort={sort}
        onSortChange={(s) => setState({ sort: s?.id ?? '', order: s?.desc ? 'desc' : 'asc', page: '0' })}
        manualSorting={!!pageMeta}
        getRowId={(r) => r.clientId}
        isPending={list.isPending || list.isPlaceholderData}
        error={list.error}
        onRetry={() => void list.refetch()}
        empty="No sessions. Clients appear here when they connect."
      />
      {pageMeta && pageMeta.totalElements > 0 && (
        <Pager
          {...pageMeta}
          onPage={(p) => setState({ page: String(p) }, { replace: false })}
          onPageSize={(s) => setState({ pageSize: String(s), page: '0' })}
        />
      )}
      <SessionDetailDialog clientId={detail} onClose={() => setDetail(null)} />
      <ConfirmDialog
        open={disconnecting !== null}
        title="Disconnect this client?"
        message={
          <p>
            Close the connection of <strong>{disconnecting?.clientId}</strong>. A persistent session is kept; the client may reconnect.
          </p>
        }
        confirmLabel="Disconnect"
        onConfirm={async () => {
          await api.post(`/sessions/${seg(disconnecting!.clientId)}/disconnect`);
          toast(`Disconnected ${disconnecting!.clientId}`);
          await refresh();
        }}
        onClose={() => setDisconnecting(null)}
      />
      <ConfirmDialog
        open={removing !== null}
        title="Remove this session?"
        message={
          <p>
            Remove the session of <strong>{removing?.clientId}</strong> with its subscriptions and queued messages. A connected client is disconnected first.
          </p>
        }
        confirmLabel="Remove"
        onConfirm={async () => {
          await api.delete(`/sessions/${seg(removing!.clientId)}`);
          toast(`Removed the session of ${removing!.clientId}`);
          await refresh();
        }}
        onClose={() => setRemoving(null)}
      />
    </section>
  );
}

function SessionDetailDialog({ clientId, onClose }: { clientId: string | null; onClose: () => void }) {
  const detail = useQuery({
    queryKey: ['session', clientId],
    queryFn: ({ signal }) => api.get<SessionDetail>(`/sessions/${seg(clientId!)}`, undefined, signal),
    enabled: clientId !== null,
  });
  const s = detail.data;
  const subs: SubscriptionEntry[] = s?.subscriptionList ?? [];
  return (
    <Dialog open={clientId !== null} title={`Session ${clientId ?? ''}`} onClose={onClose} wide>
      {detail.isPending ? (
        <Loading />
      ) : detail.error ? (
        <ErrorState error={detail.error} onRetry={() => void detail.refetch()} />
      ) : s ? (
        <>
          <dl className="facts">
            <dt>Status</dt>
            <dd>{s.connected ? 'connected' : 'disconnected'}</dd>
            <dt>Shard</dt>
            <dd data-testid="session-shard">{s.shard}</dd>
            <dt>Username</dt>
            <dd>{s.username ?? '—'}</dd>
            <dt>Client IP</dt>
            <dd>{s.ip ?? '—'}</dd>
            <dt>Protocol</dt>
            <dd>{s.protocolVersion === 5 ? 'MQTT 5.0' : s.protocolVersion === 4 ? 'MQTT 3.1.1' : (s.protocolVersion ?? '—')}</dd>
            <dt>Queue depth</dt>
            <dd data-testid="queue-depth">{formatNumber(s.queueDepth ?? 0)}</dd>
            <dt>In flight</dt>
            <dd>{formatNumber(s.inflight ?? 0)}</dd>
            <dt>Dropped messages</dt>
            <dd>{formatNumber(typeof s.droppedMessages === 'number' ? s.droppedMessages : 0)}</dd>
            <dt>Will pending</dt>
            <dd>{s.willPending ? 'yes' : 'no'}</dd>
            <dt>Keep alive</dt>
            <dd>{typeof s.keepAlive === 'number' ? `${s.keepAlive} s` : '—'}</dd>
            <dt>Session expiry</dt>
            <dd>{typeof s.sessionExpiryInterval === 'number' ? `${s.sessionExpiryInterval} s` : '—'}</dd>
            <dt>Expires</dt>
            <dd>{formatTime(s.expiresAt ?? null)}</dd>
            <dt>Connected at</dt>
            <dd>{formatTime(s.connectedAt ?? null)}</dd>
            <dt>Disconnected at</dt>
            <dd>{formatTime(s.disconnectedAt ?? null)}</dd>
          </dl>
          <h3>Subscriptions</h3>
          {subs.length === 0 ? (
            <p className="muted">No subscriptions.</p>
          ) : (
            <div className="table-wrap">
              <table className="data-table">
                <thead>
                  <tr>
                    <th scope="col">Topic filter</th>
                    <th scope="col">QoS</th>
                    <th scope="col">Shared group</th>
                    <th scope="col">Options</th>
                  </tr>
                </thead>
                <tbody>
                  {subs.map((sub) => (
                    <tr key={`${sub.shareGroup ?? ''}/${sub.topicFilter}`}>
                      <td>
                        <code>{sub.topicFilter}</code>
                      </td>
                      <td>{sub.qos}</td>
                      <td>{sub.shareGroup ?? '—'}</td>
                      <td>{subscriptionOptions(sub)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      ) : null}
    </Dialog>
  );
}

export function subscriptionOptions(sub: SubscriptionEntry): string {
  const parts: string[] = [];
  if (sub.noLocal) parts.push('no local');
  if (sub.retainAsPublished) parts.push('retain as published');
  if (sub.retainHandling) parts.push(`retain handling ${sub.retainHandling}`);
  if (sub.subscriptionIdentifier) parts.push(`id ${sub.subscriptionIdentifier}`);
  return parts.join(', ') || '—';
}
