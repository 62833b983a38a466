import type { BrokerMessage, Delivery, SessionRecord, SubscriptionRecord } from './records';
import type { SessionStore } from './session-store';

/**
 * One behaviour every SessionStore must have, run against each
 * implementation (in-memory in Node, Durable Object SQLite in workerd). Test
 * functions are passed in so the same file runs under both runners.
 */
interface TestApi {
  describe: (name: string, fn: () => void) => void;
  it: (name: string, fn: () => void | Promise<void>) => void;
  expect: (value: unknown) => any;
}

const message = (topic: string, payload: number[] | Uint8Array, extra: Partial<BrokerMessage> = {}): BrokerMessage => ({
  topic,
  payload: payload instanceof Uint8Array ? payload : new Uint8Array(payload),
  qos: 1,
  retain: false,
  properties: {},
  expiresAt: null,
  origin: 'pub',
  createdAt: 1000,
  ...extra,
});

const delivery = (topic: string, payload: number[], extra: Partial<Delivery> = {}): Delivery => ({
  message: message(topic, payload),
  qos: 1,
  retain: false,
  subscriptionIds: [],
  ...extra,
});

const session = (clientId: string, extra: Partial<SessionRecord> = {}): SessionRecord => ({
  clientId,
  protocolVersion: 5,
  expiryInterval: 60,
  disconnectedAt: null,
  will: null,
  willDueAt: null,
  droppedMessages: 0,
  username: null,
  createdAt: 1,
  ...extra,
});

const sub = (clientId: string, filter: string, extra: Partial<SubscriptionRecord> = {}): SubscriptionRecord => ({
  clientId,
  filter,
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: null,
  createdAt: 1,
  ...extra,
});

/** A session with one of everything a client can own: a subscription, an in-flight message, a queued one, a QoS 2 receipt. */
function storeEverything(store: SessionStore, clientId: string): void {
  store.saveSession(session(clientId));
  store.saveSubscription(sub(clientId, 'a/#'));
  store.saveOutbound({ clientId, packetId: 1, state: 'publish', seq: 1, delivery: delivery('a/b', [1]) });
  store.enqueue(clientId, delivery('a/c', [2]));
  store.saveInboundQos2(clientId, 7);
}

function deliveryStateOf(store: SessionStore, clientId: string): { outbound: number; queued: number; inboundQos2: number[] } {
  return { outbound: store.loadOutbound(clientId).length, queued: store.queueLength(clientId), inboundQos2: store.loadInboundQos2(clientId) };
}

export function sessionStoreContract(name: string, makeStore: () => SessionStore | Promise<SessionStore>, { describe, it, expect }: TestApi): void {
  describe(`SessionStore contract: ${name}`, () => {
    it('upserts sessions with wills and exact fields', async () => {
      const store = await makeStore();
      const will = { message: message('w', [1, 2], { properties: { correlationData: new Uint8Array([9]), userProperties: { a: ['1', '2'] } } }), delaySeconds: 5, expirySeconds: 30 };
      store.saveSession(session('s1', { will, willDueAt: 99, username: 'u' }));
      store.saveSession(session('s1', { will, willDueAt: 100, username: 'u', droppedMessages: 3 }));
      const loaded = store.loadSessions();
      expect(loaded).toHaveLength(1);
      expect(loaded[0]).toMatchObject({ clientId: 's1', willDueAt: 100, droppedMessages: 3, username: 'u' });
      expect([...loaded[0].will!.message.payload]).toEqual([1, 2]);
      expect([...loaded[0].will!.message.properties.correlationData!]).toEqual([9]);
      expect(loaded[0].will!.message.properties.userProperties).toEqual({ a: ['1', '2'] });
      expect(loaded[0].will!.expirySeconds).toBe(30);
    });

    it('deleteSession removes everything the client owns and nothing of others', async () => {
      const store = await makeStore();
      for (const id of ['gone', 'kept']) storeEverything(store, id);
      store.deleteSession('gone');
      expect(store.loadSessions().map((s) => s.clientId)).toEqual(['kept']);
      expect(store.loadSubscriptions().map((s) => s.clientId)).toEqual(['kept']);
      expect(deliveryStateOf(store, 'gone')).toEqual({ outbound: 0, queued: 0, inboundQos2: [] });
      expect(deliveryStateOf(store, 'kept')).toEqual({ outbound: 1, queued: 1, inboundQos2: [7] });
    });

    it('deleteDeliveryState removes the client\'s queue, in-flight and QoS 2 state, and keeps its session and subscriptions', async () => {
      const store = await makeStore();
      for (const id of ['back', 'other']) storeEverything(store, id);
      store.deleteDeliveryState('back');
      expect(store.loadSessions().map((s) => s.clientId).sort()).toEqual(['back', 'other']);
      expect(store.loadSubscriptions().map((s) => s.clientId).sort()).toEqual(['back', 'other']);
      expect(deliveryStateOf(store, 'back')).toEqual({ outbound: 0, queued: 0, inboundQos2: [] });
      expect(deliveryStateOf(store, 'other')).toEqual({ outbound: 1, queued: 1, inboundQos2: [7] });
      // Written again later, its rows are found and deleted with the session.
      store.saveOutbound({ clientId: 'back', packetId: 2, state: 'publish', seq: 2, delivery: delivery('a/d', [3]) });
      store.deleteSession('back');
      expect(store.loadOutbound('back')).toEqual([]);
    });

    it('keeps subscriptions per client and filter', async () => {
      const store = await makeStore();
      store.saveSubscription(sub('c', 'x', { qos: 0 }));
      store.saveSubscription(sub('c', 'x', { qos: 2, noLocal: true, retainHandling: 2, subscriptionId: 12 }));
      store.saveSubscription(sub('c', '$share/g/ünïcødé/+'));
      const subs = store.loadSubscriptions().sort((a, b) => a.filter.localeCompare(b.filter));
      expect(subs).toHaveLength(2);
      expect(subs.find((s) => s.filter === 'x')).toMatchObject({ qos: 2, noLocal: true, retainHandling: 2, subscriptionId: 12 });
      store.deleteSubscription('c', 'x');
      expect(store.loadSubscriptions().map((s) => s.filter)).toEqual(['$share/g/ünïcødé/+']);
    });

    it('orders outbound by seq and upserts by packet id', async () => {
      const store = await makeStore();
      store.saveOutbound({ clientId: 'o', packetId: 5, state: 'publish', seq: 2, delivery: delivery('t', [2]) });
      store.saveOutbound({ clientId: 'o', packetId: 9, state: 'publish', seq: 1, delivery: delivery('t', [1], { subscriptionIds: [3, 4], retain: true }) });
      store.saveOutbound({ clientId: 'o', packetId: 5, state: 'pubrel', seq: 2, delivery: delivery('t', [2]) });
      const out = store.loadOutbound('o');
      expect(out.map((r) => [r.packetId, r.state])).toEqual([
        [9, 'publish'],
        [5, 'pubrel'],
      ]);
      expect(out[0].delivery).toMatchObject({ subscriptionIds: [3, 4], retain: true, qos: 1 });
      store.deleteOutbound('o', 9);
      expect(store.loadOutbound('o').map((r) => r.packetId)).toEqual([5]);
    });

    it('queues in order with increasing sequence numbers', async () => {
      const store = await makeStore();
      const seqs = [1, 2, 3].map((i) => store.enqueue('q', delivery('t', [i])));
      expect(seqs[1]).toBeGreaterThan(seqs[0]);
      expect(seqs[2]).toBeGreaterThan(seqs[1]);
      expect(store.queueLength('q')).toBe(3);
      expect(store.peekQueue('q', 2).map((r) => [...r.delivery.message.payload])).toEqual([[1], [2]]);
      store.deleteQueued('q', seqs[0]);
      expect(store.peekQueue('q', 10).map((r) => r.seq)).toEqual([seqs[1], seqs[2]]);
      expect(store.queueLength('q')).toBe(2);
    });

    it('counts queued bytes per client (topic characters plus payload bytes), down as rows leave', async () => {
      const store = await makeStore();
      const a = store.enqueue('b', delivery('topic/a', [1, 2, 3]));
      store.enqueue('b', delivery('t', new Array(100).fill(0)));
      store.enqueue('other', delivery('x', [1]));
      expect(store.queueBytes('b')).toBe(7 + 3 + 1 + 100);
      store.deleteQueued('b', a);
      expect(store.queueBytes('b')).toBe(101);
      expect(store.queueBytes('other')).toBe(2);
      expect(store.queueBytes('none')).toBe(0);
      store.deleteSession('b');
      expect(store.queueBytes('b')).toBe(0);
    });

    it('stores retained messages byte for byte, including large and empty-property ones', async () => {
      const store = await makeStore();
      const big = new Uint8Array(200_000).map((_, i) => i % 251);
      const view = new Uint8Array(new ArrayBuffer(10), 3, 4).fill(7);
      store.putRetained(message('big', big, { expiresAt: 123, properties: { contentType: 'x/y', payloadFormatIndicator: false } }));
      store.putRetained(message('view', view));
      store.putRetained(message('view', view, { origin: null }));
      const all = store.loadRetained().sort((a, b) => a.topic.localeCompare(b.topic));
      expect(all.map((m) => m.topic)).toEqual(['big', 'view']);
      expect(all[0].payload.byteLength).toBe(200_000);
      expect(all[0].payload[1000]).toBe(1000 % 251);
      expect(all[0]).toMatchObject({ expiresAt: 123, properties: { contentType: 'x/y', payloadFormatIndicator: false } });
      expect([...all[1].payload]).toEqual([7, 7, 7, 7]);
      expect(all[1].origin).toBeNull();
      store.deleteRetained('big');
      expect(store.loadRetained().map((m) => m.topic)).toEqual(['view']);
    });

    it('keeps topic aliases per connection and counters', async () => {
      const store = await makeStore();
      store.saveTopicAlias('c1', 1, 'a/b');
      store.saveTopicAlias('c1', 1, 'a/c');
      store.saveTopicAlias('c2', 1, 'z');
      expect([...store.loadTopicAliases('c1')]).toEqual([[1, 'a/c']]);
      store.deleteTopicAliases('c1');
      expect(store.loadTopicAliases('c1').size).toBe(0);
      expect(store.loadTopicAliases('c2').get(1)).toBe('z');
      store.saveTopicAlias('c3', 2, 'y');
      store.keepTopicAliasesOf(new Set(['c3', 'c9']));
      expect(store.loadTopicAliases('c2').size).toBe(0);
      expect(store.loadTopicAliases('c3').get(2)).toBe('y');
      expect(store.loadCounters()).toBeNull();
      const counters = { startedAt: 1, messagesReceived: 2, messagesSent: 3, bytesReceived: 4, bytesSent: 5, publishReceived: 6, publishSent: 7, messagesDropped: 8, connectionsTotal: 9, authFailures: 10, webSocketMessagesIn: 11, webSocketMessagesOut: 12, upgrades: 13, alarms: 14, clusterCallsIn: 15, clusterEntriesOut: 16 };
      store.saveCounters(counters);
      expect(store.loadCounters()).toEqual(counters);
    });
  });
}
