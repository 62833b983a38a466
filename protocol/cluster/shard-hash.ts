/**
 * FNV-1a (32-bit) of a string's UTF-8 bytes, modulo the number of shards.
 * It decides which shard owns a client id (the edge gateway's choice) and
 * which shard is the home of a retained topic. The hash is fixed here, not by
 * the runtime, so the answer is the same across deploys, isolates and
 * locations; changing it (or N) moves sessions and retained messages, which
 * is why N is a deliberate configuration step.
 */
const FNV_OFFSET_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const utf8 = new TextEncoder();

export function fnv1a32(bytes: Uint8Array): number {
  let hash = FNV_OFFSET_BASIS;
  for (let i = 0; i < bytes.length; i++) {
    hash ^= bytes[i];
    hash = Math.imul(hash, FNV_PRIME);
  }
  return hash >>> 0;
}

/** The shard that owns `key` (a client id or a retained topic) among `shardCount`. */
export function shardIndexFor(key: string, shardCount: number): number {
  if (shardCount <= 1) return 0;
  return fnv1a32(utf8.encode(key)) % shardCount;
}
