import { Blocklist, type BlockEntry } from '../auth/blocklist';
import { describeRefusals, runAuthChain, type ChainOutcome } from '../auth/chain';
import { FailureTracker, type SharedIpCounter } from '../auth/failure-tracker';
import { createHashBudget, type HashBudget, type HashBudgetLimits } from '../auth/hash-budget';
import type { AuthenticatedIdentity, AuthProvider, ProviderType } from '../auth/provider';
import { PROVIDER_TYPES } from '../auth/provider';
import { REFUSAL_REASONS, type RefusalCode } from '../auth/reasons';
import { loggedClientId, RefusalRecorder, type RefusalBatch } from '../auth/refusal-recorder';
import { LoggedRefusals } from './logged-refusals';
import {
  basicSettingsSchema,
  brokerSettingsSchema,
  defaultBrokerSettings,
  defaultProviderEntries,
  parseProviderSettings,
  type BrokerSettings,
  type ProviderEntry,
} from '../auth/settings';
import { findBasicCredentials, findScramCredential, insertAutoBan, readConfigVersion, readSecuritySnapshot, type SecuritySnapshotRows } from '../db/queries/broker-security';
import { openDb, type Db } from '../db/queries/db';
import { clearClients, enforceUnauthorizedRowLimit, recordRefusals } from '../db/queries/unauthorized-clients';
import { defaultBrokerConfig } from '../protocol/config';
import type { AuthDecision, AuthRequest, Authenticator, BrokerEvents } from '../protocol/ports';
import { buildProviders } from './auth-providers';
import { parseShardCount } from '../worker/gateway/shard-count';
import { SqliteVerifiedCache } from './sqlite-verified-cache';

/** How often a shard with clients asks D1 whether configuration changed, when nobody told it (CONFIG_RECHECK_SECONDS). */
export const CONFIG_RECHECK_MS = 5_000;

function recheckMs(env: Record<string, unknown>): number {
  const n = Number(env.CONFIG_RECHECK_SECONDS ?? CONFIG_RECHECK_MS / 1000);
  return Number.isFinite(n) && n >= 0 && n <= 3600 ? n * 1000 : CONFIG_RECHECK_MS;
}
const TRIM_EVERY_ROWS = 500;
/** The basic provider's default verifiedCacheSeconds, from its schema, for a shard without its configuration yet. */
const DEFAULT_VERIFIED_TTL_MS = basicSettingsSchema.parse({}).verifiedCacheSeconds * 1000;

function maxUnauthorizedRows(env: Record<string, unknown>): number {
  const n = Number(env.UNAUTHORIZED_CLIENTS_MAX_ROWS ?? 100_000);
  return Number.isInteger(n) && n > 0 ? n : 100_000;
}

export interface LoadedSecurity {
  version: number;
  settings: BrokerSettings;
  providers: AuthProvider[];
  blocklist: Blocklist;
  rows: SecuritySnapshotRows;
  /** How long a verified password stays cached after its client leaves (the basic provider's verifiedCacheSeconds). */
  verifiedTtlMs: number;
}

/**
 * The broker shard's security: authentication through the provider chain,
 * the Unauthorized Clients log, temporary bans, and the configuration
 * snapshot they read, kept fresh from D1. Everything here is plumbing between
 * the platform-free chain (auth/) and D1 / Durable Object storage.
 */
export class ShardSecurity {
  readonly db: Db;
  private loaded: LoadedSecurity | null = null;
  private loading: Promise<LoadedSecurity> | null = null;
  /** A forced load waiting for the one in flight to finish (ensureFresh). */
  private reloadAfterLoading: Promise<LoadedSecurity> | null = null;
  private checkedAt = 0;
  private rowsSinceTrim = TRIM_EVERY_ROWS;
  private readonly recheckMs: number;
  private readonly failures: FailureTracker;
  private readonly recorder: RefusalRecorder;
  private readonly logged: LoggedRefusals;
  readonly cache: SqliteVerifiedCache;
  /**
   * How much password hashing this shard may do (AUTH_MAX_HASHES_PER_SECOND,
   * AUTH_HASH_BURST). One for the shard, kept across configuration reloads;
   * the providers read it through this field, so a test can put a spent one in.
   */
  hashBudget: HashBudget;
  /** Called with each new snapshot (the ACL authorizer listens). */
  onSnapshot: ((loaded: LoadedSecurity) => void) | null = null;
  /**
   * Called when a CONNECT authenticates, with the identity the ACLs will use;
   * what it returns is told the CONNECT's fate (AuthDecision.settle) and
   * names the binding (AuthDecision.binding).
   */
  onAccepted: ((clientId: string, identity: AuthenticatedIdentity) => { settle(accepted: boolean): void; binding: unknown } | void) | null = null;
  /**
   * Called with each automatic ban this shard makes, before the refusal is
   * answered: the other shards are told at once, so the next attempt is
   * refused as banned wherever it lands, as on a single shard.
   */
  onBan: ((entry: BlockEntry) => Promise<void>) | null = null;

  constructor(
    private readonly env: Record<string, unknown> & { DB: D1Database },
    sql: SqlStorage,
    private readonly clock: { now(): number },
    /** The per-IP counts every shard shares; null for a single shard, whose own count is exact. */
    sharedIpCounter: SharedIpCounter | null = null,
    /** AUTH_MAX_HASHES_PER_SECOND and AUTH_HASH_BURST, parsed with the broker configuration. */
    hashLimits: HashBudgetLimits = defaultBrokerConfig.passwordHashBudget,
  ) {
    this.failures = new FailureTracker(10_000, sharedIpCounter);
    this.hashBudget = createHashBudget(hashLimits, clock);
    this.db = openDb(env.DB);
    this.recheckMs = recheckMs(env);
    this.cache = new SqliteVerifiedCache(sql, typeof env.AUTH_CACHE_SECRET === 'string' ? env.AUTH_CACHE_SECRET : null);
    this.recorder = new RefusalRecorder((batch) => this.writeRefusals(batch));
    this.logged = new LoggedRefusals(sql, maxUnauthorizedRows(env));
  }

  readonly authenticator: Authenticator = {
    authenticate: (request) => this.authenticate(request),
  };

  /** Broker events this class needs: remembering who was connected keeps the verification cache warm for reconnects. */
  readonly events: BrokerEvents = {
    clientDisconnected: ({ clientId }) => this.cache.touchClient(clientId, this.clock.now(), this.verifiedTtlMs()),
  };

  /** The admin API changed something: reload now rather than at the next recheck. */
  async configChanged(): Promise<void> {
    this.checkedAt = 0;
    await this.ensureFresh(true);
  }

  /**
   * Refresh if stale; returns the snapshot. Concurrent callers share one load.
   * A forced load (a change the caller has just written) never shares one
   * already in flight: that one may have read D1 before the change, and the
   * admin API answers only once every shard has the change in force (a
   * deleted credential must not authenticate after its DELETE was answered).
   * It runs after it instead; forced loads waiting meanwhile share that one.
   */
  async ensureFresh(force = false): Promise<LoadedSecurity> {
    const now = this.clock.now();
    if (!force && this.loaded && now - this.checkedAt < this.recheckMs) return this.loaded;
    if (this.loading && force) {
      this.reloadAfterLoading ??= this.loading
        .catch(() => undefined)
        .then(() => {
          this.reloadAfterLoading = null;
          return this.ensureFresh(true);
        });
      return this.reloadAfterLoading;
    }
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        if (!force && this.loaded) {
          const version = await readConfigVersion(this.db);
          this.checkedAt = this.clock.now();
          if (version === this.loaded.version) return this.loaded;
        }
        const rows = await readSecuritySnapshot(this.db, this.clock.now());
        this.checkedAt = this.clock.now();
        const changed = this.loaded !== null && this.loaded.version !== rows.version;
        this.loaded = this.build(rows);
        // Credentials may have changed: what was verified before must be verified again.
        if (changed) this.cache.clear();
        this.onSnapshot?.(this.loaded);
        return this.loaded;
      } finally {
        this.loading = null;
      }
    })();
    return this.loading;
  }

  /** A ban another shard made: in force here now, before D1 says it at the next reload. */
  applyBan(entry: BlockEntry): void {
    this.loaded?.blocklist.add(entry);
  }

  /** When the shard should next ask D1 for changes (only while clients are connected). */
  nextRecheckAt(hasConnections: boolean): number | null {
    if (!hasConnections || !this.loaded) return null;
    return this.checkedAt + Math.max(this.recheckMs, 1000);
  }

  private build(rows: SecuritySnapshotRows): LoadedSecurity {
    const settings = parseBrokerSettings(rows.settings);
    const entries = providerEntries(this.env, rows.providers);
    const blocklist = new Blocklist(
      rows.blocks.map(
        (b): BlockEntry => ({ id: b.id, kind: b.kind, value: b.value, ip: b.ip, source: b.source, expiresAt: b.expiresAt ? b.expiresAt.getTime() : null }),
      ),
    );
    const shard = this;
    const providers = buildProviders(entries, {
      env: this.env,
      rows,
      cache: this.cache,
      hashBudget: {
        tryTake: (cost) => shard.hashBudget.tryTake(cost),
        get description() {
          return shard.hashBudget.description;
        },
      },
      clock: this.clock,
      findBasicCredentials: (q) => findBasicCredentials(this.db, q),
      findScramCredential: async (username, mechanism) => {
        const c = await findScramCredential(this.db, username, mechanism);
        if (!c || c.scramSalt === null || c.scramIterations === null || c.scramStoredKey === null || c.scramServerKey === null) return null;
        return { id: c.id, salt: c.scramSalt, iterations: c.scramIterations, storedKey: c.scramStoredKey, serverKey: c.scramServerKey, allowedClientIds: c.allowedClientIds ?? null, rules: c.rules ?? null };
      },
      db: this.db,
    });
    const basic = entries.find((p) => p.type === 'basic');
    const verifiedCacheSeconds = (basic?.settings as { verifiedCacheSeconds?: number } | undefined)?.verifiedCacheSeconds;
    const verifiedTtlMs = verifiedCacheSeconds === undefined ? DEFAULT_VERIFIED_TTL_MS : verifiedCacheSeconds * 1000;
    return { version: rows.version, settings, providers, blocklist, rows, verifiedTtlMs };
  }

  /** Whether the configuration (ACL rules among it) has been read from D1 since this object started. */
  get hasRules(): boolean {
    return this.loaded !== null;
  }

  /** From the shard's alarm: the verification cache forgets clients that are gone. */
  deleteExpiredVerifications(): void {
    this.cache.deleteExpired(this.clock.now());
  }

  /** Read from the snapshot, not parsed again: every disconnect asks (a reconnect storm's worth of them). */
  private verifiedTtlMs(): number {
    return this.loaded?.verifiedTtlMs ?? DEFAULT_VERIFIED_TTL_MS;
  }

  private async authenticate(request: AuthRequest): Promise<AuthDecision> {
    let loaded: LoadedSecurity;
    try {
      loaded = await this.ensureFresh();
    } catch (err) {
      console.error('security configuration could not be read', err);
      // Deny when unsure: without configuration nobody is let in. The refusal is still logged: a shard
      // that never loaded its configuration (its first client during a D1 outage) has the same duty.
      const reason = REFUSAL_REASONS.AUTHENTICATION_UNAVAILABLE;
      this.recordRefusal(request, 'AUTHENTICATION_UNAVAILABLE', 'configuration unavailable', this.clock.now());
      return { ok: false, reasonCode: reason.mqtt5, returnCode: reason.mqtt3, reason: { code: 'AUTHENTICATION_UNAVAILABLE', text: 'configuration unavailable' } };
    }
    const now = this.clock.now();
    const outcome = await runAuthChain(request, {
      providers: loaded.providers,
      settings: loaded.settings,
      blocklist: loaded.blocklist,
      failures: this.failures,
      now,
    });
    return this.toDecision(request, outcome, loaded);
  }

  private async toDecision(request: AuthRequest, outcome: ChainOutcome, loaded: LoadedSecurity): Promise<AuthDecision> {
    if (outcome.kind === 'continue') {
      return {
        ok: 'continue',
        authenticationData: outcome.authenticationData,
        next: async (data) => this.toDecision(request, await outcome.next(data), loaded),
      };
    }
    if (outcome.kind === 'accept') {
      // Only an id this shard logged (or is about to) has a row to remove; every other CONNECT leaves D1 alone.
      if (this.recorder.isPending(request.clientId) || this.logged.take(loggedClientId(request.clientId))) this.recorder.succeeded(request.clientId);
      const bound = this.onAccepted?.(request.clientId, outcome.identity) ?? undefined;
      const settle = (accepted: boolean): void => {
        bound?.settle(accepted);
        // Verifying marked its cache entry connected, and no disconnect will come for a CONNECT refused (its will) or abandoned now.
        if (!accepted) this.cache.touchClient(request.clientId, this.clock.now(), this.verifiedTtlMs());
      };
      return { ok: true, username: outcome.identity.username, authenticationData: outcome.authenticationData, settle, binding: bound?.binding };
    }
    const reason = REFUSAL_REASONS[outcome.primary.code];
    const text = describeRefusals(outcome);
    const now = this.clock.now();
    this.recordRefusal(request, outcome.primary.code, text, now);
    const told: Array<Promise<void>> = [];
    for (const ban of outcome.bans) {
      const at = ban.ip === undefined ? '' : `@${ban.ip}`;
      const entry: BlockEntry = { id: `auto:${ban.kind}:${ban.value}${at}`, kind: ban.kind, value: ban.value, ip: ban.ip ?? null, source: 'auto', expiresAt: ban.until };
      loaded.blocklist.add(entry);
      insertAutoBan(this.db, { ...ban, now }).catch((err) => console.error('automatic ban could not be stored', err));
      if (this.onBan) told.push(this.onBan(entry));
    }
    // Bans are rare; the refusal that made one waits until every shard enforces it.
    for (const r of await Promise.allSettled(told)) if (r.status === 'rejected') console.error('automatic ban could not be spread', r.reason);
    return {
      ok: false,
      reasonCode: reason.mqtt5,
      returnCode: reason.mqtt3,
      silent: loaded.settings.silentRefusal,
      reason: { code: outcome.primary.code, text },
    };
  }

  /** One row for the Unauthorized Clients log (coalesced per client id, written in batches). */
  private recordRefusal(request: AuthRequest, reasonCode: RefusalCode, reason: string, at: number): void {
    this.recorder.record({
      clientId: request.clientId,
      username: request.username,
      passwordProvided: request.password !== null,
      tlsUsed: request.trusted.tls,
      ip: request.trusted.ip,
      reasonCode,
      reason,
      at,
    });
  }

  private async writeRefusals(batch: RefusalBatch): Promise<void> {
    const max = maxUnauthorizedRows(this.env);
    const shards = parseShardCount(this.env.BROKER_SHARDS);
    // Counting the table is not free, so the bound is enforced every so many new rows rather than every flush.
    // Every shard writes to the one table: each trim leaves room for `interval` rows from every shard, and a
    // shard writes at most that many before its next trim, so the table never holds more than the bound, not
    // even between trims and whichever shards write at once. With one shard this is the single shard's rule.
    const interval = Math.max(1, Math.min(TRIM_EVERY_ROWS, Math.ceil(max / (4 * shards))));
    // A batch larger than the whole bound keeps its newest entries.
    const refusals = batch.refusals.length > max ? batch.refusals.slice(-max) : batch.refusals;
    // Remembered before the first await, so a CONNECT that succeeds while the batch is on its way finds it.
    // One local write per batch: under a refused flood, batches grow while D1 is busy.
    this.logged.noteAll(refusals.map((r) => r.clientId), this.clock.now());
    for (let i = 0; i < refusals.length; i += interval) {
      const chunk = refusals.slice(i, i + interval);
      if (this.rowsSinceTrim + chunk.length > interval) {
        this.rowsSinceTrim = 0;
        await enforceUnauthorizedRowLimit(this.db, Math.max(0, max - shards * interval));
      }
      await recordRefusals(this.db, chunk);
      // Upserts of ids already logged count too: the bound errs on the safe side.
      this.rowsSinceTrim += chunk.length;
    }
    if (batch.cleared.length > 0) await clearClients(this.db, batch.cleared);
  }
}

function parseBrokerSettings(rows: SecuritySnapshotRows['settings']): BrokerSettings {
  const raw: Record<string, unknown> = {};
  for (const row of rows) raw[row.key] = row.value;
  const parsed = brokerSettingsSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  // A bad stored value must not open the broker: keep the valid keys, default the rest.
  console.error('invalid broker settings in D1, using defaults for the invalid keys', parsed.error.issues);
  const settings: Record<string, unknown> = { ...defaultBrokerSettings };
  for (const [key, value] of Object.entries(raw)) {
    const one = brokerSettingsSchema.safeParse({ ...defaultBrokerSettings, [key]: value });
    if (one.success) settings[key] = (one.data as Record<string, unknown>)[key];
  }
  return settings as BrokerSettings;
}

/** Provider order and settings: D1 rows override the vars' defaults, provider by provider. */
export function providerEntries(env: Record<string, unknown>, rows: SecuritySnapshotRows['providers']): ProviderEntry[] {
  const defaults = defaultProviderEntries(env);
  const byType = new Map(rows.map((r) => [r.type, r]));
  const entries = defaults.map((d): ProviderEntry => {
    const row = byType.get(d.type);
    if (!row) return d;
    try {
      return { type: d.type, enabled: row.enabled, priority: row.priority, settings: parseProviderSettings(d.type, row.config) };
    } catch (err) {
      // A provider whose stored settings do not parse is disabled rather than run with guesses.
      console.error(`invalid settings for provider ${d.type}; disabled`, err);
      return { ...d, enabled: false };
    }
  });
  return entries.filter((e) => (PROVIDER_TYPES as readonly ProviderType[]).includes(e.type)).sort((a, b) => a.priority - b.priority);
}
