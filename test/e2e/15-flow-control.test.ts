import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IConnackPacket, IPublishPacket } from 'mqtt-packet';
import { startAdminBroker } from '../support/admin-broker';
import type { AdminCall } from '../support/admin-session';
import { startBroker, testShardCount, type BrokerHandle } from '../support/broker-process';
import { idsOnShards } from '../support/shard-ids';
import { runPaho } from '../support/paho';
import { connackPacket, connectClient, RawWsClient, until, type RecordingClient } from './mqtt-clients';

/**
 * Overload without loss: publishers that flood one subscriber are slowed by
 * withheld acknowledgements instead of having acknowledged messages dropped;
 * a subscriber that stops acknowledging is set aside (its own drops counted)
 * without slowing anyone; QoS 0 floods leave the shard answering CONNECTs.
 *
 * No publish rate bound here (MQTT_MAX_PUBLISH_RATE=0), as in the load test
 * that first showed acknowledged messages being dropped.
 *
 * With four shards (the e2e-4-shards project) the subscribers sit on one
 * shard and the publishers on the others, so every guarantee here is also
 * shown across shards; the admin API's `shard` field confirms where each is.
 */

const ADMIN = { username: 'flow-admin', password: 'flow-admin-password' };
/**
 * Three times the default of 5. The stuck test waits this long once; a healthy
 * subscriber must not look stuck on a loaded test machine, where its
 * acknowledgements were seen to pause for more than 5 s with every core busy.
 */
const STUCK_SECONDS = 15;
let broker: BrokerHandle;
let api: AdminCall;

beforeAll(async () => {
  ({ broker, api } = await startAdminBroker(ADMIN, {
    MQTT_MAX_PUBLISH_RATE: '0',
    MQTT_STUCK_SUBSCRIBER_SECONDS: String(STUCK_SECONDS),
  }));
});
afterAll(async () => {
  await broker?.stop();
});

const SHARDS = Number(testShardCount());
/** Shard `i` of the cluster, wrapping: with one shard every client is on shard 0. */
const shard = (i: number): number => i % SHARDS;

/** Client ids on these shards (by the gateway's hash), unique to this run. */
function placed(name: string, shards: number[]): string[] {
  return idsOnShards(`${name}-${Math.random().toString(16).slice(2, 8)}-`, shards, SHARDS);
}

/** The admin API says these clients' sessions live on these shards. */
async function expectShards(clientIds: string[], shards: number[]): Promise<void> {
  const seen = await Promise.all(clientIds.map(async (id) => (await api<{ shard: number }>('GET', `/sessions/${encodeURIComponent(id)}`)).body.shard));
  expect(seen).toEqual(shards);
}

async function droppedNow(): Promise<number> {
  const res = await api<{ dropped: number }>('GET', '/stats');
  expect(res.status).toBe(200);
  return res.body.dropped;
}

/**
 * A publisher that keeps at most `window` QoS 1/2 messages unacknowledged (or
 * fewer when the CONNACK's Receive Maximum says so) and sends `count`
 * messages `<id>:<seq>`. Resolves with the sequence numbers the broker
 * acknowledged with a success code.
 */
async function publishWindowed(client: RecordingClient, id: string, topic: string, qos: 1 | 2, count: number, window = 100): Promise<number[]> {
  const connack = connackPacket(client) as IConnackPacket;
  const limit = Math.min(window, connack.properties?.receiveMaximum ?? window);
  const acked: number[] = [];
  let next = 0;
  let inFlight = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (inFlight < limit && next < count) {
        const seq = next++;
        inFlight++;
        client.publish(topic, `${id}:${seq}`, { qos }, (err, packet) => {
          inFlight--;
          if (err) return reject(err);
          const reasonCode = (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
          if (reasonCode < 0x80) acked.push(seq);
          if (next === count && inFlight === 0) resolve();
          else pump();
        });
      }
    };
    client.once('close', () => (next < count || inFlight > 0 ? reject(new Error(`${id} closed after ${acked.length} acknowledgements`)) : undefined));
    pump();
  });
  return acked;
}

/** Waits until `done()` or until nothing new arrived for a while (so a broker that lost messages fails the assertion, not the wait). */
async function settle(progress: () => number, done: () => boolean, quietMs = 3000): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  while (!done()) {
    const now = progress();
    if (now !== last) {
      last = now;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > quietMs) {
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function bySender(payloads: string[]): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const p of payloads) {
    const [id, seq] = p.split(':');
    const list = out.get(id) ?? [];
    list.push(Number(seq));
    out.set(id, list);
  }
  return out;
}

const PUBLISHERS = 4;
/** Enough that the subscriber falls behind: without flow control most of these are dropped after being acknowledged. */
const PER_PUBLISHER = { 1: 1000, 2: 1000 } as const;

describe('15 flow control', () => {
  for (const qos of [1, 2] as const) {
    it(`4 -> 1 QoS ${qos} flood: every acknowledged message reaches the subscriber, in order, none dropped`, async () => {
      const droppedBefore = await droppedNow();
      const topic = `flood/q${qos}`;
      // The QoS 1 subscriber is persistent (its queue is the SQLite one), the QoS 2 one is not (its queue is in memory).
      // The subscriber on shard 0, the publishers on the other shards.
      const shards = [0, ...Array.from({ length: PUBLISHERS }, (_, i) => shard(1 + (i % Math.max(1, SHARDS - 1))))];
      const [subId, ...pubIds] = placed(`flood${qos}`, shards);
      const sub = await connectClient(broker.wsUrl, { clientId: subId, ...(qos === 1 ? { clean: false, properties: { sessionExpiryInterval: 300 } } : {}) });
      const payloads: string[] = [];
      sub.on('message', (_t, payload) => payloads.push(payload.toString()));
      await sub.subscribeAsync(topic, { qos });

      const pubs = await Promise.all(pubIds.map((clientId) => connectClient(broker.wsUrl, { clientId })));
      await expectShards([subId, ...pubIds], shards);
      const acked = await Promise.all(pubs.map((p, i) => publishWindowed(p, `p${i}`, topic, qos, PER_PUBLISHER[qos])));
      const total = acked.reduce((n, a) => n + a.length, 0);
      // Backpressure slows the publishers; it refuses nothing.
      expect(total).toBe(PUBLISHERS * PER_PUBLISHER[qos]);

      await settle(() => payloads.length, () => payloads.length >= total);
      const dropped = (await droppedNow()) - droppedBefore;
      const got = bySender(payloads);
      for (let i = 0; i < PUBLISHERS; i++) {
        const received = got.get(`p${i}`) ?? [];
        // Every acknowledged message arrived, once, in the order it was published.
        expect(received.length, `messages of p${i} (dropped ${dropped}, subscriber connected: ${sub.connected})`).toBe(acked[i].length);
        expect(received).toEqual([...acked[i]].sort((a, b) => a - b));
      }
      expect(payloads.length).toBe(total);
      expect(dropped).toBe(0);
      await Promise.all([sub.endAsync(), ...pubs.map((p) => p.endAsync())]);
    }, 180_000);
  }

  it('paho 3.1.1 publishers (one frame per packet, in-flight window of 20) are slowed, not disconnected, and lose nothing', async () => {
    const droppedBefore = await droppedNow();
    const topic = 'flood/paho';
    const sub = await connectClient(broker.wsUrl);
    const payloads: string[] = [];
    sub.on('message', (_t, payload) => payloads.push(payload.toString()));
    await sub.subscribeAsync(topic, { qos: 1 });
    const port = new URL(broker.url).port;
    const count = 1500;
    const runs = await Promise.all(['a', 'b', 'c', 'd'].map((id) => runPaho('flood_publisher.py', ['127.0.0.1', port, topic, id, String(count), '20'], 170_000)));
    const acked = runs.map((run) => {
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout.trim().split('\n').pop()!) as { acked: number[]; connected: boolean };
      expect(result.connected).toBe(true);
      return result.acked;
    });
    expect(acked.map((a) => a.length)).toEqual([count, count, count, count]);
    await settle(() => payloads.length, () => payloads.length >= 4 * count);
    const got = bySender(payloads);
    ['a', 'b', 'c', 'd'].forEach((id, i) => expect(got.get(id), `messages of ${id}`).toEqual([...acked[i]].sort((x, y) => x - y)));
    expect((await droppedNow()) - droppedBefore).toBe(0);
    await sub.endAsync();
  }, 180_000);

  it('a stuck subscriber has its own drops counted and slows no one; the healthy subscriber gets everything', async () => {
    const droppedBefore = await droppedNow();
    const topic = 'shared/feed';
    // Reads its socket but never acknowledges: its window fills and stays full.
    // Stuck and healthy subscribers on shards 0 and 1, the publishers on 2 and 3 (all on 0 with one shard).
    const shards = [0, 1, 2, 3].map(shard);
    const [stuckId, healthyId, ...pubIds] = placed('stuck', shards);
    const stuck = await RawWsClient.open(broker.wsUrl, 5);
    await stuck.connect({ clientId: stuckId });
    stuck.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await stuck.next('suback');

    const healthy = await connectClient(broker.wsUrl, { clientId: healthyId });
    const payloads: string[] = [];
    healthy.on('message', (_t, payload) => payloads.push(payload.toString()));
    await healthy.subscribeAsync(topic, { qos: 1 });

    const count = 1500;
    const pubs = await Promise.all(pubIds.map((clientId) => connectClient(broker.wsUrl, { clientId })));
    await expectShards([stuckId, healthyId, ...pubIds], shards);
    const acked = await Promise.all(pubs.map((p, i) => publishWindowed(p, `s${i}`, topic, 1, count)));
    // The publishers got through everything: the stuck subscriber held no one back for good.
    expect(acked.map((a) => a.length)).toEqual([count, count]);

    await settle(() => payloads.length, () => payloads.length >= 2 * count);
    const got = bySender(payloads);
    for (let i = 0; i < pubs.length; i++) expect(got.get(`s${i}`)).toEqual([...acked[i]].sort((a, b) => a - b));

    // The stuck subscriber saw its window's worth and nothing after that it did not acknowledge.
    const stuckPublishes = stuck.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
    expect(stuckPublishes.length).toBeGreaterThan(0);
    expect(stuckPublishes.length).toBeLessThanOrEqual(100);

    const view = await api<{ droppedMessages: number; queueDepth: number; inflight: number }>('GET', `/sessions/${stuckId}`);
    expect(view.status).toBe(200);
    expect(view.body.droppedMessages).toBeGreaterThan(0);
    // Everything it was sent, queued or dropped adds up to what was published.
    expect(view.body.inflight + view.body.queueDepth + view.body.droppedMessages).toBe(2 * count);
    // The only drops in the shard are the stuck subscriber's.
    expect((await droppedNow()) - droppedBefore).toBe(view.body.droppedMessages);

    stuck.close();
    await Promise.all([healthy.endAsync(), ...pubs.map((p) => p.endAsync())]);
  }, 180_000);

  it('a subscriber that is behind slows only the publisher of its messages: another publisher on the same shards goes on', async () => {
    // Its own broker: a subscriber is judged stuck only after 120 s here, so the one held back stays held for the whole test.
    const own = await startBroker({ vars: { MQTT_MAX_PUBLISH_RATE: '0', MQTT_STUCK_SUBSCRIBER_SECONDS: '120', MQTT_MAX_INFLIGHT_OUT: '10' } });
    try {
      // Both subscribers on one shard, both publishers on another (the same shard with one).
      const [slowId, healthyId, heldId, freeId] = placed('hol', [1, 1, 0, 0].map(shard));
      const slow = await RawWsClient.open(own.wsUrl, 5);
      await slow.connect({ clientId: slowId });
      slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'hol/held', qos: 1 }] });
      await slow.next('suback');
      const healthy = await connectClient(own.wsUrl, { clientId: healthyId });
      const got: string[] = [];
      healthy.on('message', (_t, payload) => got.push(payload.toString()));
      await healthy.subscribeAsync('hol/free', { qos: 1 });

      // The slow subscriber reads but never acknowledges: its window (10) fills, its queue grows, and the
      // publisher of its messages is held at the acknowledgements it has not had.
      const held = await connectClient(own.wsUrl, { clientId: heldId });
      let heldAcks = 0;
      held.on('packetreceive', (p) => (p.cmd === 'puback' ? heldAcks++ : undefined));
      void publishWindowed(held, 'held', 'hol/held', 1, 400, 50).catch(() => undefined);
      await settle(() => heldAcks, () => false, 2000);
      expect(heldAcks).toBeLessThan(400);
      const heldAt = heldAcks;

      // Another publisher, to a healthy subscriber on the same shard, is not held behind it.
      const free = await connectClient(own.wsUrl, { clientId: freeId });
      const acked = await publishWindowed(free, 'free', 'hol/free', 1, 150, 50);
      expect(acked).toHaveLength(150);
      await settle(() => got.length, () => got.length >= 150);
      expect(bySender(got).get('free')).toEqual(acked);
      expect(free.connected).toBe(true);
      // The first publisher was held all along: nothing of it was acknowledged meanwhile.
      expect(heldAcks).toBe(heldAt);
      slow.close();
      await Promise.all([healthy.endAsync(), held.endAsync(true), free.endAsync()]);
    } finally {
      await own.stop();
    }
  }, 180_000);

  it('a new client gets its CONNACK while four publishers keep flooding at QoS 0', async () => {
    const sub = await connectClient(broker.wsUrl);
    await sub.subscribeAsync('q0flood/#', { qos: 0 });
    const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, () => connectClient(broker.wsUrl)));
    let flooding = true;
    const sent = pubs.map(() => 0);
    const floods = pubs.map(async (p, i) => {
      const body = 'x'.repeat(64);
      while (flooding) {
        // Batches of 200, each batch written to the socket before the next.
        await Promise.all(Array.from({ length: 200 }, () => p.publishAsync(`q0flood/${i}`, body, { qos: 0 })));
        sent[i] += 200;
      }
    });
    // The flood is under way before the newcomer knocks.
    await until(() => sent.every((n) => n >= 600), 60_000, 'publishers flooding');

    // How fast it comes is the benchmark's business; here only that it comes while the flood goes on.
    // No keepalive of its own: on a loaded machine its PINGREQ can wait behind the flood's backlog as its CONNECT did.
    const newcomer = await connectClient(broker.wsUrl, { protocolVersion: 4, connectTimeout: 120_000, keepalive: 0 });
    expect(connackPacket(newcomer).returnCode).toBe(0);
    // The publishers were still going when the CONNACK arrived, and kept going after it.
    const atConnack = [...sent];
    await until(() => sent.every((n, i) => n > atConnack[i]), 60_000, 'publishers still flooding');
    expect(pubs.every((p) => p.connected)).toBe(true);
    // The shard serves the newcomer beyond its CONNECT: a SUBSCRIBE it sent during the flood is answered (perhaps
    // only after the flood). The flood stops once it is sent, so the backlog ahead of it is finite however slow the machine.
    const subscribed = newcomer.subscribeAsync('after/flood', { qos: 1 });
    flooding = false;
    await Promise.all(floods);
    expect((await subscribed).map((g) => g.qos)).toEqual([1]);
    await Promise.all([newcomer.endAsync(), sub.endAsync(), ...pubs.map((p) => p.endAsync())]);
  }, 180_000);
});
