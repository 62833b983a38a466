import { deriveScramCredential } from '../../auth/scram/scram-credentials';
import type { ScramMechanism } from '../../auth/scram/scram-crypto';

export interface ScramKeys {
  scramSalt: string;
  scramIterations: number;
  scramStoredKey: string;
  scramServerKey: string;
}

/** The stored form of a SCRAM password, in the column names of the credentials table. */
export async function deriveScramKeys(password: string, mechanism: ScramMechanism, iterations?: number): Promise<ScramKeys> {
  const c = await deriveScramCredential(password, mechanism, iterations);
  return { scramSalt: c.salt, scramIterations: c.iterations, scramStoredKey: c.storedKey, scramServerKey: c.serverKey };
}
