import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { collectMessages, connectClient, RawWsClient, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker({ vars: { MQTT_MAX_PACKET_SIZE: '4096' } });
});
afterAll(async () => {
  await broker?.stop();
});

/** A bystander that must keep working while others misbehave. */
async function bystanderStillWorks(): Promise<void> {
  const c = await connectClient(broker.wsUrl);
  const got = collectMessages(c);
  await c.subscribeAsync('bystander', { qos: 1 });
  await c.publishAsync('bystander', 'fine', { qos: 1 });
  await until(() => got.length === 1, 5000, 'bystander delivery');
  await c.endAsync();
}

/** A 3.1.1 client sends these bytes after its CONNACK and is closed without another byte [MQTT-4.8.0-1]. */
async function closes311(hex: string): Promise<void> {
  const raw = await RawWsClient.open(broker.wsUrl, 4);
  await raw.connect();
  raw.sendBytes(Buffer.from(hex.replace(/ /g, ''), 'hex'));
  await raw.waitClosed();
  expect(raw.received.toString('hex')).toBe('20020000');
}

describe('13 malformed and hostile input', () => {
  it('reassembles packets split across many WebSocket frames, and several packets in one frame', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    const connect = Buffer.from([0x10, 0x10, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x00, 0x00, 0x04, 0x73, 0x70, 0x6c, 0x74]);
    for (const byte of connect) raw.sendBytes(Buffer.from([byte]));
    await raw.next('connack');
    const sub = Buffer.from([0x82, 0x08, 0x00, 0x01, 0x00, 0x03, 0x61, 0x2f, 0x62, 0x01]);
    const pub = Buffer.from([0x30, 0x07, 0x00, 0x03, 0x61, 0x2f, 0x62, 0x68, 0x69]);
    raw.sendBytes(Buffer.concat([sub, pub.subarray(0, 4)]));
    raw.sendBytes(pub.subarray(4));
    await raw.next('suback');
    const p = await raw.next('publish');
    expect(Buffer.from((p as { payload: Buffer }).payload).toString()).toBe('hi');
    raw.close();
  });

  it('answers a malformed packet with DISCONNECT 0x81 in 5.0 and a closed connection in 3.1.1', async () => {
    const v5 = await RawWsClient.open(broker.wsUrl, 5);
    await v5.connect();
    // SUBSCRIBE with reserved flag bits 0000 instead of 0010.
    v5.sendBytes(Buffer.from([0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61, 0x00]));
    expect((await v5.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x81);
    await v5.waitClosed();
    const v4 = await RawWsClient.open(broker.wsUrl, 4);
    await v4.connect();
    v4.sendBytes(Buffer.from([0x80, 0x06, 0x00, 0x01, 0x00, 0x01, 0x61, 0x00]));
    await v4.waitClosed();
    expect(v4.packets.filter((p) => p.cmd !== 'connack')).toHaveLength(0);
    await bystanderStillWorks();
  });

  it('answers a broken 5.0 CONNECT with CONNACK 0x81 / 0x82 and the reason, and closes a broken 3.1.1 CONNECT without one', async () => {
    // Receive Maximum 0 is a Protocol Error [MQTT-3.1.2.11.3].
    const zeroReceiveMax = await RawWsClient.open(broker.wsUrl, 5);
    zeroReceiveMax.sendBytes(Buffer.from('1011 0004 4d515454 05 02 001e 03 210000 0001 61'.replace(/ /g, ''), 'hex'));
    const refused = (await zeroReceiveMax.next('connack')) as IConnackPacket;
    expect(refused.reasonCode).toBe(0x82);
    expect(refused.properties?.reasonString).toMatch(/receive ?maximum/i);
    await zeroReceiveMax.waitClosed();
    // Will QoS 3 is malformed [MQTT-3.1.2-12].
    const willQos3 = await RawWsClient.open(broker.wsUrl, 5);
    willQos3.sendBytes(Buffer.from('1017 0004 4d515454 05 1c 001e 00 0003 616263 00 0001 61 0001 62'.replace(/ /g, ''), 'hex'));
    const malformed = (await willQos3.next('connack')) as IConnackPacket;
    expect(malformed.reasonCode).toBe(0x81);
    expect(typeof malformed.properties?.reasonString).toBe('string');
    await willQos3.waitClosed();
    // 3.1.1 has no return code for it: the connection closes without a CONNACK.
    const v4 = await RawWsClient.open(broker.wsUrl, 4);
    v4.sendBytes(Buffer.from('1015 0004 4d515454 04 1c 001e 0003 616263 0001 61 0001 62'.replace(/ /g, ''), 'hex'));
    await v4.waitClosed();
    expect(v4.packets).toHaveLength(0);
    await bystanderStillWorks();
  });

  it('refuses invalid UTF-8 in a topic name', async () => {
    const v5 = await RawWsClient.open(broker.wsUrl, 5);
    await v5.connect();
    // PUBLISH QoS 0, properties length 0, topic bytes 0xC3 0x28 (invalid UTF-8).
    v5.sendBytes(Buffer.from([0x30, 0x06, 0x00, 0x02, 0xc3, 0x28, 0x00, 0x78]));
    expect((await v5.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x81);
    await bystanderStillWorks();
  });

  it('refuses a packet above the Maximum Packet Size with 0x95 before reading its body', async () => {
    const v5 = await RawWsClient.open(broker.wsUrl, 5);
    await v5.connect();
    // Declares a 1 MB PUBLISH but sends only the header.
    v5.sendBytes(Buffer.from([0x30, 0x80, 0x80, 0x40]));
    expect((await v5.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x95);
    await v5.waitClosed();
    await bystanderStillWorks();
  });

  it('refuses a wildcard in a PUBLISH topic with 0x90', async () => {
    const v5 = await RawWsClient.open(broker.wsUrl, 5);
    await v5.connect();
    v5.send({ cmd: 'publish', topic: 'a/+/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
    expect((await v5.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x90);
  });

  it('closes a connection that sends a text frame', async () => {
    const v5 = await RawWsClient.open(broker.wsUrl, 5);
    await v5.connect();
    v5.sendBytes('hello');
    await v5.waitClosed();
    await bystanderStillWorks();
  });

  it('survives a burst of random garbage from many connections', async () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed);
    for (let i = 0; i < 20; i++) {
      const raw = await RawWsClient.open(broker.wsUrl, i % 2 ? 4 : 5);
      if (i % 3 === 0) await raw.connect();
      const junk = Buffer.alloc(1 + (rand() % 64));
      for (let j = 0; j < junk.length; j++) junk[j] = rand() & 0xff;
      raw.sendBytes(junk);
      raw.close();
    }
    await bystanderStillWorks();
  });

  it('refuses upgrades without the mqtt subprotocol', async () => {
    // fetch() will not send an Upgrade header, so this is a plain HTTP/1.1 request.
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${broker.url}/mqtt`, {
        headers: { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('upgrade', () => reject(new Error('upgraded without a subprotocol')));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
    expect(JSON.parse(body).error).toEqual({ code: 'unsupported_subprotocol', message: expect.stringMatching(/Sec-WebSocket-Protocol/) });
  });

  describe('packet types only a server sends', () => {
    // Bodies that are broken on purpose: the answer must come from the fixed header alone.
    const serverOnly: Array<[string, string]> = [
      ['CONNACK', '2002ff00'], // invalid acknowledge flags
      ['SUBACK', '9000'], // no packet identifier
      ['UNSUBACK', 'b00100'], // truncated packet identifier
      ['PINGRESP', 'd00100'], // a body where none may be
    ];
    for (const [name, hex] of serverOnly) {
      it(`answers ${name} from a client with exactly DISCONNECT 0x82 in 5.0 and a close in 3.1.1`, async () => {
        const v5 = await RawWsClient.open(broker.wsUrl, 5);
        await v5.connect({ properties: { requestProblemInformation: false } });
        const afterConnack = v5.received.length;
        v5.sendBytes(Buffer.from(hex, 'hex'));
        await v5.waitClosed();
        // DISCONNECT, Remaining Length 2, Protocol Error, no properties.
        expect(v5.received.subarray(afterConnack).toString('hex')).toBe('e0028200');

        // With problem information the reason names the packet type, not its body.
        const told = await RawWsClient.open(broker.wsUrl, 5);
        await told.connect();
        told.sendBytes(Buffer.from(hex, 'hex'));
        const disconnect = await told.next<IDisconnectPacket>('disconnect');
        expect(disconnect.reasonCode).toBe(0x82);
        expect(disconnect.properties?.reasonString).toBe(`${name} is sent only by a server`);

        const v4 = await RawWsClient.open(broker.wsUrl, 4);
        await v4.connect();
        v4.sendBytes(Buffer.from(hex, 'hex'));
        await v4.waitClosed();
        // Nothing after the CONNACK (20 02 00 00): the connection is closed without an answer.
        expect(v4.received.toString('hex')).toBe('20020000');
      });
    }
  });

  it('closes a 3.1.1 connection on a zero-length topic filter and answers 5.0 with DISCONNECT 0x82 [MQTT-4.7.3-1]', async () => {
    // SUBSCRIBE id 1: "a" QoS 0, then "" QoS 0. Neither gets a SUBACK.
    await closes311('8209 0001 000161 00 0000 00');
    // UNSUBSCRIBE id 2: "".
    await closes311('a204 0002 0000');

    for (const hex of ['8206 0001 00 0000 00', 'a205 0002 00 0000']) {
      const v5 = await RawWsClient.open(broker.wsUrl, 5);
      await v5.connect({ properties: { requestProblemInformation: false } });
      const afterConnack = v5.received.length;
      v5.sendBytes(Buffer.from(hex.replace(/ /g, ''), 'hex'));
      await v5.waitClosed();
      expect(v5.received.subarray(afterConnack).toString('hex')).toBe('e0028200');
    }
    await bystanderStillWorks();
  });

  it('closes a 3.1.1 connection on a filter that breaks the wildcard rules, and answers 5.0 with 0x8F for that filter alone [MQTT-4.7.1-2]', async () => {
    // 3.1.1 SUBSCRIBE id 1: "ok" QoS 0, then "a/#/b" QoS 0. No SUBACK: the connection closes.
    await closes311('820f 0001 00026f6b 00 0005612f232f62 00');
    // 3.1.1 UNSUBSCRIBE id 2: "sport+".
    await closes311('a20a 0002 000673706f72742b');

    // 5.0: the same SUBSCRIBE gets SUBACK [0x00, 0x8F]; the UNSUBSCRIBE gets UNSUBACK [0x8F]; the connection stays.
    const v5 = await RawWsClient.open(broker.wsUrl, 5);
    await v5.connect({ properties: { requestProblemInformation: false } });
    let mark = v5.received.length;
    v5.sendBytes(Buffer.from('8210 0001 00 00026f6b 00 0005612f232f62 00'.replace(/ /g, ''), 'hex'));
    await v5.next('suback');
    expect(v5.received.subarray(mark).toString('hex')).toBe('9005000100008f');
    mark = v5.received.length;
    v5.sendBytes(Buffer.from('a20b 0002 00 000673706f72742b'.replace(/ /g, ''), 'hex'));
    await v5.next('unsuback');
    expect(v5.received.subarray(mark).toString('hex')).toBe('b0040002008f');
    v5.close();
    await bystanderStillWorks();
  });

  describe('an acknowledgement of the wrong kind', () => {
    /** A raw subscriber with one delivery of `qos` in flight, sent by a real MQTT.js publisher. */
    async function receiveDelivery(version: 4 | 5, qos: 1 | 2, clientId: string) {
      const raw = await RawWsClient.open(broker.wsUrl, version);
      await raw.connect({ clientId, clean: false, ...(version === 5 ? { properties: { requestProblemInformation: false, sessionExpiryInterval: 60 } } : {}) });
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `wrong-ack/${clientId}`, qos }] });
      await raw.next('suback');
      const publisher = await connectClient(broker.wsUrl);
      await publisher.publishAsync(`wrong-ack/${clientId}`, 'kept', { qos });
      await publisher.endAsync();
      const delivery = await raw.next<IPublishPacket>('publish');
      expect(delivery.qos).toBe(qos);
      return { raw, messageId: delivery.messageId!, before: raw.received.length };
    }

    /** PUBREC / PUBCOMP / PUBACK with that identifier, as bytes. */
    const ack = (type: number, messageId: number) => Buffer.from([type, 0x02, messageId >> 8, messageId & 0xff]);
    const cases: Array<[string, 1 | 2, number]> = [
      ['PUBREC for a QoS 1 delivery', 1, 0x50],
      ['PUBCOMP for a QoS 1 delivery', 1, 0x70],
      ['PUBACK for a QoS 2 delivery', 2, 0x40],
      ['PUBCOMP for a QoS 2 delivery before its PUBREC', 2, 0x70],
    ];
    for (const [what, qos, type] of cases) {
      it(`answers ${what} with DISCONNECT 0x82 in 5.0 and a close in 3.1.1, and keeps the message`, async () => {
        const id5 = `wrong5-q${qos}-${type.toString(16)}`;
        const v5 = await receiveDelivery(5, qos, id5);
        v5.raw.sendBytes(ack(type, v5.messageId));
        await v5.raw.waitClosed();
        expect(v5.raw.received.subarray(v5.before).toString('hex')).toBe('e0028200');

        const id4 = `wrong4-q${qos}-${type.toString(16)}`;
        const v4 = await receiveDelivery(4, qos, id4);
        v4.raw.sendBytes(ack(type, v4.messageId));
        await v4.raw.waitClosed();
        expect(v4.raw.received.length).toBe(v4.before);

        // The delivery was never acknowledged: it comes again, marked DUP, on the next connection.
        const again = await RawWsClient.open(broker.wsUrl, 4);
        const connack = await again.connect({ clientId: id4, clean: false });
        expect(connack).toMatchObject({ sessionPresent: true, returnCode: 0 });
        const redelivered = await again.next<IPublishPacket>('publish');
        expect(redelivered).toMatchObject({ dup: true, qos, messageId: v4.messageId });
        expect(Buffer.from(redelivered.payload as Buffer).toString()).toBe('kept');
        again.close();
      });
    }
  });
});
