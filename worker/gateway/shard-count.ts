/** What `BROKER_SHARDS` may be today. */
export const SUPPORTED_SHARD_COUNT = 1;

export class ShardCountError extends Error {}

/**
 * Parses `BROKER_SHARDS`. It is validated loudly, like every other var: a typo
 * must not silently move every client id to a different shard. Only 1 is
 * accepted until publishes, wills, retained messages and sessions travel
 * between shards; with more shards a subscriber would miss whatever was
 * published on another one.
 */
export function parseShardCount(value: unknown): number {
  if (value === undefined || value === null || value === '') return SUPPORTED_SHARD_COUNT;
  const n = typeof value === 'number' ? value : Number(String(value).trim());
  if (!Number.isInteger(n) || n < 1) {
    throw new ShardCountError(`invalid broker configuration: BROKER_SHARDS must be a positive integer, got ${JSON.stringify(value)}`);
  }
  if (n > SUPPORTED_SHARD_COUNT) {
    throw new ShardCountError(
      `invalid broker configuration: BROKER_SHARDS=${n} is not supported yet; delivery between shards is needed first, so only 1 is accepted`,
    );
  }
  return n;
}
