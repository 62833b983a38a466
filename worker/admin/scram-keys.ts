import { ApiError } from './errors';

export const SCRAM_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const;
export type ScramMechanism = (typeof SCRAM_MECHANISMS)[number];

export interface ScramKeys {
  scramSalt: string;
  scramIterations: number;
  scramStoredKey: string;
  scramServerKey: string;
}

/**
 * The stored form of a SCRAM password (salt, iterations, StoredKey,
 * ServerKey). Derivation belongs to auth/scram/scram-credentials.ts
 * (deriveScramCredential), so the broker and the API agree on encodings;
 * until that module is part of the build, creating SCRAM keys is refused.
 */
export async function deriveScramKeys(_password: string, _mechanism: ScramMechanism, _iterations?: number): Promise<ScramKeys> {
  throw new ApiError(501, 'scram_unavailable', 'SCRAM keys cannot be derived in this build yet; create the credential once SCRAM support is installed');
}
