import { and, eq, gt, isNull, or, sql } from 'drizzle-orm';
import type { Db } from './db';
import { aclRules, authProviders, blockedClientIpKey, blockedClients, brokerSettings, certificateRevocations, configVersion, credentials } from '../schema';

/**
 * What the broker reads from D1 to authenticate and authorize. The snapshot
 * is one round trip (a D1 batch) and is refreshed only when config_version
 * moves; per-CONNECT look-ups are single indexed queries.
 */

/** Bounds on how much configuration one snapshot may pull into a Durable Object's memory. */
export const SNAPSHOT_LIMITS = { blocks: 50_000, revocations: 100_000, x509Credentials: 10_000, aclRules: 100_000, ruleCredentials: 100_000 };

export async function readConfigVersion(db: Db): Promise<number> {
  const row = await db.select({ version: configVersion.version }).from(configVersion).where(eq(configVersion.id, 1)).get();
  return row?.version ?? 0;
}

export async function readSecuritySnapshot(db: Db, now: number) {
  const [version, providers, settings, blocks, revocations, x509, rules, ruleCredentials] = await db.batch([
    db.select({ version: configVersion.version }).from(configVersion).where(eq(configVersion.id, 1)),
    db.select().from(authProviders),
    db.select().from(brokerSettings),
    db
      .select()
      .from(blockedClients)
      .where(or(isNull(blockedClients.expiresAt), gt(blockedClients.expiresAt, new Date(now))))
      .limit(SNAPSHOT_LIMITS.blocks),
    db.select().from(certificateRevocations).limit(SNAPSHOT_LIMITS.revocations),
    db.select().from(credentials).where(eq(credentials.type, 'x509')).limit(SNAPSHOT_LIMITS.x509Credentials),
    db.select().from(aclRules).orderBy(aclRules.position).limit(SNAPSHOT_LIMITS.aclRules),
    // Rules of every credential, so editing a credential's rules changes open connections too.
    db
      .select()
      .from(credentials)
      .where(or(sql`${credentials.rules} IS NOT NULL`, sql`${credentials.cnRules} IS NOT NULL`))
      .limit(SNAPSHOT_LIMITS.ruleCredentials),
  ]);
  return { version: version[0]?.version ?? 0, providers, settings, blocks, revocations, x509, aclRules: rules, ruleCredentials };
}

export type SecuritySnapshotRows = Awaited<ReturnType<typeof readSecuritySnapshot>>;

export async function findBasicCredentials(db: Db, q: { matchBy: 'username' | 'clientId' | 'both'; clientId: string; username: string | null }) {
  const byUsername = q.username === null ? sql`0` : eq(credentials.username, q.username);
  const byClientId = eq(credentials.clientId, q.clientId);
  const where = q.matchBy === 'username' ? byUsername : q.matchBy === 'clientId' ? byClientId : and(byUsername, byClientId);
  return db
    .select()
    .from(credentials)
    .where(and(eq(credentials.type, 'basic'), where))
    .limit(20);
}

export async function findScramCredential(db: Db, username: string, mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512') {
  return db
    .select()
    .from(credentials)
    .where(and(eq(credentials.type, 'scram'), eq(credentials.username, username), eq(credentials.scramMechanism, mechanism)))
    .get();
}

/**
 * Persists an automatic temporary ban so operators see it and every shard
 * honours it. A client id ban names the IP it holds at (an IPv6 client's
 * /64, as a CIDR range); an IPv6 client's IP-wide ban is a `cidr` row of its
 * /64. The same ban made again, by another shard or after the last one ran
 * out, extends the row it made: the /64 is always written the same way.
 */
export async function insertAutoBan(db: Db, ban: { kind: 'ip' | 'cidr' | 'clientId'; value: string; ip?: string; until: number; now: number; description: string }) {
  await db.batch([
    db
      .insert(blockedClients)
      .values({
        id: crypto.randomUUID(),
        kind: ban.kind,
        value: ban.value.slice(0, 256),
        ip: ban.ip ?? null,
        description: ban.description.slice(0, 512),
        source: 'auto',
        expiresAt: new Date(ban.until),
        createdAt: new Date(ban.now),
      })
      .onConflictDoUpdate({
        target: [blockedClients.kind, blockedClients.value, blockedClientIpKey],
        // Never shorten or replace an operator's manual block with an automatic one.
        set: { expiresAt: sql`CASE WHEN ${blockedClients.source} = 'auto' THEN excluded.expires_at ELSE ${blockedClients.expiresAt} END` },
      }),
    db
      .update(configVersion)
      .set({ version: sql`${configVersion.version} + 1`, updatedAt: new Date(ban.now) })
      .where(eq(configVersion.id, 1)),
  ]);
}
