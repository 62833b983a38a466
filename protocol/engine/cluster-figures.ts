/**
 * What $SYS says about one shard, as numbers. The same names are published
 * under `$SYS/brokers/<shard>/...` for each shard and, summed, under
 * `$SYS/broker/...` for the cluster.
 */
export interface ShardFigures {
  uptimeSeconds: number;
  connected: number;
  sessions: number;
  messagesReceived: number;
  messagesSent: number;
  publishReceived: number;
  publishSent: number;
  publishDropped: number;
  acksWithheld: number;
  bytesReceived: number;
  bytesSent: number;
  subscriptions: number;
  retained: number;
}

/**
 * The other shards' figures, as the platform last fetched them. The engine
 * reads them synchronously while it publishes $SYS; the platform fills them
 * asynchronously (it asks the other shards), so they may be one $SYS
 * interval old. A single broker has no port and is shard 0 of 1.
 */
export interface ClusterFigures {
  /** This shard's index and the number of shards. */
  place(): { index: number; count: number };
  /** Figures by shard index (this shard's own entry is ignored: it is read live), or null when none arrived yet. */
  latest(): ReadonlyArray<ShardFigures | null> | null;
}

/** Figures of a shard that has seen nothing yet. */
export function noFigures(): ShardFigures {
  return {
    uptimeSeconds: 0,
    connected: 0,
    sessions: 0,
    messagesReceived: 0,
    messagesSent: 0,
    publishReceived: 0,
    publishSent: 0,
    publishDropped: 0,
    acksWithheld: 0,
    bytesReceived: 0,
    bytesSent: 0,
    subscriptions: 0,
    retained: 0,
  };
}

/** Sums figures over shards; the cluster's uptime is its longest-running shard's. */
export function sumFigures(all: ShardFigures[]): ShardFigures {
  const total = noFigures();
  for (const f of all) {
    for (const key of Object.keys(total) as (keyof ShardFigures)[]) {
      total[key] = key === 'uptimeSeconds' ? Math.max(total[key], f[key]) : total[key] + f[key];
    }
  }
  return total;
}
