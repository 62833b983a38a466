import { createAnonymousProvider } from '../auth/providers/anonymous-provider';
import { createBasicProvider, type BasicCredentialRecord } from '../auth/providers/basic-provider';
import type { HashBudget } from '../auth/hash-budget';
import type { AuthProvider } from '../auth/provider';
import { createJwtProvider } from '../auth/providers/jwt-provider';
import { createScramProvider, type ScramCredentialRecord } from '../auth/providers/scram-provider';
import type { ScramMechanism } from '../auth/scram/scram-crypto';
import { createX509Provider } from '../auth/providers/x509-provider';
import { RevocationList } from '../auth/x509/revocation';
import type { ProviderEntry, ProviderSettings } from '../auth/settings';
import type { SecuritySnapshotRows } from '../db/queries/broker-security';
import type { Db } from '../db/queries/db';
import type { SqliteVerifiedCache } from './sqlite-verified-cache';

export interface ProviderDeps {
  env: Record<string, unknown>;
  rows: SecuritySnapshotRows;
  cache: SqliteVerifiedCache;
  /** The shard's one budget for password hashing, shared by every snapshot's providers. */
  hashBudget: HashBudget;
  clock: { now(): number };
  db: Db;
  findBasicCredentials(q: { matchBy: 'username' | 'clientId' | 'both'; clientId: string; username: string | null }): Promise<
    Array<{ id: string; clientId: string | null; username: string | null; passwordHash: string | null; allowedClientIds: string[] | null; rules: BasicCredentialRecord['rules'] }>
  >;
  findScramCredential(username: string, mechanism: ScramMechanism): Promise<ScramCredentialRecord | null>;
}

/** Instantiates the enabled providers, in priority order, over D1-backed sources. */
export function buildProviders(entries: ProviderEntry[], deps: ProviderDeps): AuthProvider[] {
  const providers: AuthProvider[] = [];
  for (const entry of entries) {
    if (!entry.enabled) continue;
    switch (entry.type) {
      case 'anonymous':
        providers.push(createAnonymousProvider());
        break;
      case 'basic':
        providers.push(
          createBasicProvider(
            entry.settings as ProviderSettings['basic'],
            { findBasicCredentials: deps.findBasicCredentials },
            deps.cache,
            deps.cache.secret(),
            deps.hashBudget,
            deps.clock,
          ),
        );
        break;
      case 'x509': {
        // Built once per snapshot: certificate CONNECTs read memory, not D1.
        const credentials = deps.rows.x509.map((c) => ({
          id: c.id,
          cnPattern: c.cnPattern ?? '',
          cnIsRegex: c.cnIsRegex,
          allowedClientIds: c.allowedClientIds ?? null,
          cnRules: c.cnRules ?? [],
        }));
        const revocations = new RevocationList(
          deps.rows.revocations.map((r) => ({ serial: r.serial, issuerDN: r.issuerDn, fingerprintSHA256: r.fingerprintSha256, label: r.id })),
        );
        providers.push(
          createX509Provider(entry.settings as ProviderSettings['x509'], {
            listChainCredentials: async () => credentials,
            revocations: async () => revocations,
          }),
        );
        break;
      }
      case 'scram':
        // The cache secret also keys the salts shown for unknown usernames, so they stay stable per shard.
        providers.push(createScramProvider(entry.settings as ProviderSettings['scram'], { findScramCredential: deps.findScramCredential }, deps.cache.secret()));
        break;
      case 'jwt':
        providers.push(createJwtProvider(entry.settings as ProviderSettings['jwt'], {
            clock: deps.clock,
            envHmacSecret: typeof deps.env.JWT_HMAC_SECRET === 'string' ? deps.env.JWT_HMAC_SECRET : undefined,
          }));
        break;
    }
  }
  return providers;
}
