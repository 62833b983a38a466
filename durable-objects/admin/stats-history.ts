import type { OnShard, ShardStatsView, StatsSample } from '../../worker/admin/contract/broker';
import type { BrokerEngine } from '../../protocol/engine/broker-engine';
import type { Clock } from '../../protocol/ports';

/** One sample per minute for a day, in a ring of fixed slots. */
const SAMPLE_INTERVAL_MS = 60_000;
const HISTORY_SLOTS = 1440;

/**
 * The broker's counters now (GET /stats) and a day of per-minute samples
 * (GET /stats/history) in the shard's SQLite, in the table the session
 * store's schema creates (sqlite-session-store.ts, version 3).
 */
export class StatsHistory {
  private lastSampleAt: number | null = null;

  constructor(
    private readonly sql: SqlStorage,
    private readonly engine: () => BrokerEngine,
    private readonly clock: Clock,
  ) {}

  now(): OnShard<ShardStatsView> {
    const now = this.clock.now();
    const c = this.engine().counters;
    return {
      ...this.sample(now),
      startedAt: new Date(c.startedAt).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((now - c.startedAt) / 1000)),
      durableObject: {
        webSocketMessagesIn: c.webSocketMessagesIn,
        webSocketMessagesOut: c.webSocketMessagesOut,
        upgrades: c.upgrades,
        alarms: c.alarms,
        clusterCallsIn: c.clusterCallsIn,
        clusterEntriesOut: c.clusterEntriesOut,
      },
    };
  }

  /** Per-minute samples of the last day (or since `from`), oldest first. */
  history(q: { from?: number; to?: number } = {}): StatsSample[] {
    const from = Math.max(q.from ?? 0, this.clock.now() - HISTORY_SLOTS * SAMPLE_INTERVAL_MS);
    const to = q.to ?? Number.MAX_SAFE_INTEGER;
    return this.sql
      .exec(`SELECT sample FROM admin_stats_history WHERE at >= ? AND at <= ? ORDER BY at`, from, to)
      .toArray()
      .map((r) => JSON.parse(r.sample as string) as StatsSample);
  }

  /**
   * When the next sample is due. Samples are taken only while clients are
   * connected, so an idle shard is never woken to record zeros.
   */
  nextSampleAt(hasConnections: boolean): number | null {
    if (!hasConnections) return null;
    const last = this.lastSample();
    return last === null ? this.clock.now() : last + SAMPLE_INTERVAL_MS;
  }

  /** Called from the shard's alarm. */
  onAlarm(hasConnections: boolean): void {
    if (!hasConnections) return;
    const now = this.clock.now();
    const last = this.lastSample();
    if (last !== null && now < last + SAMPLE_INTERVAL_MS) return;
    const slot = Math.floor(now / SAMPLE_INTERVAL_MS) % HISTORY_SLOTS;
    this.sql.exec(`INSERT OR REPLACE INTO admin_stats_history (slot, at, sample) VALUES (?, ?, ?)`, slot, now, JSON.stringify(this.sample(now)));
    this.lastSampleAt = now;
  }

  private sample(now: number): StatsSample {
    const engine = this.engine();
    const c = engine.counters;
    let connections = 0;
    for (const conn of engine.connections.values()) if (conn.state === 'connected') connections++;
    return {
      at: new Date(now).toISOString(),
      connections,
      connectionsTotal: c.connectionsTotal,
      messagesIn: c.messagesReceived,
      messagesOut: c.messagesSent,
      publishIn: c.publishReceived,
      publishOut: c.publishSent,
      bytesIn: c.bytesReceived,
      bytesOut: c.bytesSent,
      dropped: c.messagesDropped,
      authFailures: c.authFailures,
      sessions: engine.sessions.size,
      subscriptions: engine.subscriptions.size,
      retained: engine.retained.size,
    };
  }

  private lastSample(): number | null {
    if (this.lastSampleAt === null) {
      const row = this.sql.exec(`SELECT max(at) AS at FROM admin_stats_history`).toArray()[0];
      this.lastSampleAt = (row?.at as number | null) ?? null;
    }
    return this.lastSampleAt;
  }
}
