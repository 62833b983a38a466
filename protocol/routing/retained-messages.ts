import type { BrokerConfig } from '../config';
import type { Clock } from '../ports';
import type { SessionStore } from '../store/session-store';
import type { BrokerCounters, BrokerMessage, Delivery, QoS, SubscriptionRecord } from '../store/records';
import type { RetainedIndex } from '../topics/retained-index';
import { isWildcardFilter, parseSharedFilter } from '../topics/validate';
import type { ClusterNode } from '../cluster/cluster-node';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import type { Recipients } from './recipients';

/** What retained messages use of the cluster: each topic's home shard, and asking other shards for theirs (over its MessageBus). */
export type ClusterRetained = Pick<ClusterNode, 'clustered' | 'shardCount' | 'self' | 'homeOf' | 'retainedFrom'>;

export interface RetainedMessagesDeps {
  config: BrokerConfig;
  store: SessionStore;
  clock: Clock;
  counters: BrokerCounters;
  /** This shard's retained messages: those whose topic's home is this shard. */
  retained: RetainedIndex<BrokerMessage>;
  cluster: ClusterRetained;
  recipients: Recipients;
}

/** Past its Message Expiry Interval [MQTT-3.3.2-5]: no longer sent, and deleted when met. */
const hasExpired = (message: BrokerMessage, now: number): boolean => message.expiresAt !== null && message.expiresAt <= now;

/** How often, at most, a full store of retained messages is searched for expired ones to make room: the search reads them all. */
const EXPIRED_SEARCH_INTERVAL_MS = 1_000;

/**
 * Retained messages: kept on each topic's home shard, looked up there for a
 * new subscription anywhere in the cluster, and sent to that subscription.
 */
export class RetainedMessages {
  private expiredSearchedAt = -Infinity;

  constructor(private readonly deps: RetainedMessagesDeps) {}

  storeRetained(message: BrokerMessage): void {
    const { retained, store } = this.deps;
    // An empty retained payload deletes the retained message [MQTT-3.3.1-6].
    if (message.payload.byteLength === 0) {
      this.deleteRetained(message.topic);
      return;
    }
    if (!retained.get(message.topic) && retained.size >= this.deps.config.maxRetainedMessages) {
      // An expired message is deleted only when a subscription meets it, so a full store may be full of them.
      this.deleteExpired();
      if (retained.size >= this.deps.config.maxRetainedMessages) {
        this.deps.counters.messagesDropped++;
        return;
      }
    }
    retained.set(message.topic, message);
    store.putRetained(message);
  }

  /** Removes the retained message of this topic, here and in the store; false when there was none. */
  deleteRetained(topic: string): boolean {
    if (!this.deps.retained.delete(topic)) return false;
    this.deps.store.deleteRetained(topic);
    return true;
  }

  /** Deletes every retained message whose expiry has passed, at most once per EXPIRED_SEARCH_INTERVAL_MS. */
  private deleteExpired(): void {
    const now = this.deps.clock.now();
    if (now - this.expiredSearchedAt < EXPIRED_SEARCH_INTERVAL_MS) return;
    this.expiredSearchedAt = now;
    const expired: string[] = [];
    for (const [topic, message] of this.deps.retained.entries()) if (hasExpired(message, now)) expired.push(topic);
    for (const topic of expired) this.deleteRetained(topic);
  }

  /** Retained messages stored here that match any of these filters (another shard's remoteRetained). */
  retainedMatching(filters: string[], now: number): BrokerMessage[] {
    const out: BrokerMessage[] = [];
    const seen = new Set<string>();
    for (const filter of filters) {
      for (const { value: message } of this.deps.retained.match(filter)) {
        if (seen.has(message.topic)) continue;
        seen.add(message.topic);
        if (hasExpired(message, now)) continue;
        out.push(message);
      }
    }
    return out;
  }

  /**
   * Retained messages that live on other shards (each topic's home), for a
   * new subscription here. Null when there is nothing to ask: one shard, or
   * a filter without wildcards whose home is this shard. A shard that cannot
   * be asked costs this subscription its retained messages only (logged):
   * the others' still come, and the subscriber's connection is not ended
   * for another shard's trouble.
   */
  remoteRetained(filter: string): Promise<BrokerMessage[]> | null {
    const { cluster } = this.deps;
    if (!cluster.clustered) return null;
    const homes = isWildcardFilter(filter)
      ? Array.from({ length: cluster.shardCount }, (_, i) => i).filter((i) => i !== cluster.self)
      : [cluster.homeOf(filter)].filter((i) => i !== cluster.self);
    if (homes.length === 0) return null;
    return Promise.allSettled(homes.map((home) => cluster.retainedFrom(home, [filter]))).then((pages) =>
      pages.flatMap((page, i) => {
        if (page.status === 'fulfilled') return page.value;
        console.error(`edgemq: shard ${cluster.self} could not read the retained messages of shard ${homes[i]} for a new subscription`, page.reason);
        return [];
      }),
    );
  }

  /**
   * Retained messages for a new subscription; RETAIN is always set on these
   * [MQTT-3.3.1-9]. Those stored here go at once; those whose home is another
   * shard follow when it answers (the returned promise). A live message on a
   * topic may reach the subscription before that answer (it was published
   * after the SUBACK); the retained one of that topic is then older, and is
   * not sent after it, so the subscriber's last value stays the newest.
   */
  sendRetained(conn: Connection, session: Session, sub: SubscriptionRecord, now: number): Promise<void> | void {
    const shared = parseSharedFilter(sub.filter);
    if (shared) return; // Not sent for shared subscriptions (spec 4.8.2): they serve a group, not a session.
    const { retained, recipients } = this.deps;
    for (const { value: message } of retained.match(sub.filter)) {
      if (hasExpired(message, now)) {
        this.deleteRetained(message.topic);
        continue;
      }
      this.deliverRetained(session, sub, message, now);
    }
    const remote = this.remoteRetained(sub.filter);
    if (!remote) return;
    const live = session.startRetainedLookup();
    return remote
      .then((messages) => {
        if (recipients.findSession(session.clientId) !== session || recipients.connectionOf(session) !== conn) return;
        const later = this.deps.clock.now();
        for (const message of messages) if (!hasExpired(message, later) && !live.has(message.topic)) this.deliverRetained(session, sub, message, later);
      })
      .finally(() => session.endRetainedLookup(live));
  }

  private deliverRetained(session: Session, sub: SubscriptionRecord, message: BrokerMessage, now: number): void {
    const { recipients } = this.deps;
    if (!recipients.mayReceive(session, message.topic)) return;
    const delivery: Delivery = {
      message,
      qos: Math.min(sub.qos, message.qos) as QoS,
      retain: true,
      subscriptionIds: sub.subscriptionId !== null ? [sub.subscriptionId] : [],
    };
    recipients.deliver(session, delivery, now);
  }
}
