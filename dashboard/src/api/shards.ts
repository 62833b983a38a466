import type { StatsSnapshot } from './types';

/** One shard's line on the Shards page: its figures now and its message rates since the previous poll. */
export interface ShardLoad {
  shard: number;
  connections: number;
  sessions: number;
  subscriptions: number;
  retained: number;
  /** PUBLISH packets per second, received and sent; null until two polls of the same run are in. */
  publishInRate: number | null;
  publishOutRate: number | null;
  webSocketMessagesIn: number;
  webSocketMessagesOut: number;
  alarms: number;
  startedAt: string;
}

/**
 * Each shard's load from two consecutive GET /stats answers. A shard whose
 * counters went down restarted between them: its rate is unknown, not negative.
 */
export function shardLoads(current: StatsSnapshot, previous: StatsSnapshot | null): ShardLoad[] {
  return current.shards.map((s) => {
    const before = previous?.shards.find((p) => p.shard === s.shard && p.startedAt === s.startedAt);
    const seconds = before ? (Date.parse(s.at) - Date.parse(before.at)) / 1000 : 0;
    const rate = (now: number, then: number | undefined) => (before && seconds > 0 && then !== undefined && now >= then ? (now - then) / seconds : null);
    return {
      shard: s.shard,
      connections: s.connections,
      sessions: s.sessions,
      subscriptions: s.subscriptions,
      retained: s.retained,
      publishInRate: rate(s.publishIn, before?.publishIn),
      publishOutRate: rate(s.publishOut, before?.publishOut),
      webSocketMessagesIn: s.durableObject.webSocketMessagesIn,
      webSocketMessagesOut: s.durableObject.webSocketMessagesOut,
      alarms: s.durableObject.alarms,
      startedAt: s.startedAt,
    };
  });
}
