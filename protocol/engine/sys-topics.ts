import type { EngineApi } from './engine-api';
import type { Connection } from './connection';
import type { Session } from './session';
import type { BrokerMessage, SubscriptionRecord } from '../store/records';
import { topicMatchesFilter } from '../topics/match';
import { parseSharedFilter } from '../topics/validate';

export const BROKER_VERSION = 'EdgeMQ 0.1.0';

/**
 * $SYS/broker/... statistics in mosquitto's topic layout. They are published
 * only while a connected client subscribes to them, so an idle shard is never
 * woken just to talk to nobody; a new $SYS subscriber gets the current values
 * at once, as if they were retained.
 */
export class SysTopics {
  private lastPublishedAt = 0;
  private activeCache: boolean | null = null;

  constructor(private readonly engine: EngineApi) {}

  restore(): void {
    this.activeCache = null;
  }

  clientsChanged(): void {
    this.activeCache = null;
  }

  subscriptionsChanged(): void {
    this.activeCache = null;
  }

  nextDueAt(): number | null {
    if (!this.isActive()) return null;
    return this.lastPublishedAt + this.engine.config.sysIntervalMs;
  }

  onTimer(now: number): void {
    if (!this.isActive()) return;
    if (now < this.lastPublishedAt + this.engine.config.sysIntervalMs) return;
    this.lastPublishedAt = now;
    for (const [topic, value] of this.values(now)) this.engine.route(this.message(topic, value, now), now);
  }

  /** Current values for a just-made $SYS subscription, flagged retained. */
  sendCurrent(_conn: Connection, session: Session, sub: SubscriptionRecord, now: number): void {
    const filter = parseSharedFilter(sub.filter)?.filter ?? sub.filter;
    for (const [topic, value] of this.values(now)) {
      if (!topicMatchesFilter(topic, filter)) continue;
      if (!this.engine.authorizer.canReceive({ clientId: session.clientId, username: session.record.username }, topic)) continue;
      this.engine.deliver(session, { message: this.message(topic, value, now), qos: 0, retain: true, subscriptionIds: sub.subscriptionId !== null ? [sub.subscriptionId] : [] }, now);
    }
    if (this.lastPublishedAt === 0) this.lastPublishedAt = now;
    this.activeCache = null;
    this.engine.scheduleWake(now + this.engine.config.sysIntervalMs);
  }

  values(now: number): Array<[string, string]> {
    const e = this.engine;
    const c = e.counters;
    let connected = 0;
    let withheld = 0;
    for (const conn of e.connections.values()) {
      if (conn.state === 'connected') connected++;
      withheld += conn.owedAcks.length;
    }
    return [
      ['$SYS/broker/version', BROKER_VERSION],
      ['$SYS/broker/uptime', `${Math.floor((now - c.startedAt) / 1000)} seconds`],
      ['$SYS/broker/clients/connected', String(connected)],
      ['$SYS/broker/clients/total', String(e.sessions.size)],
      ['$SYS/broker/clients/disconnected', String(Math.max(0, e.sessions.size - connected))],
      ['$SYS/broker/messages/received', String(c.messagesReceived)],
      ['$SYS/broker/messages/sent', String(c.messagesSent)],
      ['$SYS/broker/publish/messages/received', String(c.publishReceived)],
      ['$SYS/broker/publish/messages/sent', String(c.publishSent)],
      ['$SYS/broker/publish/messages/dropped', String(c.messagesDropped)],
      // Backpressure at work right now: PUBACK/PUBREC waiting for subscribers that are behind.
      ['$SYS/broker/publish/acknowledgements/withheld', String(withheld)],
      ['$SYS/broker/bytes/received', String(c.bytesReceived)],
      ['$SYS/broker/bytes/sent', String(c.bytesSent)],
      ['$SYS/broker/subscriptions/count', String(e.subscriptions.size)],
      ['$SYS/broker/retained messages/count', String(e.retained.size)],
    ];
  }

  private message(topic: string, value: string, now: number): BrokerMessage {
    return { topic, payload: new TextEncoder().encode(value), qos: 0, retain: true, properties: {}, expiresAt: null, origin: null, createdAt: now };
  }

  private isActive(): boolean {
    if (this.activeCache !== null) return this.activeCache;
    let active = false;
    for (const entry of this.engine.subscriptions.entries()) {
      const filter = parseSharedFilter(entry.filter)?.filter ?? entry.filter;
      if (!filter.startsWith('$SYS')) continue;
      const session = this.engine.sessions.get(entry.clientId);
      if (session && this.engine.connectionOf(session)) {
        active = true;
        break;
      }
    }
    this.activeCache = active;
    return active;
  }
}
