import { useQuery } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useAuth } from '../api/auth';
import { api, seg } from '../api/client';
import { useLiveEvents, usePollWhileOffline } from '../api/events';
import { useListPage } from '../api/list-page';
import { queryKeys } from '../api/query-keys';
import type { SessionDetail, SessionSummary, SubscriptionEntry } from '../api/types';
import { actionsColumn, CrudList, type ConfirmedAction } from '../components/CrudList';
import type { Columns, Features } from '../components/DataTable';
import { Dialog } from '../components/Dialog';
import { DebouncedInput, SelectField } from '../components/Fields';
import { FilterForm } from '../components/FilterPanel';
import { PageHeader } from '../components/PageHeader';
import { ErrorState, Loading } from '../components/States';
import { formatNumber, formatTime, isoTime } from '../lib/format';

const column = createColumnHelper<Features, SessionSummary>();

const ACTIONS: Record<'disconnect' | 'remove', ConfirmedAction<SessionSummary>> = {
  disconnect: {
    title: 'Disconnect this client?',
    message: (s) => (
      <p>
        Close the connection of <strong>{s.clientId}</strong>. A persistent session is kept; the client may reconnect.
      </p>
    ),
    confirmLabel: 'Disconnect',
    run: async (s) => {
      await api.post(`/sessions/${seg(s.clientId)}/disconnect`);
      return `Disconnected ${s.clientId}`;
    },
  },
  remove: {
    title: 'Remove this session?',
    message: (s) => (
      <p>
        Remove the session of <strong>{s.clientId}</strong> with its subscriptions and queued messages. A connected client is disconnected first.
      </p>
    ),
    confirmLabel: 'Remove',
    run: async (s) => {
      await api.delete(`/sessions/${seg(s.clientId)}`);
      return `Removed the session of ${s.clientId}`;
    },
  },
};

export function SessionsPage() {
  const { canWrite } = useAuth();
  const [detail, setDetail] = useState<string | null>(null);
  const poll = usePollWhileOffline();
  const sessions = useListPage<SessionSummary, 'clientId' | 'username' | 'connected'>({
    resource: 'sessions',
    filters: { clientId: '', username: '', connected: '' },
    sort: { id: 'clientId', desc: false },
    refetchInterval: poll === false ? 15_000 : poll,
  });

  useLiveEvents((event) => {
    if (event.type === 'connected' || event.type === 'disconnected') void sessions.refresh();
  });

  const { confirm } = sessions;
  const columns = useMemo<Columns<SessionSummary>>(
    () => [
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
      actionsColumn((s) => (
        <span className="row-actions">
          <button type="button" className="btn btn-small" onClick={() => setDetail(s.clientId)}>
            Details
          </button>
          {canWrite && s.connected && (
            <button type="button" className="btn btn-small" onClick={() => confirm('disconnect', s)}>
              Disconnect
            </button>
          )}
          {canWrite && (
            <button type="button" className="btn btn-small btn-danger-outline" onClick={() => confirm('remove', s)}>
              Remove
            </button>
          )}
        </span>
      )),
    ],
    [canWrite, confirm],
  );

  const { filterField } = sessions;
  return (
    <section>
      <PageHeader title="Sessions" description="Connected clients and persistent sessions kept for disconnected ones." />
      <FilterForm label="Filter sessions">
        <DebouncedInput label="Client ID" {...filterField('clientId')} />
        <DebouncedInput label="Username" {...filterField('username')} />
        <SelectField
          label="Status"
          {...filterField('connected')}
          options={[
            { value: '', label: 'All' },
            { value: 'true', label: 'Connected' },
            { value: 'false', label: 'Disconnected' },
          ]}
        />
      </FilterForm>
      <CrudList page={sessions} label="Sessions" columns={columns} getRowId={(r) => r.clientId} actions={ACTIONS} empty="No sessions. Clients appear here when they connect." />
      <SessionDetailDialog clientId={detail} onClose={() => setDetail(null)} />
    </section>
  );
}

function SessionDetailDialog({ clientId, onClose }: { clientId: string | null; onClose: () => void }) {
  const detail = useQuery({
    queryKey: queryKeys.one('sessions', clientId),
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
