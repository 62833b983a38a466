/**
 * Which shard owns a client id: FNV-1a (32-bit) of the id's UTF-8 bytes,
 * modulo the number of shards (protocol/cluster/shard-hash.ts, shared with
 * the shards, which use it for the home of a retained topic).
 */
export { fnv1a32, shardIndexFor } from '../../protocol/cluster/shard-hash';

/** Durable Object name of shard `index`; shard 0 keeps the name the single shard always had. */
export function shardName(index: number): string {
  return `shard-${index}`;
}
