/**
 * The SCRAM primitives of RFC 5802 §3 over WebCrypto, so the same code runs
 * in workerd (broker, admin API) and in Node (CLI, tests).
 */
export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number];

export function isScramMechanism(value: string | null): value is ScramMechanism {
  return value !== null && (SCRAM_MECHANISMS as readonly string[]).includes(value);
}

const HASH: Record<ScramMechanism, { name: 'SHA-256' | 'SHA-512'; bytes: number }> = {
  'SCRAM-SHA-256': { name: 'SHA-256', bytes: 32 },
  'SCRAM-SHA-512': { name: 'SHA-512', bytes: 64 },
};

export function hashLength(mechanism: ScramMechanism): number {
  return HASH[mechanism].bytes;
}

const encoder = new TextEncoder();
const bytesOf = (data: Uint8Array | string): Uint8Array<ArrayBuffer> =>
  (typeof data === 'string' ? encoder.encode(data) : new Uint8Array(data)) as Uint8Array<ArrayBuffer>;

/** Hi(): PBKDF2 with the mechanism's hash, one block long. */
export async function saltedPassword(mechanism: ScramMechanism, password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  // RFC 7677 asks for SASLprep; NFKC is its normalisation step and covers the passwords people type.
  const key = await crypto.subtle.importKey('raw', bytesOf(password.normalize('NFKC')), 'PBKDF2', false, ['deriveBits']);
  const bits = await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: HASH[mechanism].name, salt: bytesOf(salt), iterations }, key, HASH[mechanism].bytes * 8);
  return new Uint8Array(bits);
}

export async function hmac(mechanism: ScramMechanism, key: Uint8Array, data: Uint8Array | string): Promise<Uint8Array> {
  const k = await crypto.subtle.importKey('raw', bytesOf(key), { name: 'HMAC', hash: HASH[mechanism].name }, false, ['sign']);
  return new Uint8Array(await crypto.subtle.sign('HMAC', k, bytesOf(data)));
}

export async function hash(mechanism: ScramMechanism, data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest(HASH[mechanism].name, bytesOf(data)));
}

export function xor(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** Compares without an early exit, so the time taken does not say how much of a proof was right. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ (b[i] ?? 0);
  return diff === 0;
}

export function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/** Strict base64 (RFC 4648 alphabet with padding); null for anything else. */
export function fromBase64(text: string): Uint8Array | null {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}
