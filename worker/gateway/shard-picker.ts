/**
 * Which shard owns a client id: FNV-1a (32-bit) of the id's UTF-8 bytes,
 * modulo the number of shards. The hash is fixed by this file, not by the
 * runtime, so a client id lands on the same shard across deploys, isolates
 * and locations; changing it (or N) moves sessions, which is why N is a
 * deliberate configuration step.
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

export function shardIndexFor(clientId: string, shardCount: number): number {
  if (shardCount <= 1) return 0;
  return fnv1a32(utf8.encode(clientId)) % shardCount;
}

/** Durable Object name of shard `index`; shard 0 keeps the name the single shard always had. */
export function shardName(index: number): string {
  return `shard-${index}`;
}
