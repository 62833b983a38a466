import { describe, expect, it } from 'vitest';
import type { IDisconnectPacket, IPubackPacket, IPubcompPacket, IPublishPacket, IPubrecPacket } from 'mqtt-packet';
import { EngineHarness, type TestClient } from './testing/engine-harness';

const text = (p: IPublishPacket) => Buffer.from(p.payload as Uint8Array).toString();
const ids = (packets: Array<{ messageId?: number }>) => packets.map((p) => p.messageId);

/** A window of 2 and a queue watermark of 2: the third queued message makes the subscriber "behind". */
const SMALL = { maxInflightOut: 2, maxQueuedMessages: 100, receiveMaximum: 10, stuckSubscriberMs: 5000 };

async function subscriber(h: EngineHarness, topic: string, qos: 0 | 1 | 2 = 1, fields: Record<string, unknown> = {}): Promise<TestClient> {
  const c = h.client(5);
  await c.connect(fields);
  await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos }] });
  c.take('suback');
  return c;
}

async function publisher(h: EngineHarness, version: 4 | 5 = 5): Promise<TestClient> {
  const c = h.client(version);
  await c.connect();
  return c;
}

const publish = (c: TestClient, topic: string, messageId: number, qos: 1 | 2 = 1, payload = `m${messageId}`) =>
  c.send({ cmd: 'publish', topic, payload, qos, messageId, retain: false, dup: false });

async function ackAll(sub: TestClient): Promise<number> {
  const got = sub.all<IPublishPacket>('publish');
  for (const p of got) await sub.send({ cmd: 'puback', messageId: p.messageId });
  return got.length;
}

describe('flow control: withheld acknowledgements', () => {
  it('withholds PUBACK while a healthy subscriber is behind and releases them in arrival order as it drains', async () => {
    const h = new EngineHarness({ config: SMALL });
    const sub = await subscriber(h, 'f');
    const pub = await publisher(h);
    for (let id = 1; id <= 6; id++) await publish(pub, 'f', id);
    // 1, 2 in flight; 3, 4 queued (at the watermark); 5 and 6 make the queue longer than that.
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([1, 2, 3, 4]);
    // An ack owed nothing (no subscribers) still waits its turn: per-publisher order.
    await publish(pub, 'nobody', 7);
    expect(pub.all('puback')).toEqual([]);
    // Operators see the backpressure in $SYS.
    expect(new Map(h.engine.sys.values(h.clock.now())).get('$SYS/broker/publish/acknowledgements/withheld')).toBe('3');

    const first = sub.all<IPublishPacket>('publish');
    expect(first.map(text)).toEqual(['m1', 'm2']);
    await sub.send({ cmd: 'puback', messageId: first[0].messageId });
    // One slot refilled from the queue, which is still above the watermark.
    expect(pub.all('puback')).toEqual([]);
    await sub.send({ cmd: 'puback', messageId: first[1].messageId });
    const released = pub.all<IPubackPacket>('puback');
    expect(ids(released)).toEqual([5, 6, 7]);
    expect(released.map((p) => p.reasonCode)).toEqual([0, 0, 0x10]);
    expect(new Map(h.engine.sys.values(h.clock.now())).get('$SYS/broker/publish/acknowledgements/withheld')).toBe('0');

    // Everything acknowledged arrives, in order, and nothing was dropped.
    const seen = sub.all<IPublishPacket>('publish');
    for (let i = 0; i < 10 && seen.length < 4; i++) {
      for (const p of seen.slice(-2)) await sub.send({ cmd: 'puback', messageId: p.messageId });
      seen.push(...sub.all<IPublishPacket>('publish'));
    }
    expect(seen.map(text)).toEqual(['m3', 'm4', 'm5', 'm6']);
    expect(h.engine.counters.messagesDropped).toBe(0);
  });

  it('withholds PUBREC the same way at QoS 2, and a retransmission while it is withheld gets no early PUBREC', async () => {
    const h = new EngineHarness({ config: SMALL });
    const sub = await subscriber(h, 'q2', 2);
    const pub = await publisher(h);
    for (let id = 1; id <= 5; id++) await publish(pub, 'q2', id, 2);
    expect(ids(pub.all<IPubrecPacket>('pubrec'))).toEqual([1, 2, 3, 4]);
    await pub.send({ cmd: 'publish', topic: 'q2', payload: 'm5', qos: 2, messageId: 5, retain: false, dup: true });
    expect(pub.all('pubrec')).toEqual([]);

    const inflight = sub.all<IPublishPacket>('publish');
    for (const p of inflight) await sub.send({ cmd: 'pubrec', messageId: p.messageId });
    for (const p of inflight) await sub.send({ cmd: 'pubcomp', messageId: p.messageId });
    expect(ids(pub.all<IPubrecPacket>('pubrec'))).toEqual([5]);
    // Delivered once despite the retransmission.
    const rest: IPublishPacket[] = sub.all<IPublishPacket>('publish');
    for (let i = 0; i < 10 && rest.length < 3; i++) {
      for (const p of rest.slice(-2)) {
        await sub.send({ cmd: 'pubrec', messageId: p.messageId });
        await sub.send({ cmd: 'pubcomp', messageId: p.messageId });
      }
      rest.push(...sub.all<IPublishPacket>('publish'));
    }
    expect(rest.map(text)).toEqual(['m3', 'm4', 'm5']);
  });

  it('counts withheld QoS 1 and open QoS 2 against Receive Maximum: one more is DISCONNECT 0x93', async () => {
    const h = new EngineHarness({ config: { ...SMALL, receiveMaximum: 3, maxInflightOut: 1 } });
    await subscriber(h, 'rm');
    const pub = await publisher(h);
    // 1 in flight, 2 queued at the watermark (1) and acknowledged; 3, 4 withheld; 5 is a QoS 2 flow still open.
    for (let id = 1; id <= 4; id++) await publish(pub, 'rm', id);
    await publish(pub, 'rm', 5, 2);
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([1, 2]);
    expect(pub.closed).toBe(false);
    await publish(pub, 'rm', 6);
    expect(pub.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x93);
    expect(pub.closed).toBe(true);
  });

  it('closes a 3.1.1 publisher past the same bound (3.1.1 cannot announce one)', async () => {
    const h = new EngineHarness({ config: { ...SMALL, receiveMaximum: 2, maxInflightOut: 1 } });
    await subscriber(h, 'rm4');
    const pub = await publisher(h, 4);
    for (let id = 1; id <= 4; id++) await publish(pub, 'rm4', id);
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([1, 2]);
    expect(pub.closed).toBe(false);
    await publish(pub, 'rm4', 5);
    expect(pub.closed).toBe(true);
  });

  it('releases what a subscriber holds when it disconnects, and forgets what a departed publisher was owed', async () => {
    const h = new EngineHarness({ config: SMALL });
    const sub = await subscriber(h, 'gone');
    const pub = await publisher(h);
    for (let id = 1; id <= 6; id++) await publish(pub, 'gone', id);
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([1, 2, 3, 4]);
    sub.close();
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([5, 6]);

    const sub2 = await subscriber(h, 'gone2');
    const pub2 = await publisher(h);
    for (let id = 1; id <= 6; id++) await publish(pub2, 'gone2', id);
    const session = h.engine.sessions.get(sub2.id)!;
    expect(session.heldAcks.size).toBe(2);
    pub2.close();
    expect(session.heldAcks.size).toBe(0);
    expect(await ackAll(sub2)).toBe(2);
  });
});

describe('flow control: a stuck subscriber', () => {
  it('holds publishers back only until judged stuck; then its drops are its own and the healthy subscriber gets everything', async () => {
    const h = new EngineHarness({ config: { ...SMALL, maxQueuedMessages: 8 } });
    const stuck = await subscriber(h, 'feed');
    const healthy = await subscriber(h, 'feed');
    const pub = await publisher(h);
    const healthyGot: string[] = [];
    let next = 1;
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        await publish(pub, 'feed', next, 1, `m${next}`);
        next++;
        const got = healthy.all<IPublishPacket>('publish');
        healthyGot.push(...got.map(text));
        for (const p of got) await healthy.send({ cmd: 'puback', messageId: p.messageId });
      }
    };
    await send(6);
    // The stuck one is behind (window full, queue above the watermark of 2) and not yet judged: acks wait.
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([1, 2, 3, 4]);
    h.tick(SMALL.stuckSubscriberMs);
    // Judged stuck (no acknowledgement for the whole period): the held acks go, in order.
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([5, 6]);
    await send(10);
    // It no longer holds anyone back: every later PUBLISH is acknowledged at once.
    expect(pub.all('puback')).toHaveLength(10);
    expect(healthyGot).toEqual(Array.from({ length: 16 }, (_, i) => `m${i + 1}`));
    const stuckSession = h.engine.sessions.get(stuck.id)!;
    // 2 in flight, 8 queued (the bound), 6 dropped and counted for it alone.
    expect(stuckSession.outbound.size).toBe(2);
    expect(stuckSession.queueLength()).toBe(8);
    expect(stuckSession.record.droppedMessages).toBe(6);
    expect(h.engine.sessions.get(healthy.id)!.record.droppedMessages).toBe(0);
    expect(h.engine.counters.messagesDropped).toBe(6);
    // QoS 0 to a stuck subscriber is dropped and counted too, and still reaches the healthy one.
    await pub.send({ cmd: 'publish', topic: 'feed', payload: 'zero', qos: 0, retain: false, dup: false });
    expect(stuckSession.record.droppedMessages).toBe(7);
    expect(healthy.all<IPublishPacket>('publish').map(text)).toEqual(['zero']);
    expect(stuck.all<IPublishPacket>('publish').map(text)).toEqual(['m1', 'm2']);
  });

  it('is not stuck while it keeps acknowledging, however slowly', async () => {
    const h = new EngineHarness({ config: SMALL });
    const slow = await subscriber(h, 'slow');
    const pub = await publisher(h);
    for (let id = 1; id <= 6; id++) await publish(pub, 'slow', id);
    expect(pub.all('puback')).toHaveLength(4);
    for (let step = 0; step < 3; step++) {
      h.tick(SMALL.stuckSubscriberMs - 1000);
      const p = slow.received.find((x): x is IPublishPacket => x.cmd === 'publish')!;
      slow.received.splice(slow.received.indexOf(p), 1);
      await slow.send({ cmd: 'puback', messageId: p.messageId });
    }
    // Three acknowledgements over 12 s: the backlog went down to the watermark, which released the acks, none by the stuck timer.
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([5, 6]);
    expect(h.engine.counters.messagesDropped).toBe(0);
  });
});

describe('flow control: queues bounded in bytes', () => {
  it('slows a publisher of large messages before its subscriber reaches the byte bound, so nothing acknowledged is dropped', async () => {
    // The defaults (a window of 100, 1 MiB of queue) with 6 KB messages: a window's worth is 600 KB.
    const h = new EngineHarness();
    const sub = await subscriber(h, 'large');
    const pub = await publisher(h);
    const payload = (id: number) => `${id}:`.padEnd(6_000, 'x');
    const total = 400;
    let sent = 0;
    const acked = new Set<number>();
    const received: string[] = [];
    for (let round = 0; round < 100 && received.length < total; round++) {
      // A compliant publisher: at most Receive Maximum (100) unacknowledged.
      while (sent < total && sent - acked.size < 100) await publish(pub, 'large', ++sent, 1, payload(sent));
      for (const p of pub.all<IPubackPacket>('puback')) acked.add(p.messageId!);
      if (sent - acked.size < 100 && sent < total) continue;
      // The subscriber keeps acknowledging, one window at a time.
      const batch = sub.all<IPublishPacket>('publish');
      received.push(...batch.map((p) => text(p).split(':')[0]));
      for (const p of batch) await sub.send({ cmd: 'puback', messageId: p.messageId });
      for (const p of pub.all<IPubackPacket>('puback')) acked.add(p.messageId!);
    }
    expect(h.engine.counters.messagesDropped).toBe(0);
    expect(acked.size).toBe(total);
    expect(received).toEqual(Array.from({ length: total }, (_, i) => String(i + 1)));
  });

  it('drops past MQTT_MAX_QUEUED_BYTES for an offline persistent session, and keeps the byte count across a restart', async () => {
    const h = new EngineHarness({ config: { maxQueuedBytes: 50 } });
    const sub = await subscriber(h, 'b', 1, { clean: false, properties: { sessionExpiryInterval: 600 }, clientId: 'bytes-sub' });
    sub.close();
    const pub = await publisher(h);
    // Topic "b" (1) + 9 payload bytes = 10 each: five fit in 50.
    for (let id = 1; id <= 6; id++) await publish(pub, 'b', id, 1, `payload-${id}`);
    expect(pub.all('puback')).toHaveLength(6);
    expect(h.engine.sessions.get('bytes-sub')!.record.droppedMessages).toBe(1);

    h.restart();
    const pub2 = await publisher(h);
    await publish(pub2, 'b', 7, 1, 'payload-7');
    const session = h.engine.sessions.get('bytes-sub')!;
    expect(session.queuedBytes).toBe(50);
    expect(session.record.droppedMessages).toBe(2);

    const back = h.client(5);
    await back.connect({ clientId: 'bytes-sub', clean: false, properties: { sessionExpiryInterval: 600 } });
    const got: string[] = [];
    for (let i = 0; i < 5 && got.length < 5; i++) {
      const batch = back.all<IPublishPacket>('publish');
      got.push(...batch.map(text));
      for (const p of batch) await back.send({ cmd: 'puback', messageId: p.messageId });
    }
    expect(got).toEqual([1, 2, 3, 4, 5].map((i) => `payload-${i}`));
    expect(h.engine.sessions.get('bytes-sub')!.queuedBytes).toBe(0);
  });
});

describe('flow control: a clean subscriber across hibernation', () => {
  // Window 2: two in flight, two queued, every PUBACK sent (not behind).
  const publishFour = async (h: EngineHarness, topic: string) => {
    const pub = await publisher(h);
    for (let id = 1; id <= 4; id++) await publish(pub, topic, id);
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([1, 2, 3, 4]);
    return pub;
  };

  it('moves unacknowledged messages to the store at the alarm, so a hibernating shard still delivers what it acknowledged', async () => {
    const h = new EngineHarness({ config: SMALL });
    const sub = await subscriber(h, 'c', 1, { clientId: 'clean-sub' });
    await publishFour(h, 'c');
    const inFlight = sub.all<IPublishPacket>('publish');
    expect(inFlight.map(text)).toEqual(['m1', 'm2']);

    h.tick(h.config.hibernationGuardMs);
    expect(h.engine.sessions.get('clean-sub')!.spilled).toBe(true);
    h.hibernate();

    for (const p of inFlight) await sub.send({ cmd: 'puback', messageId: p.messageId });
    const rest = sub.all<IPublishPacket>('publish');
    expect(rest.map(text)).toEqual(['m3', 'm4']);
    for (const p of rest) await sub.send({ cmd: 'puback', messageId: p.messageId });

    // Caught up, it is back in memory: the next delivery writes no row.
    const session = h.engine.sessions.get('clean-sub')!;
    expect(session.spilled).toBe(false);
    const pub = await publisher(h);
    await publish(pub, 'c', 9);
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['m9']);
    expect(h.store.loadOutbound('clean-sub')).toEqual([]);
    expect(h.snapshots.get(sub.id)!.deliveryStateStored).toBeUndefined();

    // Its session still ends with its connection, rows and all.
    sub.close();
    await h.engine.connectionLost(sub.id);
    expect(h.engine.sessions.has('clean-sub')).toBe(false);
    expect(h.store.queueLength('clean-sub')).toBe(0);
  });

  it('goes back to memory once a subscriber that stalled catches up, and spills again if it stalls again', async () => {
    const h = new EngineHarness({ config: SMALL });
    const sub = await subscriber(h, 'r', 1, { clientId: 'stall-twice' });
    await publishFour(h, 'r');
    h.tick(h.config.hibernationGuardMs);
    const session = h.engine.sessions.get('stall-twice')!;
    expect(session.spilled).toBe(true);

    // Its acknowledgements bring the queue into flight: nothing is queued, two are in flight, and none of it is stored.
    for (const p of sub.all<IPublishPacket>('publish')) await sub.send({ cmd: 'puback', messageId: p.messageId });
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['m3', 'm4']);
    expect(session.spilled).toBe(false);
    expect(h.store.loadOutbound('stall-twice')).toEqual([]);
    expect(h.store.queueLength('stall-twice')).toBe(0);
    expect(h.engine.nextWakeAt()! - h.clock.now()).toBeLessThanOrEqual(h.config.hibernationGuardMs);

    // Left unacknowledged again, they are stored again before the shard may hibernate.
    h.tick(h.config.hibernationGuardMs);
    expect(session.spilled).toBe(true);
    expect(h.store.loadOutbound('stall-twice').map((r) => Buffer.from(r.delivery.message.payload).toString())).toEqual(['m3', 'm4']);
  });

  it('keeps the state of a subscriber that keeps acknowledging in memory', async () => {
    const h = new EngineHarness({ config: SMALL });
    const sub = await subscriber(h, 'k', 1, { clientId: 'quick-sub' });
    const pub = await publisher(h);
    let unacknowledged: IPublishPacket[] = [];
    for (let id = 1; id <= 8; id++) {
      await publish(pub, 'k', id);
      for (const p of unacknowledged) await sub.send({ cmd: 'puback', messageId: p.messageId });
      // The newest delivery is always waiting when the clock moves on, but never for long.
      unacknowledged = sub.all<IPublishPacket>('publish');
      expect(unacknowledged).toHaveLength(1);
      h.tick(h.config.hibernationGuardMs / 2);
    }
    expect(h.engine.sessions.get('quick-sub')!.spilled).toBe(false);
    expect(h.store.loadOutbound('quick-sub')).toEqual([]);
  });
});

describe('flow control: a clean QoS 2 publisher across hibernation', () => {
  it('stores a flow left without PUBREL, so the woken shard delivers a resend once and completes the PUBREL with 0x00', async () => {
    const h = new EngineHarness({ config: SMALL });
    const sub = await subscriber(h, 'p2', 0, { clientId: 'p2-sub' });
    const pub = h.client(5);
    await pub.connect({ clientId: 'p2-pub' });
    await publish(pub, 'p2', 7, 2);
    expect(ids(pub.all<IPubrecPacket>('pubrec'))).toEqual([7]);
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['m7']);

    // The PUBREL does not come: before the shard may hibernate, the flow is in the store.
    expect(h.engine.nextWakeAt()! - h.clock.now()).toBeLessThanOrEqual(h.config.hibernationGuardMs);
    h.tick(h.config.hibernationGuardMs);
    expect(h.engine.sessions.get('p2-pub')!.spilled).toBe(true);
    expect(h.store.loadInboundQos2('p2-pub')).toEqual([7]);
    h.hibernate();

    // A resend of the same flow is acknowledged again and not delivered again [MQTT-4.3.3-10].
    await pub.send({ cmd: 'publish', topic: 'p2', payload: 'm7', qos: 2, messageId: 7, retain: false, dup: true });
    expect(ids(pub.all<IPubrecPacket>('pubrec'))).toEqual([7]);
    expect(sub.all('publish')).toEqual([]);
    await pub.send({ cmd: 'pubrel', messageId: 7 });
    expect(pub.all<IPubcompPacket>('pubcomp').map((p) => [p.messageId, p.reasonCode ?? 0])).toEqual([[7, 0]]);

    // Nothing left to keep: back in memory, no rows, nothing to wake for.
    expect(h.engine.sessions.get('p2-pub')!.spilled).toBe(false);
    expect(h.store.loadInboundQos2('p2-pub')).toEqual([]);
    expect(h.snapshots.get(pub.id)!.deliveryStateStored).toBeUndefined();
    h.tick(h.config.hibernationGuardMs);
    expect(h.engine.nextWakeAt()).toBeNull();
  });

  it('keeps the flows of a publisher that keeps releasing them in memory', async () => {
    const h = new EngineHarness({ config: SMALL });
    await subscriber(h, 'p2', 0, { clientId: 'p2-sub' });
    const pub = h.client(5);
    await pub.connect({ clientId: 'p2-quick' });
    for (let id = 1; id <= 8; id++) {
      await publish(pub, 'p2', id, 2);
      // The newest flow is always open when the clock moves on, but never for long.
      if (id > 1) await pub.send({ cmd: 'pubrel', messageId: id - 1 });
      h.tick(h.config.hibernationGuardMs / 2);
    }
    expect(h.engine.sessions.get('p2-quick')!.spilled).toBe(false);
    expect(h.store.loadInboundQos2('p2-quick')).toEqual([]);
  });

  it('stays stored while a flow waits for its PUBREL, though the same client acknowledges its own deliveries', async () => {
    const h = new EngineHarness({ config: SMALL });
    const both = await subscriber(h, 'p2/in', 1, { clientId: 'p2-both' });
    const other = await publisher(h);
    await publish(both, 'p2/out', 1, 2);
    await publish(other, 'p2/in', 1);
    h.tick(h.config.hibernationGuardMs);
    const session = h.engine.sessions.get('p2-both')!;
    expect(session.spilled).toBe(true);

    // Its PUBACK empties its window, but the QoS 2 flow is still open and overdue: it stays in the store.
    expect(await ackAll(both)).toBe(1);
    expect(session.spilled).toBe(true);
    expect(h.store.loadInboundQos2('p2-both')).toEqual([1]);

    await both.send({ cmd: 'pubrel', messageId: 1 });
    expect(session.spilled).toBe(false);
    expect(h.store.loadInboundQos2('p2-both')).toEqual([]);
  });
});

describe('flow control: a QoS 2 publisher spilled once', () => {
  it('goes back to memory at its first PUBREL after a stall, though its window keeps other flows open', async () => {
    const h = new EngineHarness({ config: SMALL });
    await subscriber(h, 'w2', 0, { clientId: 'w2-sub' });
    const pub = h.client(5);
    await pub.connect({ clientId: 'w2-pub' });
    await publish(pub, 'w2', 1, 2);
    await publish(pub, 'w2', 2, 2);
    h.tick(h.config.hibernationGuardMs);
    const session = h.engine.sessions.get('w2-pub')!;
    expect(session.spilled).toBe(true);

    await pub.send({ cmd: 'pubrel', messageId: 1 });
    await publish(pub, 'w2', 3, 2);
    expect(session.spilled).toBe(false);
    expect(h.store.loadInboundQos2('w2-pub')).toEqual([]);
    expect([...session.inboundQos2]).toEqual([2, 3]);
  });

  it('is not spilled while flow control withholds its PUBRECs, and the wait for its PUBREL starts once they are sent', async () => {
    const h = new EngineHarness({ config: { ...SMALL, stuckSubscriberMs: 60_000 } });
    const sub = await subscriber(h, 'h2', 1, { clientId: 'h2-sub', clean: false, properties: { sessionExpiryInterval: 300 } });
    const pub = h.client(5);
    await pub.connect({ clientId: 'h2-pub' });
    for (let id = 1; id <= 6; id++) await publish(pub, 'h2', id, 2);
    expect(ids(pub.all<IPubrecPacket>('pubrec'))).toEqual([1, 2, 3, 4]);
    for (let id = 1; id <= 4; id++) await pub.send({ cmd: 'pubrel', messageId: id });
    pub.take('pubcomp');

    // Flows 5 and 6 wait for their PUBRECs, not for the client: nothing to spill, however long.
    h.tick(h.config.hibernationGuardMs);
    h.tick(h.config.hibernationGuardMs);
    expect(h.engine.sessions.get('h2-pub')!.spilled).toBe(false);

    // The subscriber catches up: the PUBRECs go out, and the alarm comes before the shard may hibernate.
    for (let i = 0; i < 4; i++) await ackAll(sub);
    expect(ids(pub.all<IPubrecPacket>('pubrec'))).toEqual([5, 6]);
    expect(h.engine.nextWakeAt()! - h.clock.now()).toBeLessThanOrEqual(h.config.hibernationGuardMs);
    h.tick(h.config.hibernationGuardMs);
    expect(h.store.loadInboundQos2('h2-pub')).toEqual([5, 6]);
  });

  it('arms the spill for flows a resumed session brings back into memory (Session Expiry 0)', async () => {
    const h = new EngineHarness({ config: { ...SMALL, connectTimeoutMs: 30_000 } });
    await subscriber(h, 'r2', 0, { clientId: 'r2-sub' });
    const first = h.client(5);
    await first.connect({ clientId: 'r2-pub', clean: false, properties: { sessionExpiryInterval: 300 } });
    await publish(first, 'r2', 3, 2);
    first.close();
    await h.engine.connectionLost(first.id);

    const back = h.client(5);
    expect(await back.connect({ clientId: 'r2-pub', clean: false, properties: { sessionExpiryInterval: 0 } })).toMatchObject({ sessionPresent: true });
    expect(h.store.loadInboundQos2('r2-pub')).toEqual([]);
    expect(h.engine.nextWakeAt()! - h.clock.now()).toBeLessThanOrEqual(h.config.hibernationGuardMs);
    h.tick(h.config.hibernationGuardMs);
    expect(h.store.loadInboundQos2('r2-pub')).toEqual([3]);
  });
});

describe('flow control: withheld acknowledgements and hibernation', () => {
  it('keeps the alarm within the hibernation guard while it withholds acknowledgements, however long the stuck setting', async () => {
    const h = new EngineHarness({ config: { ...SMALL, stuckSubscriberMs: 60_000 } });
    // Persistent, so no spill of a clean session's messages arms the alarm in its place.
    const sub = await subscriber(h, 'g', 1, { clientId: 'slow-guarded', clean: false, properties: { sessionExpiryInterval: 300 } });
    const pub = await publisher(h);
    for (let id = 1; id <= 6; id++) await publish(pub, 'g', id);
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([1, 2, 3, 4]);

    // The platform may hibernate after ten quiet seconds and forget the two withheld PUBACKs; the alarm comes first, and again after it.
    for (let round = 0; round < 3; round++) {
      expect(h.engine.nextWakeAt()! - h.clock.now()).toBeLessThanOrEqual(h.config.hibernationGuardMs);
      h.tick(h.config.hibernationGuardMs);
    }
    expect(pub.all('puback')).toEqual([]);

    // Still a slow subscriber, not a stuck one: its acknowledgements release them.
    const inFlight = sub.all<IPublishPacket>('publish');
    for (const p of inFlight) await sub.send({ cmd: 'puback', messageId: p.messageId });
    expect(ids(pub.all<IPubackPacket>('puback'))).toEqual([5, 6]);
    // With nothing held or in flight, nothing wakes the shard: it may hibernate.
    for (let i = 0; i < 4; i++) await ackAll(sub);
    h.tick(h.config.hibernationGuardMs);
    expect(h.engine.nextWakeAt()).toBeNull();
  });
});
