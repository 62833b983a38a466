/** What `BROKER_SHARDS` is when it is not set. */
export const DEFAULT_SHARD_COUNT = 1;
/**
 * The most shards a cluster may have. Every shard holds the replicated route
 * table and a subscription on one shard is announced to all the others, so
 * the cost of a new filter grows with N; 64 shards is far above what one
 * account's fleet needs before a region split.
 */
export const MAX_SHARD_COUNT = 64;

export class ShardCountError extends Error {}

/**
 * Parses `BROKER_SHARDS`. It is validated loudly, like every other var: a typo
 * must not silently move every client id to a different shard.
 */
export function parseShardCount(value: unknown): number {
  if (value === undefined || value === null || value === '') return DEFAULT_SHARD_COUNT;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < 1 || n > MAX_SHARD_COUNT) {
    throw new ShardCountError(`invalid broker configuration: BROKER_SHARDS must be an integer from 1 to ${MAX_SHARD_COUNT}, got ${JSON.stringify(value)}`);
  }
  return n;
}
