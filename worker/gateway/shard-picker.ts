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

/**
 * Shard ids per namespace, made once per isolate: `idFromName` hashes the
 * name, and every connection asks for one (about 9% of a direct connection's
 * CPU in the benchmark's profile), as do the shards' calls to each other.
 * An id is a value, safe to keep across requests; stubs are made per use.
 */
const shardIds = new WeakMap<object, DurableObjectId[]>();

export function shardIdOf(namespace: { idFromName(name: string): DurableObjectId }, index: number): DurableObjectId {
  let ids = shardIds.get(namespace);
  if (!ids) shardIds.set(namespace, (ids = []));
  return (ids[index] ??= namespace.idFromName(shardName(index)));
}
