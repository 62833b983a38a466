import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IPublishPacket, IPubrecPacket, IPubcompPacket, IPubackPacket } from 'mqtt-packet';
import { RawClient } from './raw-client';
import { untilShardMayHibernate } from './hibernation';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));
const text = (p: IPublishPacket) => Buffer.from(p.payload as Uint8Array).toString();

describe('broker shard inside workerd', () => {
  it('echoes the mqtt subprotocol and speaks MQTT over the real WebSocket', async () => {
    const c = await RawClient.open(5);
    expect(c.subprotocol).toBe('mqtt');
    const ack = await c.connect({ clientId: 'wire-1' });
    expect(ack).toMatchObject({ cmd: 'connack', reasonCode: 0, sessionPresent: false });
    c.close();
  });

  it('keeps an acknowledged QoS 2 flow across eviction in the middle of it', async () => {
    const sessionProps = { properties: { sessionExpiryInterval: 3600 } };
    const sub = await RawClient.open(5);
    await sub.connect({ clientId: 'qos2-sub', clean: true, ...sessionProps });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'evict/q2', qos: 2 }] });
    await sub.next('suback');

    const pub = await RawClient.open(5);
    await pub.connect({ clientId: 'qos2-pub', clean: true, ...sessionProps });
    pub.send({ cmd: 'publish', topic: 'evict/q2', payload: Buffer.from('exactly-once'), qos: 2, messageId: 42, retain: false, dup: false });
    expect((await pub.next<IPubrecPacket>('pubrec')).messageId).toBe(42);
    const first = await sub.next<IPublishPacket>('publish');
    expect(first.dup).toBe(false);

    // Evict with every socket dropped: memory is gone, only SQLite remains.
    await evictDurableObject(shard(), { webSockets: 'close' });
    await pub.waitClosed();
    await sub.waitClosed();

    // The publisher finishes its flow on a new connection: the broker still knows packet 42.
    const pub2 = await RawClient.open(5);
    const pubAck = await pub2.connect({ clientId: 'qos2-pub', clean: false, ...sessionProps });
    expect((pubAck as IConnackPacket).sessionPresent).toBe(true);
    pub2.send({ cmd: 'pubrel', messageId: 42 });
    expect(await pub2.next<IPubcompPacket>('pubcomp')).toMatchObject({ messageId: 42, reasonCode: 0 });

    // The subscriber gets the unacknowledged delivery again, flagged DUP, and completes it once.
    const sub2 = await RawClient.open(5);
    expect(((await sub2.connect({ clientId: 'qos2-sub', clean: false, ...sessionProps })) as IConnackPacket).sessionPresent).toBe(true);
    const again = await sub2.next<IPublishPacket>('publish');
    expect(again).toMatchObject({ topic: 'evict/q2', qos: 2, dup: true, messageId: first.messageId });
    expect(text(again)).toBe('exactly-once');
    sub2.send({ cmd: 'pubrec', messageId: again.messageId });
    await sub2.next('pubrel');
    sub2.send({ cmd: 'pubcomp', messageId: again.messageId });
    expect(await sub2.drain('publish')).toHaveLength(0);
    pub2.close();
    sub2.close();
  });

  it('resumes a persistent session after eviction with its queued messages', async () => {
    const c = await RawClient.open(4);
    await c.connect({ clientId: 'persist-1', clean: false });
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'evict/persist/#', qos: 1 }] });
    await c.next('suback');
    c.close();
    await c.waitClosed();

    const pub = await RawClient.open(4);
    await pub.connect({ clientId: 'persist-pub' });
    for (let i = 1; i <= 3; i++) {
      pub.send({ cmd: 'publish', topic: `evict/persist/${i}`, payload: Buffer.from(`m${i}`), qos: 1, messageId: i, retain: false, dup: false });
      expect((await pub.next<IPubackPacket>('puback')).messageId).toBe(i);
    }
    await evictDurableObject(shard(), { webSockets: 'close' });

    const back = await RawClient.open(4);
    expect(((await back.connect({ clientId: 'persist-1', clean: false })) as IConnackPacket).sessionPresent).toBe(true);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const p = await back.next<IPublishPacket>('publish');
      got.push(text(p));
      back.send({ cmd: 'puback', messageId: p.messageId });
    }
    expect(got).toEqual(['m1', 'm2', 'm3']);
    back.close();
  });

  it('publishes the will of a client whose connection a restart dropped, judged by the rules read from D1', async () => {
    const watcher = await RawClient.open(5);
    await watcher.connect({ clientId: 'restart-will-watch', clean: false, properties: { sessionExpiryInterval: 600 } });
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'restart-will/#', qos: 1 }] });
    await watcher.next('suback');
    const dying = await RawClient.open(5);
    await dying.connect({ clientId: 'restart-will-dying', will: { topic: 'restart-will/gone', payload: Buffer.from('last words'), qos: 1, retain: false } });

    // A restart (a deploy) drops every socket: the new instance finds the session connected, with no connection.
    await evictDurableObject(shard(), { webSockets: 'close' });
    await watcher.waitClosed();
    await dying.waitClosed();

    const back = await RawClient.open(5);
    expect(((await back.connect({ clientId: 'restart-will-watch', clean: false, properties: { sessionExpiryInterval: 600 } })) as IConnackPacket).sessionPresent).toBe(true);
    const will = await back.next<IPublishPacket>('publish');
    expect([will.topic, text(will)]).toEqual(['restart-will/gone', 'last words']);
    back.close();
  });

  it('sends what one event produces for a socket as one WebSocket message, in order', async () => {
    const c = await RawClient.open(4);
    await c.connect({ clientId: 'batch-1', clean: false });
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'batch/#', qos: 1 }] });
    await c.next('suback');
    c.close();
    await c.waitClosed();

    const pub = await RawClient.open(4);
    await pub.connect({ clientId: 'batch-pub' });
    for (let i = 1; i <= 5; i++) {
      pub.send({ cmd: 'publish', topic: `batch/${i}`, payload: Buffer.from(`b${i}`), qos: 1, messageId: i, retain: false, dup: false });
      await pub.next('puback');
    }

    // The CONNECT of the returning session is answered with CONNACK and the five queued messages.
    const back = await RawClient.open(4);
    expect(((await back.connect({ clientId: 'batch-1', clean: false })) as IConnackPacket).sessionPresent).toBe(true);
    const queued = await back.drain<IPublishPacket>('publish');
    expect(queued.map(text)).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    expect(back.frames).toBe(1);
    for (const p of queued) back.send({ cmd: 'puback', messageId: p.messageId });
    back.close();
    pub.close();
  });

  it('keeps open connections working when the object hibernates and wakes', async () => {
    const sub = await RawClient.open(5);
    await sub.connect({ clientId: 'hib-sub' });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'hib/+', qos: 1 }] });
    await sub.next('suback');
    await untilShardMayHibernate(shard());
    await evictDurableObject(shard(), { webSockets: 'hibernate' });
    const pub = await RawClient.open(5);
    await pub.connect({ clientId: 'hib-pub' });
    pub.send({ cmd: 'publish', topic: 'hib/1', payload: Buffer.from('still here'), qos: 1, messageId: 5, retain: false, dup: false });
    await pub.next('puback');
    expect(text(await sub.next<IPublishPacket>('publish'))).toBe('still here');
    sub.close();
    pub.close();
  });

  it('delivers what a clean subscriber left unacknowledged when the object hibernates under its open socket', async () => {
    const sub = await RawClient.open(5);
    await sub.connect({ clientId: 'hib-clean', properties: { receiveMaximum: 2 } });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'hib-clean/t', qos: 1 }] });
    await sub.next('suback');
    const pub = await RawClient.open(5);
    await pub.connect({ clientId: 'hib-clean-pub' });
    for (let id = 1; id <= 4; id++) {
      pub.send({ cmd: 'publish', topic: 'hib-clean/t', payload: Buffer.from(`m${id}`), qos: 1, messageId: id, retain: false, dup: false });
      expect((await pub.next<IPubackPacket>('puback')).messageId).toBe(id);
    }
    // Two in flight (the subscriber's Receive Maximum), two queued, all four acknowledged.
    const inFlight = [await sub.next<IPublishPacket>('publish'), await sub.next<IPublishPacket>('publish')];
    expect(inFlight.map(text)).toEqual(['m1', 'm2']);

    // Left unacknowledged past hibernationGuardMs, they move to SQLite at the alarm: before the platform may hibernate.
    await untilShardMayHibernate(shard());
    const stored = await runInDurableObject(shard(), (_instance, state) => ({
      outbound: state.storage.sql.exec('SELECT COUNT(*) AS n FROM outbound WHERE client_id = ?', 'hib-clean').one().n,
      queue: state.storage.sql.exec('SELECT COUNT(*) AS n FROM queue WHERE client_id = ?', 'hib-clean').one().n,
    }));
    expect(stored).toEqual({ outbound: 2, queue: 2 });

    await evictDurableObject(shard(), { webSockets: 'hibernate' });
    for (const p of inFlight) sub.send({ cmd: 'puback', messageId: p.messageId });
    const rest = [await sub.next<IPublishPacket>('publish'), await sub.next<IPublishPacket>('publish')];
    expect(rest.map(text)).toEqual(['m3', 'm4']);
    for (const p of rest) sub.send({ cmd: 'puback', messageId: p.messageId });

    // Acknowledged, they leave the store; the session goes back to memory and still ends with its connection.
    const rowsLeft = () =>
      runInDurableObject(shard(), (_instance, state) =>
        state.storage.sql.exec('SELECT (SELECT COUNT(*) FROM outbound WHERE client_id = ?1) + (SELECT COUNT(*) FROM queue WHERE client_id = ?1) AS n', 'hib-clean').one().n,
      );
    const deadline = Date.now() + 5000;
    while ((await rowsLeft()) !== 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await rowsLeft()).toBe(0);
    sub.close();
    pub.close();
  }, 30_000);

  it('completes the QoS 2 flow of a clean publisher whose PUBREL arrives after the object hibernated under its open socket', async () => {
    const sub = await RawClient.open(5);
    await sub.connect({ clientId: 'hib-q2-sub' });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'hib-q2/t', qos: 2 }] });
    await sub.next('suback');
    const pub = await RawClient.open(5);
    await pub.connect({ clientId: 'hib-q2-pub' });
    pub.send({ cmd: 'publish', topic: 'hib-q2/t', payload: Buffer.from('once'), qos: 2, messageId: 9, retain: false, dup: false });
    expect((await pub.next<IPubrecPacket>('pubrec')).messageId).toBe(9);
    const delivered = await sub.next<IPublishPacket>('publish');
    sub.send({ cmd: 'pubrec', messageId: delivered.messageId });
    await sub.next('pubrel');
    sub.send({ cmd: 'pubcomp', messageId: delivered.messageId });

    // The PUBREL is late: at the alarm past hibernationGuardMs the open flow moves to SQLite.
    await untilShardMayHibernate(shard());
    const storedIds = () =>
      runInDurableObject(shard(), (_instance, state) =>
        state.storage.sql.exec('SELECT packet_id FROM inbound_qos2 WHERE client_id = ?', 'hib-q2-pub').toArray().map((r) => r.packet_id),
      );
    expect(await storedIds()).toEqual([9]);

    await evictDurableObject(shard(), { webSockets: 'hibernate' });
    // A resend of the same flow is acknowledged and not delivered again [MQTT-4.3.3-10]; the PUBREL completes it.
    pub.send({ cmd: 'publish', topic: 'hib-q2/t', payload: Buffer.from('once'), qos: 2, messageId: 9, retain: false, dup: true });
    expect((await pub.next<IPubrecPacket>('pubrec')).messageId).toBe(9);
    pub.send({ cmd: 'pubrel', messageId: 9 });
    expect(await pub.next<IPubcompPacket>('pubcomp')).toMatchObject({ messageId: 9, reasonCode: 0 });
    expect(await sub.drain('publish')).toHaveLength(0);
    expect(await storedIds()).toEqual([]);
    sub.close();
    pub.close();
  }, 30_000);

  it('stores sessions in the Durable Object SQLite database', async () => {
    const c = await RawClient.open(5);
    await c.connect({ clientId: 'sql-visible', clean: false, properties: { sessionExpiryInterval: 60 } });
    const rows = await runInDurableObject(shard(), (_instance, state) =>
      state.storage.sql.exec('SELECT client_id FROM sessions WHERE client_id = ?', 'sql-visible').toArray(),
    );
    expect(rows).toHaveLength(1);
    c.close();
  });
});
