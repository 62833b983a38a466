import { hash, hmac, saltedPassword, toBase64, type ScramMechanism } from './scram-crypto';

/**
 * What is stored for a SCRAM user (RFC 5802 §3): salt, iteration count,
 * StoredKey and ServerKey, base64-encoded. The password itself is never
 * stored, and neither is anything a client could replay.
 */
export interface ScramCredential {
  mechanism: ScramMechanism;
  salt: string;
  iterations: number;
  storedKey: string;
  serverKey: string;
}

/** RFC 7677 recommends at least 4096; the broker never repeats this work, only the client does. */
export const DEFAULT_SCRAM_ITERATIONS = 4096;
/** workerd in production refuses PBKDF2 above 100,000 iterations, so a credential made here must stay below it. */
export const MAX_SCRAM_ITERATIONS = 100_000;
export const MIN_SCRAM_ITERATIONS = 4096;

export async function deriveScramCredential(
  password: string,
  mechanism: ScramMechanism,
  iterations = DEFAULT_SCRAM_ITERATIONS,
  salt: Uint8Array = crypto.getRandomValues(new Uint8Array(16)),
): Promise<ScramCredential> {
  if (!Number.isInteger(iterations) || iterations < MIN_SCRAM_ITERATIONS || iterations > MAX_SCRAM_ITERATIONS) {
    throw new RangeError(`SCRAM iterations must be an integer from ${MIN_SCRAM_ITERATIONS} to ${MAX_SCRAM_ITERATIONS}`);
  }
  const salted = await saltedPassword(mechanism, password, salt, iterations);
  const clientKey = await hmac(mechanism, salted, 'Client Key');
  const serverKey = await hmac(mechanism, salted, 'Server Key');
  return {
    mechanism,
    salt: toBase64(salt),
    iterations,
    storedKey: toBase64(await hash(mechanism, clientKey)),
    serverKey: toBase64(serverKey),
  };
}
