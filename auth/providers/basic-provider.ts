import type { HashBudget } from '../hash-budget';
import { DUMMY_VERIFICATION_COST, verificationCost, verifyAgainstDummy, verifyPassword } from '../passwords/password-hash';
import type { AuthProvider, ProviderAnswer, TopicRules } from '../provider';
import type { ProviderSettings } from '../settings';
import { verifiedCacheKey, type VerifiedCache } from '../verified-cache';

export interface BasicCredentialRecord {
  id: string;
  clientId: string | null;
  username: string | null;
  passwordHash: string | null;
  allowedClientIds: string[] | null;
  rules: TopicRules | null;
}

/** Where basic credentials come from (D1 in production). */
export interface BasicCredentialSource {
  findBasicCredentials(query: { matchBy: 'username' | 'clientId' | 'both'; clientId: string; username: string | null }): Promise<BasicCredentialRecord[]>;
}

const MAX_PASSWORD_BYTES = 1024;

/**
 * Username/password (and client id) credentials stored in D1 with
 * mosquitto-compatible PBKDF2 hashes. A client that sends nothing this
 * provider can match on is not its business ("skip"); one that does is
 * accepted or refused with a precise reason. Unknown users cost the same
 * hashing work as wrong passwords, so timing does not reveal which names exist.
 * A verified-cache hit costs no hashing; every hash after a miss is paid
 * from the shard's budget, and without enough left the client is told the
 * server is busy, its credentials unjudged.
 */
export function createBasicProvider(
  settings: ProviderSettings['basic'],
  source: BasicCredentialSource,
  cache: VerifiedCache,
  cacheSecret: Uint8Array,
  hashBudget: HashBudget,
  clock: { now(): number } = Date,
): AuthProvider {
  return {
    type: 'basic',
    async authenticate(attempt): Promise<ProviderAnswer> {
      if (attempt.authenticationMethod !== null) return { kind: 'skip' };
      const { matchBy } = settings;
      const hasUsername = attempt.username !== null && attempt.username !== '';
      if (matchBy !== 'clientId' && !hasUsername) {
        if (attempt.password === null) return { kind: 'skip' };
        return refuse('CANNOT_PARSE_BASIC_CREDENTIALS', 'a password was sent without a username');
      }
      if (matchBy === 'clientId' && !hasUsername && attempt.password === null) return { kind: 'skip' };

      let password: string | null = null;
      if (attempt.password !== null) {
        if (attempt.password.byteLength > MAX_PASSWORD_BYTES) return refuse('CANNOT_PARSE_BASIC_CREDENTIALS', `password longer than ${MAX_PASSWORD_BYTES} bytes`);
        try {
          password = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(attempt.password);
        } catch {
          return refuse('CANNOT_PARSE_BASIC_CREDENTIALS', 'password is not valid UTF-8');
        }
      }

      const now = clock.now();
      const cacheKey = password !== null ? await verifiedCacheKey(cacheSecret, ['basic', matchBy, attempt.clientId, attempt.username, password]) : null;
      if (cacheKey) {
        const cached = await cache.get(cacheKey, now);
        if (cached) return { kind: 'accept', identity: cached };
      }

      const candidates = await source.findBasicCredentials({ matchBy, clientId: attempt.clientId, username: attempt.username });
      const credential = pick(candidates, matchBy, attempt.clientId, attempt.username);
      const who = describe(matchBy, attempt.clientId, attempt.username);
      const cost = hashingCost(credential, password);
      if (cost > 0 && !hashBudget.tryTake(cost)) {
        return refuse('AUTHENTICATION_BUSY', `credentials for ${who} not checked: this shard's password hashing budget (${hashBudget.description}) is spent`);
      }
      if (!credential) {
        if (password !== null) await verifyAgainstDummy(password);
        return refuse('NO_CREDENTIALS_FOUND', `no basic credential for ${who}`);
      }
      if (credential.passwordHash !== null) {
        if (password === null) {
          await verifyAgainstDummy('');
          return refuse('NO_PASSWORD_PROVIDED', `credential for ${who} requires a password`);
        }
        if (!(await verifyPassword(password, credential.passwordHash))) {
          return refuse('PASSWORD_DOES_NOT_MATCH', `wrong password for ${who}`);
        }
      }
      // A credential that names a client id, or lists the ids it owns, cannot be used to take over another id (OASIS MQTT-293).
      const ownsId =
        (matchBy !== 'username' || credential.clientId === null || credential.clientId === attempt.clientId) &&
        (matchBy !== 'clientId' || credential.username === null || credential.username === attempt.username) &&
        (credential.allowedClientIds === null || credential.allowedClientIds.includes(attempt.clientId));
      if (!ownsId) {
        return refuse('CLIENT_ID_NOT_OWNED', `credential for ${who} may not use client id "${attempt.clientId}"`);
      }
      const identity = { provider: 'basic' as const, credentialId: credential.id, username: attempt.username, cn: null, rules: credential.rules };
      if (cacheKey) cache.set(cacheKey, attempt.clientId, identity, settings.verifiedCacheSeconds * 1000, now);
      return { kind: 'accept', identity };
    },
  };
}

/**
 * The hashing this attempt is about to do, in default-strength verifications:
 * a dummy verification for an unknown user or a missing password (so they
 * take as long as a wrong password), the stored hash's own cost otherwise,
 * and nothing for a credential without a password.
 */
function hashingCost(credential: BasicCredentialRecord | null, password: string | null): number {
  if (!credential) return password === null ? 0 : DUMMY_VERIFICATION_COST;
  if (credential.passwordHash === null) return 0;
  return password === null ? DUMMY_VERIFICATION_COST : verificationCost(credential.passwordHash);
}

type BasicRefusalCode =
  | 'NO_CREDENTIALS_FOUND'
  | 'PASSWORD_DOES_NOT_MATCH'
  | 'NO_PASSWORD_PROVIDED'
  | 'CANNOT_PARSE_BASIC_CREDENTIALS'
  | 'CLIENT_ID_NOT_OWNED'
  | 'AUTHENTICATION_BUSY';

function refuse(code: BasicRefusalCode, detail: string): ProviderAnswer {
  return { kind: 'refuse', refusal: { code, detail } };
}

function pick(candidates: BasicCredentialRecord[], matchBy: string, clientId: string, username: string | null): BasicCredentialRecord | null {
  const matches = candidates.filter((c) => {
    if (matchBy === 'username') return c.username === username;
    if (matchBy === 'clientId') return c.clientId === clientId;
    return c.clientId === clientId && c.username === username;
  });
  // The most specific credential wins: one naming exactly this client id and username first.
  const exact = (c: BasicCredentialRecord) => Number(c.clientId === clientId && c.username === username);
  matches.sort((a, b) => exact(b) - exact(a));
  return matches[0] ?? null;
}

function describe(matchBy: string, clientId: string, username: string | null): string {
  const u = JSON.stringify(username ?? '');
  const c = JSON.stringify(clientId);
  return matchBy === 'username' ? `username ${u}` : matchBy === 'clientId' ? `client id ${c}` : `client id ${c} and username ${u}`;
}
