/**
 * Password hashes in mosquitto 2's `$7$` format: PBKDF2-HMAC-SHA512,
 * `$7$<iterations>$<base64 salt>$<base64 hash>` with standard padded base64,
 * a 12-byte salt and a 64-byte hash, so files made by mosquitto_passwd work
 * as they are and ours work in mosquitto. mosquitto 1.x `$6$` hashes (one
 * SHA-512 of password + salt) are accepted for imports. WebCrypto only, so the
 * same code runs in workerd and Node.
 */

/**
 * Cloudflare's production runtime refuses PBKDF2 above 100,000 iterations
 * ("iteration counts above 100000 are not supported"; workerd issue #1346),
 * so that is the strongest count the broker can verify at the edge. Local
 * workerd has no such cap, which is why the bound is enforced here rather than
 * left to the runtime. mosquitto_passwd's own default is 101.
 */
export const DEFAULT_ITERATIONS = 100_000;

/**
 * Stored hashes above this count are refused outright: verifying them would
 * fail in production anyway, and an imported file must not be able to make
 * each CONNECT burn unbounded CPU.
 */
export const MAX_ITERATIONS = 100_000;

/** Longest password hashed or verified; MQTT allows 65,535 bytes, but hashing that much per CONNECT only helps an attacker. */
export const MAX_PASSWORD_BYTES = 1024;

/** mosquitto_passwd 2.0 writes 12-byte salts; mosquitto 2.1 writes 64-byte ones and reads both. */
const SALT_BYTES = 12;
const ACCEPTED_SALT_BYTES = new Set([12, 64]);
const HASH_BYTES = 64;
const MAX_ENCODED_LENGTH = 512;

const enc = new TextEncoder();

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function fromBase64(text: string): Uint8Array | null {
  if (text === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
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

/** A `$7$` hash of `password` with a fresh random salt. Throws RangeError for an iteration count or password outside the bounds above. */
export async function hashPassword(password: string, options: { iterations?: number } = {}): Promise<string> {
  const iterations = options.iterations ?? DEFAULT_ITERATIONS;
  if (!Number.isInteger(iterations) || iterations < 1 || iterations > MAX_ITERATIONS) throw new RangeError(`iterations must be 1..${MAX_ITERATIONS}`);
  const pw = enc.encode(password);
  if (pw.byteLength > MAX_PASSWORD_BYTES) throw new RangeError(`password must be at most ${MAX_PASSWORD_BYTES} bytes`);
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  const hash = await pbkdf2(pw, salt, iterations, HASH_BYTES);
  return `$7$${iterations}$${toBase64(salt)}$${toBase64(hash)}`;
}

export type ParsedHash = { kind: 7; iterations: number; salt: Uint8Array; hash: Uint8Array } | { kind: 6; salt: Uint8Array; hash: Uint8Array };

type Decoded = { ok: ParsedHash } | { problem: string };

function decode(encoded: unknown): Decoded {
  if (typeof encoded !== 'string') return { problem: 'not a string' };
  if (encoded.length > MAX_ENCODED_LENGTH) return { problem: `longer than ${MAX_ENCODED_LENGTH} characters` };
  if (encoded.startsWith('$argon2id$')) return { problem: 'argon2id hashes (mosquitto 2.1) are not supported; set the password again' };
  const parts = encoded.split('$');
  if (parts[0] !== '' || (parts[1] !== '6' && parts[1] !== '7')) return { problem: 'not a mosquitto password hash ($6$ or $7$)' };

  let iterations = 0;
  let saltText: string;
  let hashText: string;
  if (parts[1] === '7') {
    if (parts.length !== 5) return { problem: 'a $7$ hash has the form $7$<iterations>$<salt>$<hash>' };
    // mosquitto reads the count with atoi, so leading zeros are allowed.
    iterations = /^\d{1,9}$/.test(parts[2]) ? Number(parts[2]) : 0;
    if (iterations < 1) return { problem: 'the iteration count is not a positive whole number' };
    if (iterations > MAX_ITERATIONS) return { problem: `${iterations} iterations is above the supported maximum of ${MAX_ITERATIONS}` };
    [saltText, hashText] = [parts[3], parts[4]];
  } else {
    if (parts.length !== 4) return { problem: 'a $6$ hash has the form $6$<salt>$<hash>' };
    [saltText, hashText] = [parts[2], parts[3]];
  }

  const salt = fromBase64(saltText);
  if (!salt) return { problem: 'the salt is not base64' };
  if (!ACCEPTED_SALT_BYTES.has(salt.byteLength)) return { problem: `the salt is ${salt.byteLength} bytes; mosquitto uses 12 or 64` };
  const hash = fromBase64(hashText);
  if (!hash) return { problem: 'the hash is not base64' };
  if (hash.byteLength !== HASH_BYTES) return { problem: `the hash is ${hash.byteLength} bytes; SHA-512 gives ${HASH_BYTES}` };
  return { ok: parts[1] === '7' ? { kind: 7, iterations, salt, hash } : { kind: 6, salt, hash } };
}

/** The parts of a `$6$` or `$7$` hash that mosquitto would accept and the edge can verify; null otherwise. */
export function parsePasswordHash(encoded: string): ParsedHash | null {
  const d = decode(encoded);
  return 'ok' in d ? d.ok : null;
}

/** Why `encoded` cannot be used as a stored password hash, in words for an import report; null when it can. */
export function passwordHashProblem(encoded: string): string | null {
  const d = decode(encoded);
  return 'ok' in d ? null : d.problem;
}

export function isPasswordHash(encoded: string): boolean {
  return parsePasswordHash(encoded) !== null;
}

/** True when `password` matches `encoded`; false for wrong passwords and malformed hashes alike, never throws. */
export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  try {
    const parsed = parsePasswordHash(encoded);
    const pw = enc.encode(password);
    if (!parsed || pw.byteLength > MAX_PASSWORD_BYTES) return false;
    if (parsed.kind === 7) return constantTimeEqual(await pbkdf2(pw, parsed.salt, parsed.iterations, HASH_BYTES), parsed.hash);
    const input = new Uint8Array(pw.byteLength + parsed.salt.byteLength);
    input.set(pw);
    input.set(parsed.salt, pw.byteLength);
    return constantTimeEqual(new Uint8Array(await crypto.subtle.digest('SHA-512', input)), parsed.hash);
  } catch {
    return false;
  }
}

/**
 * What verifying against `encoded` costs, in verifications at the default
 * strength: PBKDF2's work grows with its iterations, so a `$7$` hash costs its
 * iterations over DEFAULT_ITERATIONS; a `$6$` hash is one SHA-512, about one
 * iteration; a malformed one is refused without hashing. The unit of the
 * shard's hash budget (auth/hash-budget.ts).
 */
export function verificationCost(encoded: string): number {
  const parsed = parsePasswordHash(encoded);
  if (!parsed) return 0;
  return parsed.kind === 7 ? parsed.iterations / DEFAULT_ITERATIONS : 1 / DEFAULT_ITERATIONS;
}

/**
 * A well-formed hash at the default strength that no password matches (its
 * stored hash is all zero bytes, which PBKDF2 output is not in practice).
 * Built once from constants so the first call costs no more than later ones.
 */
const DUMMY_HASH = `$7$${DEFAULT_ITERATIONS}$${toBase64(new Uint8Array(SALT_BYTES).fill(0x5a))}$${toBase64(new Uint8Array(HASH_BYTES))}`;

/** What verifyAgainstDummy costs: one verification at the default strength. */
export const DUMMY_VERIFICATION_COST = verificationCost(DUMMY_HASH);

/**
 * Does the work of verifying against a real hash at the default strength, so
 * an unknown username costs the same time as a wrong password. Never throws.
 */
export async function verifyAgainstDummy(password: string): Promise<void> {
  await verifyPassword(password, DUMMY_HASH);
}
