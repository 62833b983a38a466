import { describe, expect, it } from 'vitest';
import { STATS_COUNTER_KEYS, type StatsSample } from './contract/broker';
import { clusterHistory, clusterStats } from './cluster-stats';

function sample(at: string, counters: Partial<StatsSample>): StatsSample {
  return { ...(Object.fromEntries(STATS_COUNTER_KEYS.map((k) => [k, 0])) as Omit<StatsSample, 'at'>), ...counters, at };
}

const events = (n: number) => ({ webSocketMessagesIn: n, webSocketMessagesOut: 2 * n, upgrades: 1, alarms: n, clusterCallsIn: 3 * n, clusterEntriesOut: 5 * n });

describe('clusterStats', () => {
  it('sums every counter and Durable Object event, keeps each shard with its index, and starts with the earliest shard', () => {
    const a = { ...sample('2026-12-05T10:00:10.000Z', { connections: 2, publishIn: 5, retained: 1 }), startedAt: '2026-12-05T09:00:00.000Z', uptimeSeconds: 3610, durableObject: events(3) };
    const b = { ...sample('2026-12-05T10:00:11.000Z', { connections: 1, publishIn: 7, sessions: 4 }), startedAt: '2026-12-05T08:00:00.000Z', uptimeSeconds: 7211, durableObject: events(4) };
    const stats = clusterStats([a, b], Date.parse('2026-12-05T10:00:12.000Z'));
    expect(stats).toMatchObject({ connections: 3, publishIn: 12, retained: 1, sessions: 4, startedAt: b.startedAt, uptimeSeconds: 7211, at: '2026-12-05T10:00:12.000Z' });
    expect(stats.durableObject).toEqual({ webSocketMessagesIn: 7, webSocketMessagesOut: 14, upgrades: 2, alarms: 7, clusterCallsIn: 21, clusterEntriesOut: 35 });
    expect(stats.shards.map((s) => [s.shard, s.connections, s.durableObject.alarms])).toEqual([
      [0, 2, 3],
      [1, 1, 4],
    ]);
  });
});

describe('clusterHistory', () => {
  it('returns one shard as it is', () => {
    const rows = [sample('2026-12-05T10:00:30.123Z', { connections: 1 })];
    expect(clusterHistory([rows])).toBe(rows);
  });

  it('sums per minute, carrying a shard that skipped a minute so cumulative counters never dip', () => {
    const shard0 = [
      sample('2026-12-05T10:00:10.000Z', { connections: 1, publishIn: 10 }),
      sample('2026-12-05T10:01:10.000Z', { connections: 1, publishIn: 20 }),
      sample('2026-12-05T10:02:10.000Z', { connections: 1, publishIn: 30 }),
    ];
    // Sampled late: nothing in 10:01.
    const shard1 = [sample('2026-12-05T10:00:59.000Z', { connections: 2, publishIn: 100 }), sample('2026-12-05T10:02:00.500Z', { connections: 2, publishIn: 150 })];
    const out = clusterHistory([shard0, shard1]);
    expect(out.map((s) => [s.at, s.connections, s.publishIn])).toEqual([
      ['2026-12-05T10:00:00.000Z', 3, 110],
      ['2026-12-05T10:01:00.000Z', 3, 120],
      ['2026-12-05T10:02:00.000Z', 3, 180],
    ]);
  });

  it('counts no connections for a shard that fell quiet, but keeps its sessions and totals', () => {
    const shard0 = [sample('2026-12-05T10:00:05.000Z', { connections: 4, sessions: 4, publishIn: 9 })];
    const shard1 = [0, 1, 2, 3].map((m) => sample(`2026-12-05T10:0${m}:20.000Z`, { connections: 1, sessions: 1, publishIn: m }));
    const out = clusterHistory([shard0, shard1]);
    expect(out.map((s) => [s.at.slice(11, 16), s.connections, s.sessions, s.publishIn])).toEqual([
      ['10:00', 5, 5, 9],
      ['10:01', 5, 5, 10],
      ['10:02', 1, 5, 11],
      ['10:03', 1, 5, 12],
    ]);
  });
});
