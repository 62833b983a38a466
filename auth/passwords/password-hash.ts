/**
 * Password hashes in mosquitto 2's `$7$` format: PBKDF2-SHA512,
 * `$7$<iterations>$<base64 salt>$<base64 hash>`, so files made by
 * mosquitto_passwd work as they are and ours work in mosquitto. mosquitto 1.x
 * `$6$` hashes (one SHA-512 of password + salt) are accepted for imports.
 * WebCrypto only, so the same code runs in workerd and Node.
 */

/**
 * workerd's WebCrypto refuses PBKDF2 above 100,000 iterations, so that is the
 * strongest count the broker can verify; mosquitto_passwd's default is 101.
 */
export const DEFAULT_ITERATIONS = 100_000;
export const MAX_ITERATIONS = 100_000;
const SALT_BYTES = 12;
const HASH_BYTES = 64;
const MAX_PASSWORD_BYTES = 1024;

const enc = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return null;
  }
}

async function pbkdf2(password: Uint8Array, salt: Uint8Array, iterations: number, bytes: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey('raw', password, 'PBKDF2', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-512', salt, iterations }, key, bytes * 8));
}

/** Compares in time that depends only on the length, not on where the bytes differ. */
function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export async function hashPassword(password: string, options: { iterations?: number } = {}): Promise<string> {
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) throw new RangeError(`iterations must be 1..${MAX_ITERATIONS}`);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await pbkdf2(enc.encode(password), salt, iterations, HASH_BYTES);
  return `$7$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

export type ParsedHash = { kind: 7; iterations: number; salt: Uint8Array; hash: Uint8Array } | { kind: 6; salt: Uint8Array; hash: Uint8Array };

export function parsePasswordHash(encoded: string): ParsedHash | null {
  if (typeof encoded !== 'string' || encoded.length > 512) return null;
  const parts = encoded.split('$');
  if (parts[0] !== '') return null;
  if (parts[1] === '7' && parts.length === 5) {
    if (!/^\d{1,7}$/.test(parts[2])) return null;
    const iterations = Number(parts[2]);
    const salt = fromBase64(parts[3]);
    const hash = fromBase64(parts[4]);
    // Imported hashes are bounded so a crafted file cannot make each CONNECT burn CPU.
    if (!salt || !hash || iterations < 1 || iterations > MAX_ITERATIONS || salt.byteLength === 0 || hash.byteLength === 0) return null;
    return { kind: 7, iterations, salt, hash };
  }
  if (parts[1] === '6' && parts.length === 4) {
    const salt = fromBase64(parts[2]);
    const hash = fromBase64(parts[3]);
    if (!salt || !hash || hash.byteLength !== 64) return null;
    return { kind: 6, salt, hash };
  }
  return null;
}

export function isPasswordHash(encoded: string): boolean {
  return parsePasswordHash(encoded) !== null;
}

/** True when `password` matches `encoded`; false for wrong passwords and malformed hashes alike, never throws. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const parsed = parsePasswordHash(encoded);
  const pw = enc.encode(password);
  if (!parsed || pw.byteLength > MAX_PASSWORD_BYTES) return false;
  try {
    if (parsed.kind === 7) return constantTimeEqual(await pbkdf2(pw, parsed.salt, parsed.iterations, parsed.hash.byteLength), parsed.hash);
    const input = new Uint8Array(pw.byteLength + parsed.salt.byteLength);
    input.set(pw);
    input.set(parsed.salt, pw.byteLength);
    return constantTimeEqual(new Uint8Array(await crypto.subtle.digest('SHA-512', input)), parsed.hash);
  } catch {
    return false;
  }
}

let dummy: Promise<string> | null = null;

/**
 * Does the work of verifying against a real hash at the default strength, so
 * an unknown username costs the same time as a wrong password.
 */
export async function verifyAgainstDummy(password: string): Promise<void> {
  dummy ??= hashPassword('edgemq-dummy-password');
  await verifyPassword(password, await dummy);
}
