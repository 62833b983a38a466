import type { BrokerConfig } from '../config';
import type { Routed } from '../routing/router';
import type { BrokerCounters, BrokerMessage, Delivery, SubscriptionRecord } from '../store/records';
import type { SubscriptionIndex } from '../topics/subscription-index';
import type { Connection } from './connection';
import type { Session } from './session';
import { topicMatchesFilter } from '../topics/match';
import { parseSharedFilter } from '../topics/validate';
import { sumFigures, type ClusterFigures, type ShardFigures } from './cluster-figures';

export const BROKER_VERSION = 'EdgeMQ 0.1.0';

/** What the $SYS topics read of the shard (its figures) and how they reach subscribers. */
export interface SysTopicsHost {
  readonly config: BrokerConfig;
  readonly counters: BrokerCounters;
  readonly connections: ReadonlyMap<string, Connection>;
  readonly sessions: ReadonlyMap<string, Session>;
  readonly subscriptions: SubscriptionIndex<SubscriptionRecord>;
  readonly retained: { readonly size: number };
  connectionOf(session: Session): Connection | undefined;
  mayReceive(session: Session, topic: string): boolean;
  /** To this shard's own subscribers only: every shard with $SYS subscribers publishes the cluster's figures to them. */
  routeHere(message: BrokerMessage, now: number): Routed;
  deliver(session: Session, delivery: Delivery, now: number): boolean;
  scheduleWake(at: number): void;
}

/** A single broker, with no cluster port: shard 0 of 1. */
const SINGLE: ClusterFigures = { place: () => ({ index: 0, count: 1 }), latest: () => null };

/**
 * $SYS statistics in mosquitto's topic layout: `$SYS/broker/...` for the
 * whole cluster (sums over the shards) and `$SYS/brokers/<shard>/...` with the
 * same names for each shard. They are published only while a connected client
 * subscribes to them, so an idle shard is never woken just to talk to nobody;
 * a new $SYS subscriber gets the current values at once, as if they were
 * retained.
 */
export class SysTopics {
  private lastPublishedAt = 0;
  private activeCache: boolean | null = null;
  private cluster: ClusterFigures = SINGLE;

  constructor(private readonly engine: SysTopicsHost) {}

  /** The other shards' figures come through this port; without it the broker is shard 0 of 1. */
  useCluster(cluster: ClusterFigures): void {
    this.cluster = cluster;
  }

  /** Whether a connected client subscribes to $SYS now: only then are figures worth fetching. */
  get active(): boolean {
    return this.isActive();
  }

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
    for (const [topic, value] of this.values(now)) this.engine.routeHere(this.message(topic, value, now), now);
  }

  /** Current values for a just-made $SYS subscription, flagged retained. */
  sendCurrent(_conn: Connection, session: Session, sub: SubscriptionRecord, now: number): void {
    const filter = parseSharedFilter(sub.filter)?.filter ?? sub.filter;
    for (const [topic, value] of this.values(now)) {
      if (!topicMatchesFilter(topic, filter)) continue;
      if (!this.engine.mayReceive(session, topic)) continue;
      this.engine.deliver(session, { message: this.message(topic, value, now), qos: 0, retain: true, subscriptionIds: sub.subscriptionId !== null ? [sub.subscriptionId] : [] }, now);
    }
    if (this.lastPublishedAt === 0) this.lastPublishedAt = now;
    this.activeCache = null;
    this.engine.scheduleWake(now + this.engine.config.sysIntervalMs);
  }

  /** This shard's own figures now. */
  figures(now: number): ShardFigures {
    const e = this.engine;
    const c = e.counters;
    let connected = 0;
    let withheld = 0;
    for (const conn of e.connections.values()) {
      if (conn.state === 'connected') connected++;
      withheld += conn.owedAcks.length;
    }
    return {
      uptimeSeconds: Math.floor((now - c.startedAt) / 1000),
      connected,
      sessions: e.sessions.size,
      messagesReceived: c.messagesReceived,
      messagesSent: c.messagesSent,
      publishReceived: c.publishReceived,
      publishSent: c.publishSent,
      publishDropped: c.messagesDropped,
      acksWithheld: withheld,
      bytesReceived: c.bytesReceived,
      bytesSent: c.bytesSent,
      subscriptions: e.subscriptions.size,
      retained: e.retained.size,
    };
  }

  values(now: number): Array<[string, string]> {
    const { index, count } = this.cluster.place();
    const own = this.figures(now);
    const others = this.cluster.latest();
    const byShard: Array<[number, ShardFigures]> = [];
    for (let i = 0; i < count; i++) {
      const figures = i === index ? own : others?.[i];
      if (figures) byShard.push([i, figures]);
    }
    return [
      ['$SYS/broker/version', BROKER_VERSION],
      ...figureTopics('$SYS/broker', sumFigures(byShard.map(([, f]) => f))),
      ...byShard.flatMap(([i, f]) => figureTopics(`$SYS/brokers/${i}`, f)),
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

/** One set of figures under a prefix, in mosquitto's names. */
function figureTopics(prefix: string, f: ShardFigures): Array<[string, string]> {
  return [
    [`${prefix}/uptime`, `${f.uptimeSeconds} seconds`],
    [`${prefix}/clients/connected`, String(f.connected)],
    [`${prefix}/clients/total`, String(f.sessions)],
    [`${prefix}/clients/disconnected`, String(Math.max(0, f.sessions - f.connected))],
    [`${prefix}/messages/received`, String(f.messagesReceived)],
    [`${prefix}/messages/sent`, String(f.messagesSent)],
    [`${prefix}/publish/messages/received`, String(f.publishReceived)],
    [`${prefix}/publish/messages/sent`, String(f.publishSent)],
    [`${prefix}/publish/messages/dropped`, String(f.publishDropped)],
    // Backpressure at work right now: PUBACK/PUBREC waiting for subscribers that are behind.
    [`${prefix}/publish/acknowledgements/withheld`, String(f.acksWithheld)],
    [`${prefix}/bytes/received`, String(f.bytesReceived)],
    [`${prefix}/bytes/sent`, String(f.bytesSent)],
    [`${prefix}/subscriptions/count`, String(f.subscriptions)],
    [`${prefix}/retained messages/count`, String(f.retained)],
  ];
}
