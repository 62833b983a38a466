import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { collectMessages, connectClient, RawWsClient, sleep, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

async function watcher(topic: string) {
  const w = await connectClient(broker.wsUrl);
  const got = collectMessages(w);
  await w.subscribeAsync(topic, { qos: 1 });
  return { w, got };
}

const will = (topic: string, extra: Record<string, unknown> = {}) => ({ topic, payload: Buffer.from('offline'), qos: 1 as const, retain: false, ...extra });

describe('07 will messages', () => {
  for (const protocolVersion of [4, 5] as const) {
    it(`publishes the will when the network connection is lost (v${protocolVersion})`, async () => {
      const { w, got } = await watcher(`will/lost/${protocolVersion}`);
      const raw = await RawWsClient.open(broker.wsUrl, protocolVersion);
      await raw.connect({ will: will(`will/lost/${protocolVersion}`) });
      raw.ws.terminate(); // no DISCONNECT, no close handshake
      await until(() => got.length === 1, 5000, 'will');
      expect(got[0].payload).toBe('offline');
      await w.endAsync();
    });

    it(`does not publish the will after a normal DISCONNECT (v${protocolVersion})`, async () => {
      const { w, got } = await watcher(`will/normal/${protocolVersion}`);
      const c = await connectClient(broker.wsUrl, { protocolVersion, will: will(`will/normal/${protocolVersion}`) });
      await c.endAsync();
      await sleep(500);
      expect(got).toHaveLength(0);
      await w.endAsync();
    });
  }

  it('publishes the will on DISCONNECT with reason 0x04', async () => {
    const { w, got } = await watcher('will/04');
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    await raw.connect({ will: will('will/04') });
    raw.send({ cmd: 'disconnect', reasonCode: 0x04 });
    await until(() => got.length === 1, 5000, 'will after 0x04');
    await w.endAsync();
  });

  it('publishes the will on keepalive expiry', async () => {
    const { w, got } = await watcher('will/keepalive');
    const raw = await RawWsClient.open(broker.wsUrl, 4);
    await raw.connect({ keepalive: 1, will: will('will/keepalive') });
    await until(() => got.length === 1, 6000, 'will after keepalive expiry');
    await raw.waitClosed();
    await w.endAsync();
  });

  it('publishes the old connection will on session takeover', async () => {
    const { w, got } = await watcher('will/takeover');
    const old = await RawWsClient.open(broker.wsUrl, 5);
    await old.connect({ clientId: 'will-takeover', will: will('will/takeover') });
    const fresh = await RawWsClient.open(broker.wsUrl, 5);
    await fresh.connect({ clientId: 'will-takeover' });
    await until(() => got.length === 1, 5000, 'will on takeover');
    expect((await old.next('disconnect'))).toMatchObject({ reasonCode: 0x8e });
    fresh.close();
    await w.endAsync();
  });

  it('waits the Will Delay Interval, and a reconnect within it cancels the will', async () => {
    const { w, got } = await watcher('will/delay/#');
    const session = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const a = await RawWsClient.open(broker.wsUrl, 5);
    // Delays of several seconds, so a stalled test machine cannot move an event across one.
    await a.connect({ clientId: 'delay-a', ...session, will: will('will/delay/a', { properties: { willDelayInterval: 3 } }) });
    a.ws.terminate();
    await sleep(1000);
    expect(got).toHaveLength(0);
    await until(() => got.length === 1, 8000, 'delayed will');
    expect(got[0].topic).toBe('will/delay/a');

    const b = await RawWsClient.open(broker.wsUrl, 5);
    await b.connect({ clientId: 'delay-b', ...session, will: will('will/delay/b', { properties: { willDelayInterval: 5 } }) });
    b.ws.terminate();
    await sleep(500);
    const b2 = await RawWsClient.open(broker.wsUrl, 5);
    expect(await b2.connect({ clientId: 'delay-b', ...session })).toMatchObject({ sessionPresent: true });
    // Well past the delay: had the reconnect not cancelled it, the will would be out by now.
    await sleep(8000);
    expect(got.map((m) => m.topic)).toEqual(['will/delay/a']);
    b2.close();
    await w.endAsync();
  });

  it('refuses a will with an invalid topic (0x90)', async () => {
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    const ack = await raw.connect({ will: will('bad/+/will') });
    expect(ack).toMatchObject({ reasonCode: 0x90 });
    await raw.waitClosed();
  });
});
