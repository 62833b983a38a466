import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { api } from '../api/client';
import { shardLoads, type ShardLoad } from '../api/shards';
import type { StatsSnapshot } from '../api/types';
import { PageHeader } from '../components/PageHeader';
import { ErrorState, Loading } from '../components/States';
import { formatNumber, formatTime } from '../lib/format';

const POLL_MS = 5_000;

/** Rates read better with one decimal while they are small. */
function formatRate(value: number | null): string {
  if (value === null) return '—';
  return value < 10 ? value.toFixed(1) : formatNumber(Math.round(value));
}

/** The latest GET /stats and the one before it, for rates. */
function useShardLoads() {
  const stats = useQuery({
    queryKey: ['stats'],
    queryFn: ({ signal }) => api.get<StatsSnapshot>('/stats', undefined, signal),
    refetchInterval: POLL_MS,
    staleTime: 0,
  });
  const previous = useRef<StatsSnapshot | null>(null);
  const [loads, setLoads] = useState<ShardLoad[] | null>(null);
  useEffect(() => {
    if (!stats.data) return;
    setLoads(shardLoads(stats.data, previous.current));
    previous.current = stats.data;
  }, [stats.data]);
  return { stats, loads };
}

export function ShardsPage() {
  const { stats, loads } = useShardLoads();
  const maxConnections = Math.max(1, ...(loads ?? []).map((l) => l.connections));

  return (
    <section>
      <PageHeader
        title="Shards"
        description={
          <>
            The broker shards (Durable Objects) that share the clients: each client id always lives on shard FNV-1a(client id) mod <code>BROKER_SHARDS</code>. Figures
            update every few seconds; message rates are PUBLISH packets per second since the previous update.
          </>
        }
      />
      {stats.isPending && !loads ? (
        <Loading label="Loading shards…" />
      ) : stats.error && !loads ? (
        <ErrorState error={stats.error} title="Shards are unavailable" onRetry={() => void stats.refetch()} />
      ) : loads ? (
        <>
          {stats.error ? <ErrorState error={stats.error} title="Shards stopped updating" onRetry={() => void stats.refetch()} /> : null}
          <div className="table-wrap">
            <table className="data-table shards-table" aria-label="Shards">
              <thead>
                <tr>
                  <th scope="col" rowSpan={2}>
                    Shard
                  </th>
                  <th scope="col" rowSpan={2}>
                    Connected clients
                  </th>
                  <th scope="col" rowSpan={2}>
                    Sessions
                  </th>
                  <th scope="col" rowSpan={2}>
                    Subscriptions
                  </th>
                  <th scope="col" rowSpan={2}>
                    Retained
                  </th>
                  <th scope="colgroup" colSpan={2}>
                    Messages / s
                  </th>
                  <th scope="colgroup" colSpan={3}>
                    Durable Object
                  </th>
                  <th scope="col" rowSpan={2}>
                    Counting since
                  </th>
                </tr>
                <tr>
                  <th scope="col">In</th>
                  <th scope="col">Out</th>
                  <th scope="col">Messages in</th>
                  <th scope="col">Messages out</th>
                  <th scope="col">Alarms</th>
                </tr>
              </thead>
              <tbody>
                {loads.map((l) => (
                  <tr key={l.shard} data-shard={l.shard}>
                    <th scope="row" className="col-shard">
                      <code>shard-{l.shard}</code>
                    </th>
                    <td className="col-connections">
                      <span className="load">
                        <span className="load-bar" style={{ width: `${(l.connections / maxConnections) * 100}%` }} aria-hidden="true" />
                        <span className="load-value">{formatNumber(l.connections)}</span>
                      </span>
                    </td>
                    <td className="col-sessions">{formatNumber(l.sessions)}</td>
                    <td className="col-subscriptions">{formatNumber(l.subscriptions)}</td>
                    <td className="col-retained">{formatNumber(l.retained)}</td>
                    <td className="col-publishIn">{formatRate(l.publishInRate)}</td>
                    <td className="col-publishOut">{formatRate(l.publishOutRate)}</td>
                    <td className="col-doIn">{formatNumber(l.webSocketMessagesIn)}</td>
                    <td className="col-doOut">{formatNumber(l.webSocketMessagesOut)}</td>
                    <td className="col-alarms">{formatNumber(l.alarms)}</td>
                    <td className="col-startedAt">
                      <time dateTime={l.startedAt}>{formatTime(l.startedAt)}</time>
                    </td>
                  </tr>
                ))}
              </tbody>
              {stats.data && loads.length > 1 ? (
                <tfoot>
                  <tr>
                    <th scope="row">All shards</th>
                    <td data-testid="total-connections">{formatNumber(stats.data.connections)}</td>
                    <td>{formatNumber(stats.data.sessions)}</td>
                    <td>{formatNumber(stats.data.subscriptions)}</td>
                    <td>{formatNumber(stats.data.retained)}</td>
                    <td>{formatRate(sumRates(loads.map((l) => l.publishInRate)))}</td>
                    <td>{formatRate(sumRates(loads.map((l) => l.publishOutRate)))}</td>
                    <td>{formatNumber(stats.data.durableObject.webSocketMessagesIn)}</td>
                    <td>{formatNumber(stats.data.durableObject.webSocketMessagesOut)}</td>
                    <td>{formatNumber(stats.data.durableObject.alarms)}</td>
                    <td />
                  </tr>
                </tfoot>
              ) : null}
            </table>
          </div>
          <p className="muted">
            Durable Object messages and alarms are what the platform bills for; see <code>docs/cost.md</code>. A shard that restarted counts again from zero.
          </p>
        </>
      ) : null}
    </section>
  );
}

/** The cluster's rate, once every shard has one. */
function sumRates(rates: Array<number | null>): number | null {
  return rates.some((r) => r === null) ? null : rates.reduce<number>((a, r) => a + (r ?? 0), 0);
}
