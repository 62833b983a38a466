import type { AuthenticatedIdentity } from './provider';

/**
 * Remembers successful password verifications for a short time, so the
 * reconnect storm that follows every deploy does not run PBKDF2 once per
 * device. Keys are SHA-256 digests of what the client sent, never the
 * password itself; any configuration change empties the cache.
 */
export interface VerifiedCache {
  get(key: string, now: number): Promise<AuthenticatedIdentity | null> | AuthenticatedIdentity | null;
  set(key: string, clientId: string, identity: AuthenticatedIdentity, ttlMs: number, now: number): void;
  clear(): void;
}

/**
 * Digest of what the client sent, keyed with a server secret so a leaked
 * cache cannot be used to test guesses offline without that secret too.
 */
export async function verifiedCacheKey(secret: Uint8Array, parts: Array<string | Uint8Array | null>): Promise<string> {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  for (const p of parts) {
    const bytes = p === null ? new Uint8Array(0) : typeof p === 'string' ? enc.encode(p) : p;
    // Length-prefix each part so ("ab","c") and ("a","bc") differ.
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, p === null ? 0xffffffff : bytes.byteLength);
    chunks.push(len, bytes);
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.byteLength;
  }
  const key = await crypto.subtle.importKey('raw', secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, all));
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join('');
}

