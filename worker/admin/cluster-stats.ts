import {
  DURABLE_OBJECT_EVENT_KEYS,
  STATS_COUNTER_KEYS,
  type DurableObjectEvents,
  type OnShard,
  type ShardStatsView,
  type StatsCounters,
  type StatsSample,
  type StatsView,
} from './contract/broker';

/**
 * The cluster's figures from its shards' figures: GET /stats and
 * GET /stats/history. Free of platform imports, so it is tested on its own.
 */

const MINUTE_MS = 60_000;
/**
 * A shard samples once a minute only while it has clients. One whose latest
 * sample is older than this had none since, so it adds 0 connections, while
 * its cumulative counters and its sessions, subscriptions and retained
 * messages still count (they did not go away when it fell quiet).
 */
const QUIET_AFTER_MS = 2 * MINUTE_MS;

function zeroCounters(): StatsCounters {
  return Object.fromEntries(STATS_COUNTER_KEYS.map((k) => [k, 0])) as StatsCounters;
}

function addCounters(into: StatsCounters, from: StatsCounters): void {
  for (const k of STATS_COUNTER_KEYS) into[k] += from[k];
}

/** Cluster totals now, with every shard's own figures (answer i is shard i's). */
export function clusterStats(perShard: OnShard<ShardStatsView>[], now: number): StatsView {
  const totals = zeroCounters();
  const durableObject = Object.fromEntries(DURABLE_OBJECT_EVENT_KEYS.map((k) => [k, 0])) as DurableObjectEvents;
  for (const s of perShard) {
    addCounters(totals, s);
    for (const k of DURABLE_OBJECT_EVENT_KEYS) durableObject[k] += s.durableObject[k];
  }
  const startedAt = perShard.map((s) => s.startedAt).sort()[0] ?? new Date(now).toISOString();
  return {
    at: new Date(now).toISOString(),
    startedAt,
    uptimeSeconds: Math.max(0, ...perShard.map((s) => s.uptimeSeconds)),
    ...totals,
    durableObject,
    shards: perShard.map((s, shard) => ({ ...s, shard })),
  };
}

/**
 * Per-minute cluster samples. Shards sample on their own clocks, so samples
 * are aligned by minute; a shard without a sample in some minute (it sampled
 * a little late, or had no clients) counts with its latest earlier sample,
 * so a cumulative counter never dips because one shard skipped a minute.
 */
export function clusterHistory(perShard: StatsSample[][]): StatsSample[] {
  if (perShard.length === 1) return perShard[0];
  const minuteOf = (s: StatsSample) => Math.floor(Date.parse(s.at) / MINUTE_MS);
  const rows = perShard.map((list) => [...list].sort((a, b) => Date.parse(a.at) - Date.parse(b.at)));
  const minutes = [...new Set(rows.flatMap((list) => list.map(minuteOf)))].sort((a, b) => a - b);
  const next = rows.map(() => 0);
  return minutes.map((minute) => {
    const sum = zeroCounters();
    rows.forEach((list, shard) => {
      while (next[shard] < list.length && minuteOf(list[next[shard]]) <= minute) next[shard]++;
      const latest = list[next[shard] - 1];
      if (!latest) return;
      addCounters(sum, latest);
      if ((minute - minuteOf(latest)) * MINUTE_MS >= QUIET_AFTER_MS) sum.connections -= latest.connections;
    });
    return { at: new Date(minute * MINUTE_MS).toISOString(), ...sum };
  });
}
