import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBroker, type BrokerHandle } from './broker-process';

/**
 * Writes security configuration straight into the local D1, the way an
 * operator's tooling would, and bumps config_version so the broker notices.
 * Values are escaped as SQL string literals; they come from the tests only.
 */
const lit = (v: unknown): string => {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return `'${s.replaceAll("'", "''")}'`;
};

export const bumpVersion = `UPDATE config_version SET version = version + 1, updated_at = ${Date.now()} WHERE id = 1`;

export interface BasicCredential {
  id: string;
  username?: string | null;
  clientId?: string | null;
  passwordHash?: string | null;
  allowedClientIds?: string[] | null;
  rules?: { publish: string[]; subscribe: string[] } | null;
}

export function basicCredentialSql(c: BasicCredential): string {
  const now = Date.now();
  return `INSERT INTO credentials (id, type, name, client_id, username, password_hash, allowed_client_ids, rules, created_at, updated_at)
    VALUES (${lit(c.id)}, 'basic', ${lit(c.id)}, ${lit(c.clientId ?? null)}, ${lit(c.username ?? null)}, ${lit(c.passwordHash ?? null)},
      ${lit(c.allowedClientIds ?? null)}, ${lit(c.rules ?? null)}, ${now}, ${now})`;
}

export function providerSql(type: string, enabled: boolean, priority: number, config: Record<string, unknown> = {}): string {
  return `INSERT INTO auth_providers (type, enabled, priority, config, updated_at) VALUES (${lit(type)}, ${lit(enabled)}, ${priority}, ${lit(config)}, ${Date.now()})
    ON CONFLICT (type) DO UPDATE SET enabled = excluded.enabled, priority = excluded.priority, config = excluded.config, updated_at = excluded.updated_at`;
}

export function settingSql(key: string, value: unknown): string {
  return `INSERT INTO broker_settings (key, value, updated_at) VALUES (${lit(key)}, ${lit(JSON.stringify(value))}, ${Date.now()})
    ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`;
}

/**
 * Automatic bans off. Every refused client in the suites connects from
 * 127.0.0.1, so a ban would change the refusal under test; the suites about
 * bans turn them on for themselves.
 */
export const autoBanOffSql = settingSql('autoBan', { enabled: false, maxFailures: 10, windowSeconds: 60, banSeconds: 300 });

export function blockSql(b: { id: string; kind: string; value: string; source?: 'manual' | 'auto'; expiresAt?: number | null }): string {
  return `INSERT INTO blocked_clients (id, kind, value, description, source, expires_at, created_at)
    VALUES (${lit(b.id)}, ${lit(b.kind)}, ${lit(b.value)}, 'test', ${lit(b.source ?? 'manual')}, ${lit(b.expiresAt ?? null)}, ${Date.now()})`;
}

/** Runs the statements and bumps the configuration version in one call. */
export async function configure(broker: BrokerHandle, ...statements: string[]): Promise<void> {
  await broker.d1([...statements, bumpVersion].join(';\n'));
}

/**
 * A broker that refuses anonymous clients and asks only `providers`
 * (AUTH_PROVIDERS), with automatic bans off and `statements` applied.
 */
export async function startSecuredBroker(options: { providers: string; vars?: Record<string, string> }, ...statements: string[]): Promise<BrokerHandle> {
  const broker = await startBroker({ vars: { ALLOW_ANONYMOUS: 'false', AUTH_PROVIDERS: options.providers, ...options.vars } });
  await configure(broker, autoBanOffSql, ...statements);
  return broker;
}

export interface UnauthorizedRow {
  client_id: string;
  username: string | null;
  password_provided: number;
  tls_used: number;
  ip: string;
  reason_code: string;
  reason: string;
  attempts: number;
  first_seen: number;
  last_update: number;
}

/** The Unauthorized Clients row for a client id, once the broker's batched write has landed. */
export async function unauthorizedRow(broker: BrokerHandle, clientId: string, predicate: (r: UnauthorizedRow) => boolean = () => true, timeoutMs = 15_000): Promise<UnauthorizedRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = (await broker.d1(`SELECT * FROM unauthorized_clients WHERE client_id = ${lit(clientId)}`)) as unknown as UnauthorizedRow[];
    if (rows[0] && predicate(rows[0])) return rows[0];
    if (Date.now() > deadline) throw new Error(`no matching unauthorized_clients row for ${clientId}: ${JSON.stringify(rows)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** A hash made by the real mosquitto_passwd, as operators import them. */
export function mosquittoHash(password: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-pw-'));
  try {
    const file = path.join(dir, 'passwd');
    execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', file, 'user', password]);
    return readFileSync(file, 'utf8').trim().split(':')[1];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
