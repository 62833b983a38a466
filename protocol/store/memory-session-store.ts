import { queuedSize, type BrokerCounters, type BrokerMessage, type Delivery, type OutboundRecord, type QueuedRecord, type SessionRecord, type SubscriptionRecord } from './records';
import type { SessionStore } from './session-store';

/**
 * A SessionStore in memory, for running the engine in Node unit tests. It
 * copies on the way in and out, like a real store, so callers cannot change
 * stored state by reference.
 */
export class MemorySessionStore implements SessionStore {
  private sessions = new Map<string, SessionRecord>();
  private subscriptions = new Map<string, SubscriptionRecord>();
  private outbound = new Map<string, OutboundRecord>();
  private queue = new Map<string, QueuedRecord[]>();
  private inbound = new Map<string, Set<number>>();
  private retained = new Map<string, BrokerMessage>();
  private aliases = new Map<string, Map<number, string>>();
  private counters: BrokerCounters | null = null;
  private seq = 0;

  loadSessions(): SessionRecord[] {
    return [...this.sessions.values()].map((s) => structuredClone(s));
  }
  saveSession(session: SessionRecord): void {
    this.sessions.set(session.clientId, structuredClone(session));
  }
  deleteSession(clientId: string): void {
    this.sessions.delete(clientId);
    for (const [k, v] of this.subscriptions) if (v.clientId === clientId) this.subscriptions.delete(k);
    for (const [k, v] of this.outbound) if (v.clientId === clientId) this.outbound.delete(k);
    this.queue.delete(clientId);
    this.inbound.delete(clientId);
  }

  deleteDeliveryState(clientId: string): void {
    for (const [k, v] of this.outbound) if (v.clientId === clientId) this.outbound.delete(k);
    this.queue.delete(clientId);
    this.inbound.delete(clientId);
  }

  loadSubscriptions(): SubscriptionRecord[] {
    return [...this.subscriptions.values()].map((s) => structuredClone(s));
  }
  saveSubscription(sub: SubscriptionRecord): void {
    this.subscriptions.set(`${sub.clientId}\u0000${sub.filter}`, structuredClone(sub));
  }
  deleteSubscription(clientId: string, filter: string): void {
    this.subscriptions.delete(`${clientId}\u0000${filter}`);
  }

  loadOutbound(clientId: string): OutboundRecord[] {
    return [...this.outbound.values()].filter((r) => r.clientId === clientId).sort((a, b) => a.seq - b.seq).map((r) => structuredClone(r));
  }
  saveOutbound(record: OutboundRecord): void {
    this.outbound.set(`${record.clientId}\u0000${record.packetId}`, structuredClone(record));
  }
  deleteOutbound(clientId: string, packetId: number): void {
    this.outbound.delete(`${clientId}\u0000${packetId}`);
  }

  enqueue(clientId: string, delivery: Delivery): number {
    const seq = ++this.seq;
    const list = this.queue.get(clientId) ?? [];
    list.push({ clientId, seq, delivery: structuredClone(delivery) });
    this.queue.set(clientId, list);
    return seq;
  }
  peekQueue(clientId: string, limit: number): QueuedRecord[] {
    return (this.queue.get(clientId) ?? []).slice(0, limit).map((r) => structuredClone(r));
  }
  deleteQueued(clientId: string, seq: number): void {
    const list = this.queue.get(clientId);
    if (!list) return;
    const i = list.findIndex((r) => r.seq === seq);
    if (i >= 0) list.splice(i, 1);
  }
  queueLength(clientId: string): number {
    return this.queue.get(clientId)?.length ?? 0;
  }
  queueBytes(clientId: string): number {
    let bytes = 0;
    for (const r of this.queue.get(clientId) ?? []) bytes += queuedSize(r.delivery);
    return bytes;
  }

  loadInboundQos2(clientId: string): number[] {
    return [...(this.inbound.get(clientId) ?? [])];
  }
  saveInboundQos2(clientId: string, packetId: number): void {
    const set = this.inbound.get(clientId) ?? new Set<number>();
    set.add(packetId);
    this.inbound.set(clientId, set);
  }
  deleteInboundQos2(clientId: string, packetId: number): void {
    this.inbound.get(clientId)?.delete(packetId);
  }

  loadRetained(): BrokerMessage[] {
    return [...this.retained.values()].map((m) => structuredClone(m));
  }
  putRetained(message: BrokerMessage): void {
    this.retained.set(message.topic, structuredClone(message));
  }
  deleteRetained(topic: string): void {
    this.retained.delete(topic);
  }

  loadTopicAliases(connectionId: string): Map<number, string> {
    return new Map(this.aliases.get(connectionId) ?? []);
  }
  saveTopicAlias(connectionId: string, alias: number, topic: string): void {
    const map = this.aliases.get(connectionId) ?? new Map<number, string>();
    map.set(alias, topic);
    this.aliases.set(connectionId, map);
  }
  deleteTopicAliases(connectionId: string): void {
    this.aliases.delete(connectionId);
  }
  keepTopicAliasesOf(connectionIds: { has(connectionId: string): boolean }): void {
    for (const id of [...this.aliases.keys()]) if (!connectionIds.has(id)) this.aliases.delete(id);
  }

  loadCounters(): BrokerCounters | null {
    return this.counters ? { ...this.counters } : null;
  }
  saveCounters(counters: BrokerCounters): void {
    this.counters = { ...counters };
  }
}
