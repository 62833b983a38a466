import { useQuery } from '@tanstack/react-query';
import { useEffect, useMemo, useRef, useState } from 'react';
import { Link } from 'wouter';
import { api } from '../api/client';
import { useEvents } from '../api/events';
import { useReasons } from '../api/queries';
import { rates, toSample, type StatsSample, type StatsSnapshot } from '../api/stats';
import { queryKeys } from '../api/query-keys';
import type { UnauthorizedSummary } from '../api/types';
import { PageHeader } from '../components/PageHeader';
import { ErrorState, Loading } from '../components/States';
import { BarList, TimeChart } from '../components/TimeChart';
import { formatAgo, formatBytes, formatNumber, formatTime } from '../lib/format';

const SAMPLE_MS = 5_000;
/** The charts show the last hour: per-minute history first, then live samples. */
const WINDOW_MS = 60 * 60_000;

export function OverviewPage() {
  return (
    <section>
      <PageHeader title="Overview" description="Live broker activity over the last hour, summed over every shard; charts update every few seconds. Counters count since the broker started." />
      <BrokerStatus />
      <LiveCharts />
      <FailureRanking />
      <RecentEvents />
    </section>
  );
}

/** The broker's public endpoints: where devices connect and whether the Worker answers. */
function BrokerStatus() {
  const health = useQuery({
    queryKey: queryKeys.all('health'),
    queryFn: async ({ signal }) => {
      const response = await fetch('/health', { signal });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return (await response.json()) as { status: string };
    },
    refetchInterval: 15_000,
  });
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const endpoint = `${scheme}//${location.host}/mqtt`;
  return (
    <div className="cards status-cards">
      <div className="card">
        <h2 className="card-title">Broker status</h2>
        <p className="card-value" data-testid="broker-status">
          {health.isPending ? (
            'checking…'
          ) : health.data ? (
            <span className="ok">{health.data.status}</span>
          ) : (
            <span className="bad">unreachable ({health.error instanceof Error ? health.error.message : 'error'})</span>
          )}
        </p>
        <p className="muted">
          <code>GET /health</code>
        </p>
      </div>
      <div className="card card-wide">
        <h2 className="card-title">MQTT over WebSocket</h2>
        <p className="card-value">
          <code data-testid="mqtt-endpoint">{endpoint}</code>
        </p>
        <p className="muted">
          Subprotocol <code>mqtt</code>; MQTT 3.1.1 and 5.0.
        </p>
      </div>
    </div>
  );
}

function useStatsSamples() {
  const [samples, setSamples] = useState<StatsSample[]>([]);
  const seeded = useRef(false);

  const history = useQuery({
    queryKey: queryKeys.statsHistory(),
    queryFn: ({ signal }) => api.get<{ data: (StatsSample & { at: string })[] }>('/stats/history', { from: new Date(Date.now() - WINDOW_MS).toISOString() }, signal),
    staleTime: Infinity,
  });
  const current = useQuery({
    queryKey: queryKeys.statsNow(),
    queryFn: ({ signal }) => api.get<StatsSnapshot>('/stats', undefined, signal),
    refetchInterval: SAMPLE_MS,
    staleTime: 0,
  });

  useEffect(() => {
    if (seeded.current || !history.data) return;
    seeded.current = true;
    const points = history.data.data.map((p) => toSample(p));
    setSamples((list) => merge(points, list));
  }, [history.data]);

  useEffect(() => {
    if (!current.data) return;
    const sample = toSample(current.data, current.dataUpdatedAt);
    setSamples((list) => merge(list, [sample]));
  }, [current.data, current.dataUpdatedAt]);

  return { samples, current, history };
}

function merge(a: StatsSample[], b: StatsSample[]): StatsSample[] {
  const byTime = new Map<number, StatsSample>();
  for (const s of [...a, ...b]) byTime.set(s.at, s);
  const since = Date.now() - WINDOW_MS;
  return [...byTime.values()].filter((s) => s.at >= since).sort((x, y) => x.at - y.at);
}

function LiveCharts() {
  const { samples, current } = useStatsSamples();
  const snapshot = current.data ?? null;

  const charts = useMemo(() => {
    const times = samples.map((s) => s.at);
    return {
      times,
      connected: [{ label: 'Connected', color: '#1f4fd1', values: samples.map((s) => s.connections) }],
      messages: [
        { label: 'In', color: '#0f8a5f', values: rates(samples, 'publishIn') },
        { label: 'Out', color: '#c2410c', values: rates(samples, 'publishOut') },
      ],
      bytes: [
        { label: 'In', color: '#0f8a5f', values: rates(samples, 'bytesIn') },
        { label: 'Out', color: '#c2410c', values: rates(samples, 'bytesOut') },
      ],
      failures: [{ label: 'Refused', color: '#b42318', values: rates(samples, 'authFailures', 60_000) }],
    };
  }, [samples]);

  if (current.isPending && samples.length === 0) return <Loading label="Loading statistics…" />;
  if (current.error && samples.length === 0) return <ErrorState error={current.error} title="Statistics are unavailable" onRetry={() => void current.refetch()} />;

  return (
    <>
      {current.error ? <ErrorState error={current.error} title="Statistics stopped updating" onRetry={() => void current.refetch()} /> : null}
      <div className="cards" aria-label="Current counters">
        <Counter label="Connected clients" value={formatNumber(snapshot?.connections)} testId="stat-connected" />
        <Counter label="Sessions" value={formatNumber(snapshot?.sessions)} />
        <Counter label="Subscriptions" value={formatNumber(snapshot?.subscriptions)} />
        <Counter label="Retained messages" value={formatNumber(snapshot?.retained)} />
        <Counter label="Messages in / out" value={`${formatNumber(snapshot?.publishIn)} / ${formatNumber(snapshot?.publishOut)}`} testId="stat-messages" />
        <Counter label="Bytes in / out" value={`${formatBytes(snapshot?.bytesIn)} / ${formatBytes(snapshot?.bytesOut)}`} />
        <Counter label="Refused connections" value={formatNumber(snapshot?.authFailures)} />
        <Counter label="Dropped messages" value={formatNumber(snapshot?.dropped)} />
        <Counter label="Broker shards" value={formatNumber(snapshot?.shards.length)} testId="stat-shards" />
      </div>
      <div className="charts">
        <TimeChart title="Connected clients" times={charts.times} series={charts.connected} format={(v) => formatNumber(Math.round(v))} integer />
        <TimeChart title="Messages per second" times={charts.times} series={charts.messages} format={(v) => (v < 10 ? v.toFixed(1) : formatNumber(Math.round(v)))} />
        <TimeChart title="Bytes per second" times={charts.times} series={charts.bytes} format={(v) => formatBytes(v)} />
        <TimeChart title="Authentication failures per minute" times={charts.times} series={charts.failures} format={(v) => (v < 10 ? v.toFixed(1) : formatNumber(Math.round(v)))} />
      </div>
    </>
  );
}

function Counter({ label, value, testId }: { label: string; value: string; testId?: string }) {
  return (
    <div className="card">
      <h2 className="card-title">{label}</h2>
      <p className="card-value" data-testid={testId}>
        {value}
      </p>
    </div>
  );
}

/** How many IPs and reasons the ranking shows. */
const TOP = 8;

/**
 * Top failing IPs and reasons, counted by the API over the whole
 * Unauthorized Clients log (attempts per row), so it matches that page.
 */
function FailureRanking() {
  const reasons = useReasons();
  const { status } = useEvents();
  const top = useQuery({
    queryKey: queryKeys.unauthorizedSummary(TOP),
    queryFn: ({ signal }) => api.get<UnauthorizedSummary>('/unauthorized-clients/summary', { limit: TOP }, signal),
    refetchInterval: status === 'live' ? 15_000 : 5_000,
  });

  if (top.isPending) return <Loading label="Loading failures…" />;
  if (top.error && !top.data) return <ErrorState error={top.error} title="Failures are unavailable" onRetry={() => void top.refetch()} />;
  const summary = top.data;
  return (
    <div className="charts charts-two">
      <BarList title="Top failing IPs" items={summary.byIp.map((r) => ({ label: r.ip, value: r.attempts }))} empty="No refused connections." />
      <BarList
        title="Top refusal reasons"
        items={summary.byReason.map((r) => ({ label: reasons.data?.[r.reasonCode]?.title ?? r.reasonCode, value: r.attempts, hint: r.reasonCode }))}
        empty="No refused connections."
      />
      <p className="muted span-all">
        Counted over the {formatNumber(summary.clients)} clients in <Link href="/unauthorized-clients">Unauthorized clients</Link>.
      </p>
    </div>
  );
}

function RecentEvents() {
  const { recent, status } = useEvents();
  return (
    <section className="panel" aria-labelledby="recent-title">
      <h2 id="recent-title">Live events</h2>
      {status !== 'live' && <p className="muted">The live events connection is down; counters above keep updating by polling.</p>}
      {recent.length === 0 ? (
        <p className="muted">No connections or refusals since this page opened.</p>
      ) : (
        <ul className="event-list">
          {recent.slice(0, 15).map((e, i) => (
            <li key={`${e.at}-${e.clientId}-${i}`} className={`event event-${e.type}`}>
              <time dateTime={String(e.at)} title={formatTime(e.at)}>
                {formatAgo(e.at)}
              </time>{' '}
              <span className="event-type">{e.type}</span> <code>{e.clientId}</code>
              {e.username ? <> as {e.username}</> : null}
              {e.ip ? <> from {e.ip}</> : null}
              {e.reasonCode ? <> — {e.reasonCode}</> : null}
              {typeof e.shard === 'number' ? <span className="muted"> · shard {e.shard}</span> : null}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
