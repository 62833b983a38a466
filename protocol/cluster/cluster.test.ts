import { describe, expect, it } from 'vitest';
import type { IPubcompPacket, IPublishPacket, IPubrecPacket, ISubackPacket } from 'mqtt-packet';
import { ClusterHarness } from './testing/cluster-harness';
import { ROUTE_WAIT_MS } from './cluster-node';
import type { TestClient } from '../engine/testing/engine-harness';

const text = (p: IPublishPacket) => Buffer.from(p.payload as Uint8Array).toString();

/** Connects a 5.0 client whose id lands on `shard`, on that shard. */
async function clientOn(c: ClusterHarness, shard: number, name: string, fields: Record<string, unknown> = {}): Promise<TestClient> {
  const clientId = c.clientIdOn(shard, name);
  const client = c.shards[shard].client(5);
  const connack = await client.connect({ clientId, ...fields });
  expect(connack).toMatchObject({ reasonCode: 0 });
  return client;
}

async function subscribe(c: ClusterHarness, client: TestClient, filter: string, qos: 0 | 1 | 2 = 1, extra: Record<string, unknown> = {}): Promise<ISubackPacket> {
  const done = client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos, ...extra }] });
  await c.settle();
  await done;
  return client.take<ISubackPacket>('suback');
}

/** The subscriber acknowledges what it has, round after round, until `count` messages came; their payloads, in order. */
async function ackUntil(c: ClusterHarness, sub: TestClient, count: number): Promise<string[]> {
  const seen: string[] = [];
  for (let round = 0; round < 20 && seen.length < count; round++) {
    for (const p of sub.all<IPublishPacket>('publish')) {
      seen.push(text(p));
      await sub.send({ cmd: 'puback', messageId: p.messageId });
    }
    await c.settle();
  }
  return seen;
}

describe('one broker over several shards', () => {
  it('delivers a QoS 1 message across shards and acknowledges it only once the receiving shard has it', async () => {
    const c = new ClusterHarness(4);
    const sub = await clientOn(c, 1, 'sub');
    expect((await subscribe(c, sub, 'room/+/temp')).granted).toEqual([1]);
    const pub = await clientOn(c, 3, 'pub');

    c.down.add(1);
    await pub.send({ cmd: 'publish', topic: 'room/1/temp', payload: Buffer.from('21.5'), qos: 1, messageId: 7, retain: false });
    await c.settle();
    // Shard 1 is unreachable: the message waits in shard 3's outbox, and so does the PUBACK.
    expect(pub.received.filter((p) => p.cmd === 'puback')).toHaveLength(0);
    expect(c.clusterStores[3].pending(1)).toBe(1);

    c.down.delete(1);
    await c.tick(6000);
    expect(pub.take('puback')).toMatchObject({ messageId: 7, reasonCode: 0 });
    const got = sub.all<IPublishPacket>('publish');
    expect(got.map(text)).toEqual(['21.5']);
    expect(got[0]).toMatchObject({ topic: 'room/1/temp', qos: 1 });
    expect(c.clusterStores[3].pending(1)).toBe(0);
  });

  it('sends a publish only to the shards that subscribe to it', async () => {
    const c = new ClusterHarness(4);
    const sub = await clientOn(c, 2, 'sub');
    await subscribe(c, sub, 'only/2');
    const before = c.batches.length;
    const pub = await clientOn(c, 0, 'pub');
    await pub.send({ cmd: 'publish', topic: 'only/2', payload: Buffer.from('x'), qos: 0, retain: false });
    await pub.send({ cmd: 'publish', topic: 'nobody/listens', payload: Buffer.from('y'), qos: 0, retain: false });
    await c.settle();
    const sent = c.batches.slice(before);
    expect(sent.map((b) => [b.from, b.to])).toEqual([[0, 2]]);
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['x']);
  });

  it('answers SUBACK only once every shard has the route, so a publish right after it is delivered', async () => {
    const c = new ClusterHarness(3);
    const sub = await clientOn(c, 0, 'sub');
    const pub = await clientOn(c, 2, 'pub');
    c.down.add(2);
    const subscribed = sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'news/#', qos: 1 }] });
    await c.settle();
    expect(sub.received.filter((p) => p.cmd === 'suback')).toHaveLength(0);
    c.down.delete(2);
    await c.tick(6000);
    await subscribed;
    expect(sub.take<ISubackPacket>('suback').granted).toEqual([1]);
    await pub.send({ cmd: 'publish', topic: 'news/today', payload: Buffer.from('hello'), qos: 1, messageId: 1, retain: false });
    await c.settle();
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['hello']);
  });

  it('stops holding SUBACKs for a shard unreachable for ROUTE_WAIT_MS, and gives it the route when it is back', async () => {
    const c = new ClusterHarness(3);
    const sub = await clientOn(c, 0, 'sub');
    const pub = await clientOn(c, 2, 'pub');
    const local = await clientOn(c, 1, 'local-pub');
    c.down.add(2);
    const subscribed = sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'news/#', qos: 1 }] });
    await c.settle();
    // Short of the bound the SUBACK still waits.
    await c.tick(ROUTE_WAIT_MS / 2);
    expect(sub.received.filter((p) => p.cmd === 'suback')).toHaveLength(0);
    // Retries back off (100 ms doubling, at most 5 s): within two more bounds one fails past it.
    for (let i = 0; i < 10 && sub.received.every((p) => p.cmd !== 'suback'); i++) await c.tick(1000);
    await subscribed;
    expect(sub.take<ISubackPacket>('suback').granted).toEqual([1]);
    // The reachable shards have the route: a publish there reaches the subscription.
    await local.send({ cmd: 'publish', topic: 'news/local', payload: Buffer.from('from shard 1'), qos: 1, messageId: 1, retain: false });
    await c.settle();
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['from shard 1']);
    // A later SUBSCRIBE does not wait for the shard that is still down.
    const again = sub.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'alerts/#', qos: 1 }] });
    await c.settle();
    await again;
    expect(sub.take<ISubackPacket>('suback').granted).toEqual([1]);
    // Back: the routes reach it, and its publishes reach the subscription.
    c.down.delete(2);
    await c.tick(6000);
    await pub.send({ cmd: 'publish', topic: 'news/today', payload: Buffer.from('hello'), qos: 1, messageId: 1, retain: false });
    await pub.send({ cmd: 'publish', topic: 'alerts/fire', payload: Buffer.from('alert'), qos: 1, messageId: 2, retain: false });
    await c.settle();
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['hello', 'alert']);
  });

  it('stops holding SUBACKs for a shard whose call does not answer within ROUTE_WAIT_MS', async () => {
    const c = new ClusterHarness(3);
    const sub = await clientOn(c, 0, 'sub');
    // Shard 2 takes the call and never answers (a hung object; RPC has no timeout of its own).
    c.delayReceipts.add(2);
    const subscribed = sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'news/#', qos: 1 }] });
    await c.settle();
    await c.tick(ROUTE_WAIT_MS - 1);
    expect(sub.received.filter((p) => p.cmd === 'suback')).toHaveLength(0);
    await c.tick(1);
    await subscribed;
    expect(sub.take<ISubackPacket>('suback').granted).toEqual([1]);
    // The answer comes at last: the link goes on as before.
    c.delayReceipts.delete(2);
    c.releaseReceipts();
    await c.settle();
    const again = sub.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'alerts/#', qos: 1 }] });
    await c.settle();
    await again;
    expect(sub.take<ISubackPacket>('suback').granted).toEqual([1]);
  });

  it('applies a batch once when its receipt was lost, so QoS 2 stays exactly once', async () => {
    const c = new ClusterHarness(2);
    const sub = await clientOn(c, 1, 'sub');
    await subscribe(c, sub, 'exactly/once', 2);
    const pub = await clientOn(c, 0, 'pub');
    c.loseReceipts.add(1);
    await pub.send({ cmd: 'publish', topic: 'exactly/once', payload: Buffer.from('1'), qos: 2, messageId: 5, retain: false });
    await c.settle();
    c.loseReceipts.delete(1);
    await c.tick(6000);
    expect(pub.take('pubrec')).toMatchObject({ messageId: 5 });
    await pub.send({ cmd: 'pubrel', messageId: 5 });
    await c.settle();
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['1']);
    expect(c.batches.filter((b) => b.to === 1 && b.entries.some((e) => e.entry.kind === 'publish')).length).toBe(2);
  });

  it('keeps what was acknowledged when the publishing shard restarts before the other shard confirmed it', async () => {
    const c = new ClusterHarness(2);
    const sub = await clientOn(c, 1, 'sub', { clean: false, properties: { sessionExpiryInterval: 600 } });
    await subscribe(c, sub, 'durable/+');
    const pub = await clientOn(c, 0, 'pub');
    c.loseReceipts.add(1);
    await pub.send({ cmd: 'publish', topic: 'durable/a', payload: Buffer.from('kept'), qos: 1, messageId: 9, retain: false });
    await c.settle();
    c.shards[0].restart();
    c.loseReceipts.delete(1);
    await c.tick(100);
    // Applied once before the restart, sent again after it, dropped as a duplicate.
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['kept']);
    expect(c.clusterStores[0].pending(1)).toBe(0);
  });

  it('delivers a QoS 1 message to a persistent session on another shard while it is offline, and on resume', async () => {
    const c = new ClusterHarness(3);
    const fields = { clean: false, properties: { sessionExpiryInterval: 600 } };
    const sub = await clientOn(c, 2, 'sub', fields);
    await subscribe(c, sub, 'queue/me');
    sub.close();
    const pub = await clientOn(c, 1, 'pub');
    for (let i = 0; i < 3; i++) await pub.send({ cmd: 'publish', topic: 'queue/me', payload: Buffer.from(`m${i}`), qos: 1, messageId: i + 1, retain: false });
    await c.settle();
    expect(pub.all('puback')).toHaveLength(3);
    const back = c.shards[2].client(5);
    const connack = await back.connect({ clientId: c.clientIdOn(2, 'sub'), ...fields });
    expect(connack).toMatchObject({ sessionPresent: true });
    expect(back.all<IPublishPacket>('publish').map(text)).toEqual(['m0', 'm1', 'm2']);
  });
});

describe('what crosses between shards', () => {
  it('carries MQTT 5 properties and will user properties as plain data that RPC can clone', async () => {
    const c = new ClusterHarness(2);
    const sub = await clientOn(c, 1, 'sub');
    await subscribe(c, sub, 'props/#');
    const pub = await clientOn(c, 0, 'pub', { will: { topic: 'props/will', payload: Buffer.from('gone'), qos: 1, retain: false, properties: { userProperties: { why: 'lost' } } } });
    const properties = { userProperties: { tenant: 'acme', tag: ['a', 'b'] }, correlationData: Buffer.from([1, 2]), contentType: 'text/plain', responseTopic: 'props/reply' };
    await pub.send({ cmd: 'publish', topic: 'props/req', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: false, properties });
    await c.settle();
    expect(pub.take('puback')).toMatchObject({ messageId: 1 });
    pub.close();
    await c.settle();
    const [req, will] = sub.all<IPublishPacket>('publish');
    expect(req.properties).toMatchObject({ userProperties: { tenant: 'acme', tag: ['a', 'b'] }, contentType: 'text/plain', responseTopic: 'props/reply' });
    expect([...(req.properties!.correlationData as Buffer)]).toEqual([1, 2]);
    expect(will.properties?.userProperties).toEqual({ why: 'lost' });
  });
});

describe('retained messages are global', () => {
  it('stores a retained message on its home shard and gives it once to a subscriber on any shard', async () => {
    const c = new ClusterHarness(4);
    const topic = c.topicHomedOn(2, 'state');
    const pub = await clientOn(c, 0, 'pub');
    await pub.send({ cmd: 'publish', topic, payload: Buffer.from('on'), qos: 1, messageId: 1, retain: true });
    await c.settle();
    expect(pub.take('puback')).toMatchObject({ messageId: 1 });
    expect(c.shards[2].engine.retained.get(topic)).toBeDefined();
    expect(c.shards[0].engine.retained.get(topic)).toBeUndefined();

    for (const shard of [0, 1, 2, 3]) {
      const sub = await clientOn(c, shard, `sub${shard}`);
      await subscribe(c, sub, 'state/#');
      await c.settle();
      const got = sub.all<IPublishPacket>('publish');
      expect(got.map((p) => [p.topic, text(p), p.retain])).toEqual([[topic, 'on', true]]);
    }

    // An empty retained message deletes it at its home.
    await pub.send({ cmd: 'publish', topic, payload: Buffer.alloc(0), qos: 1, messageId: 2, retain: true });
    await c.settle();
    expect(c.shards[2].engine.retained.get(topic)).toBeUndefined();
  });

  it('gives a new subscriber the retained messages of the shards it can reach, and keeps its connection, when one cannot be asked', async () => {
    const c = new ClusterHarness(3);
    const pub = await clientOn(c, 0, 'pub');
    const reachable = c.topicHomedOn(1, 'state');
    const unreachable = c.topicHomedOn(2, 'state');
    await pub.send({ cmd: 'publish', topic: reachable, payload: Buffer.from('one'), qos: 1, messageId: 1, retain: true });
    await pub.send({ cmd: 'publish', topic: unreachable, payload: Buffer.from('two'), qos: 1, messageId: 2, retain: true });
    await c.settle();
    // Another client already holds the filter, so its route is known everywhere and the SUBACK does not wait.
    const other = await clientOn(c, 0, 'other');
    await subscribe(c, other, 'state/#');
    c.down.add(2);
    const sub = await clientOn(c, 0, 'sub');
    await subscribe(c, sub, 'state/#');
    await c.settle();
    expect(sub.received.filter((p) => p.cmd === 'disconnect')).toEqual([]);
    expect(sub.closed).toBe(false);
    expect(sub.all<IPublishPacket>('publish').map((p) => [text(p), p.retain])).toEqual([['one', true]]);
    // The connection goes on as before.
    await sub.send({ cmd: 'pingreq' });
    expect(sub.all('pingresp')).toHaveLength(1);
  });

  it('does not send a retained message from another shard after a newer live message on its topic reached the subscriber', async () => {
    const c = new ClusterHarness(3);
    const pub = await clientOn(c, 0, 'pub');
    const changed = c.topicHomedOn(2, 'state');
    const unchanged = c.topicHomedOn(2, `${changed}-other`);
    await pub.send({ cmd: 'publish', topic: changed, payload: Buffer.from('old'), qos: 1, messageId: 1, retain: true });
    await pub.send({ cmd: 'publish', topic: unchanged, payload: Buffer.from('kept'), qos: 1, messageId: 2, retain: true });
    await c.settle();
    const sub = await clientOn(c, 1, 'sub');
    // Shard 2's answer with the retained messages is slow; a newer value of one topic goes out meanwhile.
    c.delayRetained.add(2);
    const subscribed = sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'state/#', qos: 1 }] });
    await c.settle();
    expect(sub.take<ISubackPacket>('suback').granted).toEqual([1]);
    await pub.send({ cmd: 'publish', topic: changed, payload: Buffer.from('new'), qos: 1, messageId: 3, retain: false });
    await c.settle();
    c.releaseRetained();
    await c.settle();
    await subscribed;
    expect(sub.all<IPublishPacket>('publish').map((p) => [p.topic, text(p), p.retain])).toEqual([
      [changed, 'new', false],
      [unchanged, 'kept', true],
    ]);
  });

  it('sends the newest retained message to a session that subscribes again after its connection ended during a slow answer', async () => {
    const c = new ClusterHarness(3);
    const fields = { clean: false, properties: { sessionExpiryInterval: 3600 } };
    const pub = await clientOn(c, 0, 'pub');
    const topic = c.topicHomedOn(2, 'state');
    await pub.send({ cmd: 'publish', topic, payload: Buffer.from('old'), qos: 1, messageId: 1, retain: true });
    await c.settle();
    c.delayRetained.add(2);
    const sub = await clientOn(c, 1, 'sub', fields);
    void sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'state/#', qos: 0 }] });
    await c.settle();
    sub.close();
    await c.settle();
    // While the session is offline a newer value is retained (QoS 0: not queued for it).
    await pub.send({ cmd: 'publish', topic, payload: Buffer.from('new'), qos: 0, retain: true });
    await c.settle();
    const again = c.shards[1].client(5);
    await again.connect({ clientId: c.clientIdOn(1, 'sub'), ...fields });
    const resubscribed = again.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'state/#', qos: 0 }] });
    await c.settle();
    c.releaseRetained();
    await c.settle();
    await resubscribed;
    expect(again.all<IPublishPacket>('publish').map((p) => [p.topic, text(p), p.retain])).toEqual([[topic, 'new', true]]);
  });

  it('asks only the home shard for a filter without wildcards', async () => {
    const c = new ClusterHarness(4);
    const topic = c.topicHomedOn(3, 'exact');
    const pub = await clientOn(c, 1, 'pub');
    await pub.send({ cmd: 'publish', topic, payload: Buffer.from('v'), qos: 0, retain: true });
    await c.settle();
    const sub = await clientOn(c, 0, 'sub');
    await subscribe(c, sub, topic, 0);
    expect(sub.all<IPublishPacket>('publish').map(text)).toEqual(['v']);
  });
});

describe('shared subscriptions across shards', () => {
  it('gives each message to exactly one member of the group, wherever the members are', async () => {
    const c = new ClusterHarness(4);
    const members = [];
    for (const shard of [1, 2, 3]) {
      const m = await clientOn(c, shard, `worker${shard}`);
      await subscribe(c, m, '$share/workers/jobs/#');
      members.push(m);
    }
    const pub = await clientOn(c, 0, 'pub');
    for (let i = 0; i < 30; i++) await pub.send({ cmd: 'publish', topic: `jobs/${i}`, payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false });
    await c.settle();
    expect(pub.all('puback')).toHaveLength(30);
    const received = members.map((m) => m.all<IPublishPacket>('publish').map(text));
    const all = received.flat().map(Number).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 30 }, (_, i) => i));
    for (const r of received) expect(r.length).toBeGreaterThan(0);
  });

  /** Members on shards 0 and 1 and a publisher on 0; returns what each member got and the batches sent. */
  async function localAndRemoteMembers(policy?: 'prefer_local' | 'round_robin') {
    const c = new ClusterHarness(2, policy ? { config: { sharedSubscriptionPolicy: policy } } : {});
    const local = await clientOn(c, 0, 'local-worker');
    await subscribe(c, local, '$share/workers/jobs/#');
    const remote = await clientOn(c, 1, 'remote-worker');
    await subscribe(c, remote, '$share/workers/jobs/#');
    const pub = await clientOn(c, 0, 'pub');
    const before = c.batches.length;
    for (let i = 0; i < 10; i++) await pub.send({ cmd: 'publish', topic: `jobs/${i}`, payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false });
    await c.settle();
    expect(pub.all('puback')).toHaveLength(10);
    return { c, local, remote, pub, batches: c.batches.length - before };
  }

  it('prefers a connected member on the publisher’s shard (prefer_local, the default): no call to another shard', async () => {
    const { c, local, remote, pub, batches } = await localAndRemoteMembers();
    expect(local.all<IPublishPacket>('publish').map(text)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(remote.all('publish')).toHaveLength(0);
    expect(batches).toBe(0);
    // Once the local member is gone, the member on the other shard gets the messages.
    local.close();
    await c.settle();
    await pub.send({ cmd: 'publish', topic: 'jobs/after', payload: Buffer.from('after'), qos: 1, messageId: 11, retain: false });
    await c.settle();
    expect(remote.all<IPublishPacket>('publish').map(text)).toEqual(['after']);
  });

  it('takes turns between the shards with members under round_robin', async () => {
    const { local, remote, batches } = await localAndRemoteMembers('round_robin');
    const here = local.all<IPublishPacket>('publish').map(text);
    const there = remote.all<IPublishPacket>('publish').map(text);
    expect(here.length).toBeGreaterThan(0);
    expect(there.length).toBeGreaterThan(0);
    expect([...here, ...there].map(Number).sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect(batches).toBeGreaterThan(0);
  });
});

describe('shared subscriptions across shards: connected members first', () => {
  const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } };
  const publishJobs = async (pub: TestClient, count: number, from = 0) => {
    for (let i = from; i < from + count; i++) await pub.send({ cmd: 'publish', topic: `jobs/${i}`, payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false });
  };
  const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => String(from + i));

  /** An offline persistent member on shard 1, a connected member on shard 2, the publisher on shard 0. */
  async function offlineAndConnectedMembers(policy: 'prefer_local' | 'round_robin') {
    const c = new ClusterHarness(3, { config: { sharedSubscriptionPolicy: policy } });
    const away = await clientOn(c, 1, 'away-worker', persistent);
    await subscribe(c, away, '$share/workers/jobs/#');
    away.close();
    const online = await clientOn(c, 2, 'online-worker');
    await subscribe(c, online, '$share/workers/jobs/#');
    const pub = await clientOn(c, 0, 'pub');
    await c.settle();
    return { c, online, pub };
  }

  /** The offline member comes back on shard 1: what its session had queued. */
  async function queuedForAway(c: ClusterHarness): Promise<string[]> {
    const back = c.shards[1].client(5);
    expect(await back.connect({ clientId: c.clientIdOn(1, 'away-worker'), ...persistent })).toMatchObject({ sessionPresent: true });
    await c.settle();
    return back.all<IPublishPacket>('publish').map(text);
  }

  for (const policy of ['prefer_local', 'round_robin'] as const) {
    it(`gives every message to the connected member on another shard, none to an offline member's queue (${policy})`, async () => {
      const { c, online, pub } = await offlineAndConnectedMembers(policy);
      await publishJobs(pub, 10);
      await c.settle();
      expect(pub.all('puback')).toHaveLength(10);
      expect(online.all<IPublishPacket>('publish').map(text)).toEqual(range(0, 10));
      expect(await queuedForAway(c)).toEqual([]);
    });
  }

  it('queues for the offline persistent member once no member is connected anywhere', async () => {
    const { c, online, pub } = await offlineAndConnectedMembers('round_robin');
    online.close();
    await c.settle();
    await publishJobs(pub, 5);
    await c.settle();
    expect(pub.all('puback')).toHaveLength(5);
    expect(await queuedForAway(c)).toEqual(range(0, 5));
  });

  it('passes a message on to a shard with a connected member, not to one with an offline member, when the chosen shard’s member left before the sender heard', async () => {
    const c = new ClusterHarness(4, { config: { sharedSubscriptionPolicy: 'round_robin' } });
    const away = await clientOn(c, 1, 'away-worker', persistent);
    await subscribe(c, away, '$share/workers/jobs/#');
    away.close();
    const online = await clientOn(c, 2, 'online-worker');
    await subscribe(c, online, '$share/workers/jobs/#');
    const leaving = await clientOn(c, 3, 'leaving-worker');
    await subscribe(c, leaving, '$share/workers/jobs/#');
    const pub = await clientOn(c, 0, 'pub');
    await c.settle();
    // Shard 3's member leaves while shard 0 cannot be told: shard 0 still offers shard 3 its turns.
    c.down.add(0);
    leaving.close();
    await c.settle();
    await publishJobs(pub, 10);
    await c.settle();
    expect(c.batches.some((b) => b.from === 3 && b.to === 2 && b.entries.some((e) => e.entry.kind === 'publish'))).toBe(true);
    expect(online.all<IPublishPacket>('publish').map(text).sort((a, b) => Number(a) - Number(b))).toEqual(range(0, 10));
    // The acks of what shard 3 passed on wait for shard 3's word, which reaches shard 0 once it can be called again.
    c.down.delete(0);
    await c.tick(6000);
    expect(pub.all('puback')).toHaveLength(10);
    expect(await queuedForAway(c)).toEqual([]);
  });

  it('queues for its own persistent member rather than pass a message to a shard whose member may be gone too', async () => {
    const { c, online, pub } = await offlineAndConnectedMembers('round_robin');
    // Shard 2's member leaves; shard 0 hears of it, shard 1 does not (its route lane from shard 2 is backing off).
    c.down.add(1);
    online.close();
    await c.settle();
    for (let i = 0; i < 8; i++) await c.tick(1000);
    await c.tick(c.shards[2].engine.cluster.nextWakeAt()! - c.clock.now());
    await publishJobs(pub, 1);
    await c.settle(5);
    c.down.delete(1);
    await c.tick(200);
    await c.tick(6000);
    expect(pub.all('puback')).toHaveLength(1);
    expect(await queuedForAway(c)).toEqual(['0']);
  });

  it('passes a message on to a connected member when the chosen shard’s member left and would not queue it (QoS 0 subscription)', async () => {
    const c = new ClusterHarness(3, { config: { sharedSubscriptionPolicy: 'round_robin' } });
    const away = await clientOn(c, 1, 'away-worker', persistent);
    await subscribe(c, away, '$share/workers/jobs/#', 0);
    const online = await clientOn(c, 2, 'online-worker');
    await subscribe(c, online, '$share/workers/jobs/#');
    const pub = await clientOn(c, 0, 'pub');
    await c.settle();
    // Shard 1's member leaves while shard 0 cannot be told: shard 0 still offers shard 1 its turns.
    c.down.add(0);
    away.close();
    await c.settle();
    await publishJobs(pub, 10);
    await c.settle();
    c.down.delete(0);
    await c.tick(6000);
    expect(pub.all('puback')).toHaveLength(10);
    expect(online.all<IPublishPacket>('publish').map(text).sort((a, b) => Number(a) - Number(b))).toEqual(range(0, 10));
  });

  it('sends a QoS 0 message to no shard whose group members are all offline, and queues a QoS 1 one on one of them', async () => {
    const c = new ClusterHarness(3);
    for (const shard of [1, 2]) {
      const away = await clientOn(c, shard, `away-${shard}`, persistent);
      await subscribe(c, away, '$share/workers/jobs/#');
      away.close();
    }
    const pub = await clientOn(c, 0, 'pub');
    await c.settle();
    const before = c.batches.length;
    await pub.send({ cmd: 'publish', topic: 'jobs/q0', payload: Buffer.from('q0'), qos: 0, retain: false });
    await c.settle();
    // An offline session does not queue QoS 0: asking the shards with offline members would only cost calls.
    expect(c.batches.slice(before).filter((b) => b.entries.some((e) => e.entry.kind === 'publish'))).toEqual([]);
    await pub.send({ cmd: 'publish', topic: 'jobs/q1', payload: Buffer.from('q1'), qos: 1, messageId: 1, retain: false });
    await c.settle();
    expect(pub.take('puback')).toMatchObject({ messageId: 1, reasonCode: 0 });
    const queued: string[] = [];
    for (const shard of [1, 2]) {
      const back = c.shards[shard].client(5);
      await back.connect({ clientId: c.clientIdOn(shard, `away-${shard}`), ...persistent });
      await c.settle();
      queued.push(...back.all<IPublishPacket>('publish').map(text));
    }
    expect(queued).toEqual(['q1']);
  });

  it('answers PUBACK 0x00, not 0x10, when a shared group matched but its only member is offline at QoS 0', async () => {
    const c = new ClusterHarness(1);
    const member = await clientOn(c, 0, 'member', persistent);
    await subscribe(c, member, '$share/g/jobs/#', 0);
    member.close();
    const plain = await clientOn(c, 0, 'plain', persistent);
    await subscribe(c, plain, 'direct/#', 0);
    plain.close();
    const pub = await clientOn(c, 0, 'pub');
    await pub.send({ cmd: 'publish', topic: 'jobs/1', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false });
    await pub.send({ cmd: 'publish', topic: 'direct/1', payload: Buffer.from('1'), qos: 1, messageId: 2, retain: false });
    await pub.send({ cmd: 'publish', topic: 'nobody/1', payload: Buffer.from('1'), qos: 1, messageId: 3, retain: false });
    await c.settle();
    expect(pub.all('puback')).toMatchObject([
      { messageId: 1, reasonCode: 0 },
      { messageId: 2, reasonCode: 0 },
      { messageId: 3, reasonCode: 0x10 },
    ]);
  });

  it('does not hold a SUBACK for the news that a member connected', async () => {
    const c = new ClusterHarness(3);
    const member = await clientOn(c, 1, 'member', persistent);
    await subscribe(c, member, '$share/workers/jobs/#');
    member.close();
    const first = await clientOn(c, 1, 'first');
    await subscribe(c, first, 'news/#');
    await c.settle();
    // Shard 2 cannot be reached; the member comes back, which shard 1 tells the others.
    c.down.add(2);
    const back = c.shards[1].client(5);
    await back.connect({ clientId: c.clientIdOn(1, 'member'), ...persistent });
    // A filter every shard already has a route for: nothing to wait for.
    const second = await clientOn(c, 1, 'second');
    const subscribed = second.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'news/#', qos: 1 }] });
    await c.settle();
    await subscribed;
    expect(second.take<ISubackPacket>('suback').granted).toEqual([1]);
  });

  it('knows which shards have a connected member after the publisher’s shard restarts', async () => {
    const { c, online, pub } = await offlineAndConnectedMembers('round_robin');
    pub.close();
    c.shards[0].restart();
    const again = await clientOn(c, 0, 'pub-again');
    await publishJobs(again, 6);
    await c.settle();
    expect(again.all('puback')).toHaveLength(6);
    expect(online.all<IPublishPacket>('publish').map(text)).toEqual(range(0, 6));
    expect(await queuedForAway(c)).toEqual([]);
  });

  it('tells the other shards its members are gone when a restart drops their connections', async () => {
    const { c, online, pub } = await offlineAndConnectedMembers('round_robin');
    // Shard 2 restarts: its member's socket is gone, so only the offline member's queue can take the messages.
    c.shards[2].restart();
    await c.settle();
    expect(online.closed).toBe(true);
    await publishJobs(pub, 4);
    await c.settle();
    expect(pub.all('puback')).toHaveLength(4);
    expect(await queuedForAway(c)).toEqual(range(0, 4));
  });
});

describe('shared subscriptions and topic ACLs across shards', () => {
  it('passes a message on to a shard whose member may read it when the chosen shard has none', async () => {
    const authorizer = {
      canPublish: () => true,
      canSubscribe: () => true,
      canReceive: (p: { clientId: string }, topic: string) => !(p.clientId.startsWith('viewer') && topic.includes('secret')),
    };
    const c = new ClusterHarness(3, { authorizer });
    const viewer = await clientOn(c, 1, 'viewer');
    const root = await clientOn(c, 2, 'root');
    for (const m of [viewer, root]) await subscribe(c, m, '$share/g/sensors/#');
    const pub = await clientOn(c, 0, 'pub');
    for (let i = 0; i < 4; i++) await pub.send({ cmd: 'publish', topic: 'sensors/secret', payload: Buffer.from(`s${i}`), qos: 1, messageId: i + 1, retain: false });
    for (let i = 0; i < 4; i++) await pub.send({ cmd: 'publish', topic: 'sensors/public', payload: Buffer.from(`p${i}`), qos: 1, messageId: i + 11, retain: false });
    await c.settle();
    const toRoot = root.all<IPublishPacket>('publish').map(text);
    const toViewer = viewer.all<IPublishPacket>('publish').map(text);
    expect(toRoot.filter((t) => t.startsWith('s')).sort()).toEqual(['s0', 's1', 's2', 's3']);
    expect(toViewer.filter((t) => t.startsWith('s'))).toEqual([]);
    expect([...toRoot, ...toViewer].filter((t) => t.startsWith('p')).sort()).toEqual(['p0', 'p1', 'p2', 'p3']);
    expect(toViewer.length).toBeGreaterThan(0);
    expect(pub.all('puback')).toHaveLength(8);
  });
});

describe('shared subscriptions: several groups in one message', () => {
  it('does not lose one group’s message because the publisher’s shard was passed over for another group', async () => {
    const authorizer = {
      canPublish: () => true,
      canSubscribe: () => true,
      canReceive: (p: { clientId: string }, topic: string) => !(p.clientId.startsWith('viewer') && topic.includes('secret')),
    };
    const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } };
    const c = new ClusterHarness(3, { authorizer, config: { sharedSubscriptionPolicy: 'round_robin' } });
    // Group A: a connected member on shard 0 that may not read secrets, an offline persistent one on shard 1.
    const viewer = await clientOn(c, 0, 'viewer-a');
    await subscribe(c, viewer, '$share/A/jobs/#');
    const a1 = await clientOn(c, 1, 'a1', persistent);
    await subscribe(c, a1, '$share/A/jobs/#');
    a1.close();
    // Group B: connected members on shards 0 and 2.
    const b0 = await clientOn(c, 0, 'b0');
    await subscribe(c, b0, '$share/B/jobs/+');
    const b2 = await clientOn(c, 2, 'b2');
    await subscribe(c, b2, '$share/B/jobs/+');
    const pub = await clientOn(c, 0, 'pub');
    await c.settle();
    // One message for group A only puts the two groups' turns out of step.
    await pub.send({ cmd: 'publish', topic: 'jobs/x/y', payload: Buffer.from('warmup'), qos: 1, messageId: 100, retain: false });
    await c.settle();
    // b2 leaves while shard 0 cannot be told: shard 0 still offers shard 2 its turns of group B,
    // while for group A it passes itself over (its member may not read secrets).
    c.down.add(0);
    b2.close();
    await c.settle();
    for (let i = 0; i < 4; i++) await pub.send({ cmd: 'publish', topic: 'jobs/secret', payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false });
    await c.settle();
    c.down.delete(0);
    await c.tick(6000);
    expect(pub.all('puback')).toHaveLength(5);
    // Shard 2 hands group B's turns back to shard 0, whose member b0 is the only one left.
    expect(b0.all<IPublishPacket>('publish').map(text).sort((a, b) => Number(a) - Number(b))).toEqual(['0', '1', '2', '3']);
  });
});

describe('QoS 0 between shards', () => {
  it('drops and counts QoS 0 messages past 1,000 waiting for an unreachable shard, and delivers the rest when it is back', async () => {
    const c = new ClusterHarness(2, { config: { maxPublishRate: 0 } });
    const sub = await clientOn(c, 1, 'sub');
    await subscribe(c, sub, 'q0', 0);
    const pub = await clientOn(c, 0, 'pub');
    c.down.add(1);
    const before = c.shards[0].engine.counters.messagesDropped;
    // The first message goes out in a batch that fails; a failed batch's QoS 0 entries are not sent again (at most once).
    await pub.send({ cmd: 'publish', topic: 'q0', payload: Buffer.from('first'), qos: 0, retain: false });
    await c.settle(2);
    for (let i = 0; i < 1005; i++) await pub.send({ cmd: 'publish', topic: 'q0', payload: Buffer.from(String(i)), qos: 0, retain: false });
    expect(c.shards[0].engine.counters.messagesDropped - before).toBe(5);
    c.down.delete(1);
    await c.tick(6000);
    const got = sub.all<IPublishPacket>('publish').map(text);
    expect(got).toEqual(Array.from({ length: 1000 }, (_, i) => String(i)));
  });
});

describe('$SYS across shards', () => {
  it('gives each $SYS subscriber one value per interval, wherever the subscribers are', async () => {
    const c = new ClusterHarness(2);
    const a = await clientOn(c, 0, 'sys-a');
    const b = await clientOn(c, 1, 'sys-b');
    for (const s of [a, b]) await subscribe(c, s, '$SYS/broker/clients/connected', 0);
    await c.settle();
    for (const s of [a, b]) s.all('publish');
    await c.tick(10_000);
    // Each shard publishes the cluster's figures to its own subscribers; a copy forwarded to the other would be a second value.
    expect([a, b].map((s) => s.all<IPublishPacket>('publish').length)).toEqual([1, 1]);
  });
});

describe('wills and flow control across shards', () => {
  it('delivers a will to a subscriber on another shard', async () => {
    const c = new ClusterHarness(2);
    const watcher = await clientOn(c, 1, 'watcher');
    await subscribe(c, watcher, 'status/#');
    const device = await clientOn(c, 0, 'device', { will: { topic: 'status/device', payload: Buffer.from('offline'), qos: 1, retain: false } });
    device.close();
    await c.settle();
    expect(watcher.all<IPublishPacket>('publish').map(text)).toEqual(['offline']);
  });

  /** A subscriber on shard 1 that does not acknowledge yet, and `count` QoS 1 messages to it from a publisher on shard 0. */
  async function floodSlowSubscriber(c: ClusterHarness, count: number): Promise<{ sub: TestClient; pub: TestClient }> {
    const sub = await clientOn(c, 1, 'slow');
    await subscribe(c, sub, 'flood');
    const pub = await clientOn(c, 0, 'fast');
    for (let i = 0; i < count; i++) await pub.send({ cmd: 'publish', topic: 'flood', payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false });
    await c.settle();
    return { sub, pub };
  }

  it('withholds the publisher’s PUBACKs while a subscriber on another shard is behind, and loses nothing', async () => {
    const c = new ClusterHarness(2, { config: { maxInflightOut: 2, receiveMaximum: 20, maxPublishRate: 0 } });
    const { sub, pub } = await floodSlowSubscriber(c, 10);
    const acked = pub.all('puback').length;
    expect(acked).toBeLessThan(10);
    // The subscriber acknowledges what it has; the rest flows, and every PUBACK follows.
    const seen = await ackUntil(c, sub, 10);
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(acked + pub.all('puback').length).toBe(10);
  });

  it('releases the acks a restarted receiving shard can no longer hold, once the sender asks after a while', async () => {
    const c = new ClusterHarness(2, { config: { maxInflightOut: 1, receiveMaximum: 20, maxPublishRate: 0, stuckSubscriberMs: 600_000 } });
    const { pub } = await floodSlowSubscriber(c, 5);
    const before = pub.all('puback').length;
    expect(before).toBeLessThan(5);
    // Shard 1 restarts: its memory of what it held is gone, and it will never say "released".
    c.shards[1].restart();
    await c.tick(1000);
    expect(pub.all('puback')).toHaveLength(0);
    await c.tick(5000);
    expect(before + pub.all('puback').length).toBe(5);
  });

  it('acknowledges at once an entry the receiving shard released before its receipt came back', async () => {
    // stuckSubscriberMs far away: only the release, not the stuck-subscriber rule, may free the acks.
    const c = new ClusterHarness(2, { config: { maxInflightOut: 1, receiveMaximum: 20, maxPublishRate: 0, stuckSubscriberMs: 600_000 } });
    const sub = await clientOn(c, 1, 'slow');
    await subscribe(c, sub, 'flood');
    const pub = await clientOn(c, 0, 'fast');
    c.delayReceipts.add(1);
    for (let i = 0; i < 6; i++) await pub.send({ cmd: 'publish', topic: 'flood', payload: Buffer.from(String(i)), qos: 1, messageId: i + 1, retain: false });
    await c.settle();
    // The first batch's receipt comes back; the next batch finds the subscriber behind, and shard 1 holds part of it.
    c.releaseReceipts();
    await c.settle();
    const seen = await ackUntil(c, sub, 6);
    // The subscriber caught up, so shard 1 released what it held, while that batch's receipt is still on its way.
    expect(seen).toEqual(['0', '1', '2', '3', '4', '5']);
    expect(c.delayedReceiptCount).toBe(1);
    const early = pub.all('puback').length;
    expect(early).toBeLessThan(6);
    c.releaseReceipts();
    await c.settle();
    // No time has passed: the acks did not wait for the sender to ask again (HELD_ASK_MS).
    expect(early + pub.all('puback').length).toBe(6);
  });

  it('slows only the publisher of what a behind subscriber holds: other traffic between the same two shards goes on', async () => {
    const c = new ClusterHarness(2, { config: { maxInflightOut: 2, receiveMaximum: 20, maxPublishRate: 0 } });
    const { sub: slow, pub: fast } = await floodSlowSubscriber(c, 10);
    // The flood's acks wait for the slow subscriber on shard 1...
    expect(fast.all('puback').length).toBeLessThan(10);
    const calm = await clientOn(c, 1, 'calm');
    await subscribe(c, calm, 'calm');
    const other = await clientOn(c, 0, 'other');
    // ...while another publisher's messages to a healthy subscriber there are delivered and acknowledged.
    for (let i = 0; i < 3; i++) {
      await other.send({ cmd: 'publish', topic: 'calm', payload: Buffer.from(`c${i}`), qos: 1, messageId: i + 1, retain: false });
      await c.settle();
      for (const p of calm.all<IPublishPacket>('publish')) await calm.send({ cmd: 'puback', messageId: p.messageId });
    }
    expect(other.all('puback').map((p) => (p as { messageId: number }).messageId)).toEqual([1, 2, 3]);
    expect(slow.all<IPublishPacket>('publish').length).toBeGreaterThan(0);
  });

  it('stores a clean publisher’s open QoS 2 flow before hibernation even when a later PUBACK waited for another shard', async () => {
    const c = new ClusterHarness(2);
    // A local QoS 0 subscriber of the QoS 2 topic shows how often the message is delivered.
    const local = await clientOn(c, 0, 'local');
    await subscribe(c, local, 'q2/local', 0);
    const remote = await clientOn(c, 1, 'remote');
    await subscribe(c, remote, 'q1/remote', 1);
    const pub = await clientOn(c, 0, 'pub');
    await pub.send({ cmd: 'publish', topic: 'q2/local', payload: Buffer.from('once'), qos: 2, messageId: 1, retain: false, dup: false });
    expect(pub.all<IPubrecPacket>('pubrec').map((p) => p.messageId)).toEqual([1]);
    expect(local.all<IPublishPacket>('publish').map(text)).toEqual(['once']);

    // A QoS 1 PUBLISH for the other shard, out of reach for a while: its PUBACK waits for the receipt.
    c.down.add(1);
    await pub.send({ cmd: 'publish', topic: 'q1/remote', payload: Buffer.from('x'), qos: 1, messageId: 2, retain: false, dup: false });
    await c.settle();
    for (let i = 0; i < 8; i++) await c.tick(1000);
    c.down.delete(1);
    await c.tick(5000);
    expect(pub.all('puback')).toHaveLength(1);
    // Flow 1 has waited for its PUBREL far past hibernationGuardMs: quiet seconds later the shard may hibernate.
    await c.tick(11_000);
    c.shards[0].hibernate();

    await pub.send({ cmd: 'publish', topic: 'q2/local', payload: Buffer.from('once'), qos: 2, messageId: 1, retain: false, dup: true });
    await pub.send({ cmd: 'pubrel', messageId: 1 });
    // Delivered once [MQTT-4.3.3-10], and the flow was remembered: PUBCOMP 0x00, not 0x92.
    expect(local.all<IPublishPacket>('publish').map(text)).toEqual([]);
    expect(pub.all<IPubcompPacket>('pubcomp').map((p) => p.reasonCode ?? 0)).toEqual([0]);
  });
});
