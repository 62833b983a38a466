import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IPubackPacket, ISubackPacket, IUnsubackPacket, IDisconnectPacket, IPubrecPacket } from 'mqtt-packet';
import { startBroker, testShardCount, type BrokerHandle } from '../support/broker-process';
import { idsOnShards } from '../support/shard-ids';
import { collectMessages, connectClient, RawWsClient, sleep, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

describe('02 publish and subscribe', () => {
  for (const protocolVersion of [4, 5] as const) {
    it(`delivers QoS 0, 1 and 2 end to end and downgrades to the granted QoS (v${protocolVersion})`, async () => {
      const sub = await connectClient(broker.wsUrl, { protocolVersion });
      const got = collectMessages(sub);
      const granted = await sub.subscribeAsync({ [`qos/${protocolVersion}/two`]: { qos: 2 }, [`qos/${protocolVersion}/one`]: { qos: 1 } });
      expect(granted.map((g) => g.qos)).toEqual([2, 1]);
      const pub = await connectClient(broker.wsUrl, { protocolVersion });
      await pub.publishAsync(`qos/${protocolVersion}/two`, 'q0', { qos: 0 });
      await pub.publishAsync(`qos/${protocolVersion}/two`, 'q1', { qos: 1 });
      await pub.publishAsync(`qos/${protocolVersion}/two`, 'q2', { qos: 2 });
      await pub.publishAsync(`qos/${protocolVersion}/one`, 'q2-as-1', { qos: 2 });
      await until(() => got.length === 4, 5000, 'four messages');
      expect(got.map((m) => [m.payload, m.packet.qos])).toEqual([
        ['q0', 0],
        ['q1', 1],
        ['q2', 2],
        ['q2-as-1', 1],
      ]);
      await Promise.all([sub.endAsync(), pub.endAsync()]);
    });
  }

  it('matches + and # wildcards, and never matches $ topics with a leading wildcard', async () => {
    const sub = await connectClient(broker.wsUrl);
    const got = collectMessages(sub);
    await sub.subscribeAsync(['wild/+/temp', 'wild/deep/#', '#']);
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('wild/kitchen/temp', 'a', { qos: 1 });
    await pub.publishAsync('wild/deep', 'b', { qos: 1 });
    await pub.publishAsync('wild/deep/x/y', 'c', { qos: 1 });
    await pub.publishAsync('$private/x', 'hidden', { qos: 1 });
    await until(() => got.length >= 3, 5000, 'wildcard deliveries');
    await sleep(300);
    // '#' overlaps the others: one copy per message per client (MQTT 5 merges overlapping subscriptions).
    expect(got.map((m) => m.payload).sort()).toEqual(['a', 'b', 'c']);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  it('spreads $share/group subscriptions: each message goes to exactly one member', async () => {
    // On one shard, as the publisher: with more shards, a member on the publisher's shard would take
    // every message (prefer_local); 40-cluster-one-broker covers members spread over shards.
    const [a, b, c, publisherId] = idsOnShards(`share-${Date.now()}-`, [0, 0, 0, 0], Number(testShardCount()));
    const members = await Promise.all([connectClient(broker.wsUrl, { clientId: a }), connectClient(broker.wsUrl, { clientId: b }), connectClient(broker.wsUrl, { clientId: c, protocolVersion: 4 })]);
    const inboxes = members.map(collectMessages);
    for (const m of members) await m.subscribeAsync('$share/workers/jobs/#', { qos: 1 });
    const pub = await connectClient(broker.wsUrl, { clientId: publisherId });
    for (let i = 0; i < 30; i++) await pub.publishAsync(`jobs/${i}`, String(i), { qos: 1 });
    await until(() => inboxes.reduce((n, box) => n + box.length, 0) === 30, 5000, '30 shared deliveries');
    await sleep(200);
    const all = inboxes.flatMap((box) => box.map((m) => Number(m.payload))).sort((a, b) => a - b);
    expect(all).toEqual([...Array(30).keys()]);
    for (const box of inboxes) expect(box.length).toBeGreaterThan(0);
    await Promise.all([...members, pub].map((c) => c.endAsync()));
  });

  it('honours No Local and tags deliveries with every matching Subscription Identifier', async () => {
    const c = await connectClient(broker.wsUrl);
    const got = collectMessages(c);
    await c.subscribeAsync('nl/#', { qos: 1, nl: true, properties: { subscriptionIdentifier: 7 } });
    await c.subscribeAsync('nl/+/x', { qos: 0, properties: { subscriptionIdentifier: 9 } });
    await c.publishAsync('nl/self', 'mine', { qos: 1 });
    const other = await connectClient(broker.wsUrl);
    await other.publishAsync('nl/a/x', 'theirs', { qos: 1 });
    await until(() => got.length >= 1, 5000, 'delivery');
    await sleep(300);
    expect(got.map((m) => m.payload)).toEqual(['theirs']);
    expect(got[0].packet.qos).toBe(1);
    expect([got[0].packet.properties?.subscriptionIdentifier].flat().sort()).toEqual([7, 9]);
    await Promise.all([c.endAsync(), other.endAsync()]);
  });

  it('answers each filter of a SUBSCRIBE separately and reports UNSUBSCRIBE results', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect();
    raw.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'ok/#', qos: 1 }, { topic: 'bad/#/x', qos: 1 }, { topic: '$share/g', qos: 0 }] });
    expect((await raw.next<ISubackPacket>('suback')).granted).toEqual([1, 0x8f, 0x8f]);
    raw.send({ cmd: 'unsubscribe', messageId: 4, unsubscriptions: ['ok/#', 'never/subscribed'] });
    expect((await raw.next<IUnsubackPacket>('unsuback')).granted).toEqual([0x00, 0x11]);
    raw.close();
    const v4 = await RawWsClient.open(broker.wsUrl, 4);
    await v4.connect();
    // A valid filter past the broker's level limit (128) is refused alone with 0x80; one that breaks
    // the wildcard rules closes a 3.1.1 connection instead (13-malformed).
    v4.send({ cmd: 'subscribe', messageId: 3, subscriptions: [{ topic: 'ok', qos: 2 }, { topic: 'deep/'.repeat(128) + '#', qos: 1 }] });
    expect((await v4.next<ISubackPacket>('suback')).granted).toEqual([2, 0x80]);
    v4.close();
  });

  it('passes MQTT 5 properties through: user properties, response topic, correlation data, content type', async () => {
    const sub = await connectClient(broker.wsUrl);
    const got = collectMessages(sub);
    await sub.subscribeAsync('props/req', { qos: 1 });
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('props/req', '{"op":"ping"}', {
      qos: 1,
      properties: {
        userProperties: { tenant: 'acme', tag: ['a', 'b'] },
        responseTopic: 'props/reply',
        correlationData: Buffer.from([0xde, 0xad, 0xbe, 0xef]),
        contentType: 'application/json',
        payloadFormatIndicator: true,
        messageExpiryInterval: 120,
      },
    });
    await until(() => got.length === 1, 5000, 'delivery');
    const props = got[0].packet.properties!;
    expect(props.userProperties).toEqual({ tenant: 'acme', tag: ['a', 'b'] });
    expect(props.responseTopic).toBe('props/reply');
    expect([...(props.correlationData as Buffer)]).toEqual([0xde, 0xad, 0xbe, 0xef]);
    expect(props.contentType).toBe('application/json');
    expect(props.payloadFormatIndicator).toBe(true);
    expect(props.messageExpiryInterval).toBeGreaterThan(0);
    expect(props.messageExpiryInterval).toBeLessThanOrEqual(120);
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  });

  it('resolves client topic aliases and refuses an alias above the maximum with 0x94', async () => {
    const sub = await connectClient(broker.wsUrl);
    const got = collectMessages(sub);
    await sub.subscribeAsync('alias/#');
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect();
    raw.send({ cmd: 'publish', topic: 'alias/full/name', payload: Buffer.from('1'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 2 } });
    await raw.next('puback');
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('2'), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 2 } });
    await raw.next('puback');
    await until(() => got.length === 2, 5000, 'aliased deliveries');
    expect(got.map((m) => m.topic)).toEqual(['alias/full/name', 'alias/full/name']);
    raw.send({ cmd: 'publish', topic: 'x', payload: Buffer.from('3'), qos: 0, retain: false, dup: false, properties: { topicAlias: 11 } });
    expect((await raw.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x94);
    await sub.endAsync();
  });

  it('refuses a payload that is not UTF-8 when the Payload Format Indicator says it is', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect();
    raw.send({ cmd: 'publish', topic: 'pfi', payload: Buffer.from([0xff, 0xfe]), qos: 1, messageId: 1, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    expect((await raw.next<IPubackPacket>('puback')).reasonCode).toBe(0x99);
    raw.send({ cmd: 'publish', topic: 'pfi', payload: Buffer.from([0xff, 0xfe]), qos: 2, messageId: 2, retain: false, dup: false, properties: { payloadFormatIndicator: true } });
    expect((await raw.next<IPubrecPacket>('pubrec')).reasonCode).toBe(0x99);
    raw.close();
  });

  it('holds deliveries to the client Receive Maximum and sends the rest as acknowledgements arrive', async () => {
    const slow = await RawWsClient.open(broker.wsUrl, 5);
    await slow.connect({ properties: { receiveMaximum: 2 } });
    slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flow', qos: 1 }] });
    await slow.next('suback');
    const pub = await connectClient(broker.wsUrl);
    for (let i = 0; i < 5; i++) await pub.publishAsync('flow', String(i), { qos: 1 });
    await sleep(300);
    const first = slow.packets.filter((p) => p.cmd === 'publish');
    expect(first).toHaveLength(2);
    slow.packets.length = 0;
    for (const p of first) slow.send({ cmd: 'puback', messageId: p.messageId });
    await until(() => slow.packets.filter((p) => p.cmd === 'publish').length === 2, 5000, 'next window');
    await pub.endAsync();
    slow.close();
  });

  it('disconnects a client that exceeds the server Receive Maximum with 0x93', async () => {
    const limited = await startBroker({ vars: { MQTT_RECEIVE_MAXIMUM: '2' } });
    try {
      const raw = await RawWsClient.open(limited.wsUrl, 5);
      await raw.connect();
      for (let id = 1; id <= 3; id++) raw.send({ cmd: 'publish', topic: 'rm', payload: Buffer.from('x'), qos: 2, messageId: id, retain: false, dup: false });
      expect((await raw.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x93);
    } finally {
      await limited.stop();
    }
  });

  it('never sends a subscriber a packet above its Maximum Packet Size', async () => {
    const small = await RawWsClient.open(broker.wsUrl, 5);
    await small.connect({ properties: { maximumPacketSize: 100 } });
    small.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'size', qos: 0 }] });
    await small.next('suback');
    const pub = await connectClient(broker.wsUrl);
    await pub.publishAsync('size', Buffer.alloc(500, 0x61));
    await pub.publishAsync('size', 'small');
    const p = await small.next('publish');
    expect(Buffer.from((p as { payload: Buffer }).payload).toString()).toBe('small');
    await pub.endAsync();
    small.close();
  });
});
