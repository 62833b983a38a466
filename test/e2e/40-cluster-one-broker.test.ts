import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPublishPacket } from 'mqtt-packet';
import { startAdminBroker } from '../support/admin-broker';
import type { AdminCall } from '../support/admin-session';
import type { BrokerHandle } from '../support/broker-process';
import { shardIndexFor } from '../../protocol/cluster/shard-hash';
import { idOnShard } from '../support/shard-ids';
import { collectMessages, connectClient, RawWsClient, type RecordingClient, until } from './mqtt-clients';

/**
 * Four shards behave as one broker, seen from real MQTT.js clients whose
 * client ids land on different shards. Which shard holds a client is checked
 * through the admin API's `shard` field, not assumed from the hash.
 */
const SHARDS = 4;
const ADMIN = { username: 'e2e-admin', password: 'e2e-admin-password' };

let broker: BrokerHandle;
let api: AdminCall;
const open: RecordingClient[] = [];

beforeAll(async () => {
  ({ broker, api } = await startAdminBroker(ADMIN, {
    BROKER_SHARDS: String(SHARDS),
    MQTT_SYS_INTERVAL_SECONDS: '1',
  }));
});
afterAll(async () => {
  await Promise.all(open.map((c) => c.endAsync(true).catch(() => undefined)));
  await broker?.stop();
});

/** A client id that the edge gateway sends to `shard`. */
const idOn = (shard: number, name: string): string => idOnShard(`${name}-`, shard, SHARDS);

async function client(clientId: string, options: Parameters<typeof connectClient>[1] = {}): Promise<RecordingClient> {
  const c = await connectClient(broker.wsUrl, { clientId, ...options });
  open.push(c);
  return c;
}

/** The admin API says this client's session lives on `shard`. */
async function expectOnShard(clientId: string, shard: number): Promise<void> {
  const res = await api<{ clientId: string; shard: number }>('GET', `/sessions/${encodeURIComponent(clientId)}`);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ clientId, shard });
}

describe('40 a cluster of four shards is one broker', () => {
  it('delivers QoS 1 between every pair of 24 clients spread over the four shards', async () => {
    const ids = Array.from({ length: 24 }, (_, i) => idOn(i % SHARDS, `pair${i}`));
    const clients = await Promise.all(ids.map((id) => client(id)));
    const inboxes = clients.map((c) => collectMessages(c));
    for (const [i, c] of clients.entries()) await c.subscribeAsync(`pairs/${ids[i]}/+`, { qos: 1 });
    for (const [i, id] of ids.entries()) await expectOnShard(id, i % SHARDS);

    await Promise.all(
      clients.map(async (c, i) => {
        for (const [j, to] of ids.entries()) if (j !== i) await c.publishAsync(`pairs/${to}/${ids[i]}`, `${ids[i]}->${to}`, { qos: 1 });
      }),
    );
    await until(() => inboxes.every((inbox) => inbox.length >= SHARDS * 6 - 1), 60_000, 'every pair');
    for (const [i, inbox] of inboxes.entries()) {
      const expected = ids.filter((_, j) => j !== i).map((from) => `${from}->${ids[i]}`).sort();
      expect(inbox.map((m) => m.payload).sort()).toEqual(expected);
      for (const m of inbox) expect(m.packet.qos).toBe(1);
    }
  });

  it('lets a second connection with the same client id take the session over (0x8E), on the shard that holds it', async () => {
    const id = idOn(2, 'takeover');
    const watcher = await client(idOn(0, 'takeover-watcher'));
    const seen = collectMessages(watcher);
    await watcher.subscribeAsync('takeover/#', { qos: 1 });

    const first = await RawWsClient.open(broker.wsUrl, 5);
    await first.connect({ clientId: id });
    await expectOnShard(id, 2);
    const second = await client(id);
    await first.waitClosed();
    const disconnect = first.packets.find((p) => p.cmd === 'disconnect');
    expect(disconnect).toMatchObject({ reasonCode: 0x8e });
    await second.publishAsync('takeover/after', 'from the new connection', { qos: 1 });
    await until(() => seen.length === 1, 10_000, 'publish after takeover');
    expect(seen[0].payload).toBe('from the new connection');
    const session = await api<{ connected: boolean; shard: number }>('GET', `/sessions/${encodeURIComponent(id)}`);
    expect(session.body).toMatchObject({ connected: true, shard: 2 });
  });

  it('resumes a persistent session with what publishers on the other shards sent while it was away, in each publisher’s order', async () => {
    const id = idOn(0, 'resume');
    const persistent = { clean: false, properties: { sessionExpiryInterval: 600 } };
    const first = await client(id, persistent);
    await first.subscribeAsync('resume/#', { qos: 1 });
    await first.endAsync();
    await expectOnShard(id, 0);

    const publishers = await Promise.all([1, 2, 3].map((s) => client(idOn(s, 'resume-pub'))));
    for (const [k, p] of publishers.entries()) for (let n = 0; n < 5; n++) await p.publishAsync(`resume/${k}`, `${k}:${n}`, { qos: 1 });

    // Recorded from the first byte: the queue follows the CONNACK at once.
    const back = await client(id, persistent);
    const got = () => back.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
    expect(back.packets.find((p) => p.cmd === 'connack')).toMatchObject({ sessionPresent: true });
    await until(() => got().length === 15, 10_000, 'queued messages');
    for (const k of [0, 1, 2]) {
      expect(got().filter((m) => m.topic === `resume/${k}`).map((m) => Buffer.from(m.payload as Uint8Array).toString())).toEqual([0, 1, 2, 3, 4].map((n) => `${k}:${n}`));
    }
  });

  it('gives retained messages stored from every shard to a subscriber on any shard, each once, and lists each once', async () => {
    for (const s of [0, 1, 2, 3]) {
      const p = await client(idOn(s, 'retainer'));
      await p.publishAsync(`retained/from-${s}`, `value ${s}`, { qos: 1, retain: true });
      await p.endAsync();
    }
    for (const s of [0, 1, 2, 3]) {
      const sub = await client(idOn(s, 'retained-reader'));
      const got = collectMessages(sub);
      await sub.subscribeAsync('retained/#', { qos: 1 });
      await until(() => got.length >= 4, 10_000, `retained on shard ${s}`);
      await new Promise((r) => setTimeout(r, 300));
      expect(got.map((m) => [m.topic, m.payload, m.packet.retain]).sort()).toEqual([0, 1, 2, 3].map((k) => [`retained/from-${k}`, `value ${k}`, true]));
    }
    const listed = await api<{ data: Array<{ topic: string }> }>('GET', '/retained?pageSize=100');
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((r) => r.topic).filter((t) => t.startsWith('retained/')).sort()).toEqual([0, 1, 2, 3].map((k) => `retained/from-${k}`));
  });

  it('delivers each message of a shared subscription to exactly one member, with members on three shards', async () => {
    const members = await Promise.all([1, 2, 3].map((s) => client(idOn(s, 'member'))));
    const inboxes = members.map((m) => collectMessages(m));
    for (const m of members) await m.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
    const producer = await client(idOn(0, 'producer'));
    for (let i = 0; i < 60; i++) await producer.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
    await until(() => inboxes.reduce((n, inbox) => n + inbox.length, 0) >= 60, 15_000, 'every job');
    await new Promise((r) => setTimeout(r, 300));
    const all = inboxes.flatMap((inbox) => inbox.map((m) => Number(m.payload))).sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 60 }, (_, i) => i));
    for (const inbox of inboxes) expect(inbox.length).toBeGreaterThan(0);
  });

  it('gives a shared group’s messages to a member on the publisher’s own shard when there is one (prefer_local)', async () => {
    const [local, remote] = await Promise.all([client(idOn(0, 'near-member')), client(idOn(2, 'far-member'))]);
    const [nearInbox, farInbox] = [collectMessages(local), collectMessages(remote)];
    for (const m of [local, remote]) await m.subscribeAsync('$share/near/orders/+', { qos: 1 });
    const producer = await client(idOn(0, 'near-producer'));
    for (let i = 0; i < 20; i++) await producer.publishAsync(`orders/${i}`, String(i), { qos: 1 });
    await until(() => nearInbox.length >= 20, 15_000, 'every order');
    await new Promise((r) => setTimeout(r, 300));
    expect(nearInbox.map((m) => Number(m.payload))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(farInbox).toHaveLength(0);
  });

  it('gives a shared group’s messages to a connected member on another shard, not to the queue of an offline one', async () => {
    const persistent = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 3600 } };
    const awayId = idOn(1, 'away-member');
    const away = await client(awayId, persistent);
    await away.subscribeAsync('$share/fleet/tasks/+', { qos: 1 });
    await away.endAsync();
    const online = await client(idOn(2, 'online-member'));
    const inbox = collectMessages(online);
    await online.subscribeAsync('$share/fleet/tasks/+', { qos: 1 });
    const producer = await client(idOn(3, 'task-producer'));
    for (let i = 0; i < 20; i++) await producer.publishAsync(`tasks/${i}`, String(i), { qos: 1 });
    await until(() => inbox.length >= 20, 15_000, 'every task');
    expect(inbox.map((m) => Number(m.payload)).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const queued = async () => (await api<{ connected: boolean; queueDepth: number }>('GET', `/sessions/${encodeURIComponent(awayId)}`)).body;
    expect(await queued()).toMatchObject({ connected: false, queueDepth: 0 });

    // With no member connected anywhere, the offline member's session keeps the group's messages.
    await online.endAsync();
    await producer.publishAsync('tasks/late', 'late', { qos: 1 });
    let depth = 0;
    for (let tries = 0; tries < 100 && depth !== 1; tries++) {
      await new Promise((r) => setTimeout(r, 100));
      depth = (await queued()).queueDepth;
    }
    expect(depth).toBe(1);
  });

  it('publishes a will to a subscriber on another shard when the device’s connection is lost', async () => {
    const watcher = await client(idOn(0, 'will-watcher'));
    const got = collectMessages(watcher);
    await watcher.subscribeAsync('devices/+/status', { qos: 1 });
    const deviceId = idOn(3, 'will-device');
    const device = await RawWsClient.open(broker.wsUrl, 4);
    await device.connect({ clientId: deviceId, will: { topic: `devices/${deviceId}/status`, payload: Buffer.from('offline'), qos: 1, retain: false } });
    await expectOnShard(deviceId, 3);
    device.ws.terminate();
    await until(() => got.length === 1, 10_000, 'will');
    expect(got[0]).toMatchObject({ topic: `devices/${deviceId}/status`, payload: 'offline' });
  });

  it('publishes cluster totals under $SYS/broker and each shard’s own figures under $SYS/brokers/<shard>', async () => {
    const onShards = await Promise.all([0, 1, 2, 3].map((s) => client(idOn(s, 'sys-client'))));
    const reader = onShards[1];
    const sys = new Map<string, string>();
    reader.on('message', (topic, payload) => sys.set(topic, payload.toString()));
    await reader.subscribeAsync(['$SYS/broker/clients/connected', '$SYS/brokers/+/clients/connected'], { qos: 0 });
    const sessions = await api<{ data: Array<{ connected: boolean; shard: number }> }>('GET', '/sessions?pageSize=500');
    const connected = sessions.body.data.filter((s) => s.connected);
    const perShard = [0, 1, 2, 3].map((s) => connected.filter((x) => x.shard === s).length);
    await until(
      () => sys.get('$SYS/broker/clients/connected') === String(connected.length) && [0, 1, 2, 3].every((s) => sys.get(`$SYS/brokers/${s}/clients/connected`) === String(perShard[s])),
      15_000,
      `$SYS totals ${connected.length} = ${perShard.join(' + ')}, got ${JSON.stringify([...sys])}`,
    );
    for (const s of [0, 1, 2, 3]) expect(perShard[s]).toBeGreaterThan(0);
  });

  it('lists every shard’s sessions in the admin API with the shard that holds each', async () => {
    const ids = [0, 1, 2, 3].map((s) => idOn(s, 'listed'));
    await Promise.all(ids.map((id) => client(id)));
    const res = await api<{ data: Array<{ clientId: string; shard: number; connected: boolean }> }>('GET', '/sessions?pageSize=500');
    expect(res.status).toBe(200);
    for (const [s, id] of ids.entries()) expect(res.body.data.find((x) => x.clientId === id)).toMatchObject({ shard: s, connected: true });
    for (const item of res.body.data) expect(item.shard).toBe(shardIndexFor(item.clientId, SHARDS));
  });

  it('removes a session through the admin API on the shard that holds it', async () => {
    const id = idOn(3, 'removed');
    const c = await client(id, { clean: false, properties: { sessionExpiryInterval: 600 } });
    await c.endAsync();
    expect((await api('DELETE', `/sessions/${encodeURIComponent(id)}`)).status).toBe(204);
    expect((await api('GET', `/sessions/${encodeURIComponent(id)}`)).status).toBe(404);
  });
});
