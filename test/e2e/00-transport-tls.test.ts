import type { IConnackPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerHandle } from '../support/broker-process';
import { basicCredentialSql, mosquittoHash, startSecuredBroker, unauthorizedRow } from '../support/security-fixtures';
import { collectMessages, connackOf, connectClient, until } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startSecuredBroker(
    { providers: 'basic' },
    basicCredentialSql({ id: 'alice', username: 'alice', passwordHash: mosquittoHash('alice-secret') }),
  );
});
afterAll(async () => {
  await broker?.stop();
});

describe('00 the local runtime says truthfully whether a connection used TLS', () => {
  it('serves wss:// with its self-signed certificate, and only a client that trusts it gets through', async () => {
    expect(broker.wssUrl).toMatch(/^wss:\/\/127\.0\.0\.1:\d+\/mqtt$/);
    expect(broker.certificate).toContain('BEGIN CERTIFICATE');
    // Not trusted: the TLS handshake fails before any MQTT.
    await expect(connectClient(broker.wssUrl, { clientId: 'untrusting', username: 'alice', password: 'alice-secret' })).rejects.toThrow(/self[- ]signed|certificate/i);
  });

  it('lets a good client publish and subscribe over ws:// and over wss://, to each other', async () => {
    const plain = await connectClient(broker.wsUrl, { clientId: 'alice-plain', username: 'alice', password: 'alice-secret' });
    const secure = await connectClient(broker.wssUrl, { clientId: 'alice-tls', username: 'alice', password: 'alice-secret', ca: broker.certificate, protocolVersion: 4 });
    const onSecure = collectMessages(secure);
    const onPlain = collectMessages(plain);
    await secure.subscribeAsync('tls/to-secure', { qos: 1 });
    await plain.subscribeAsync('tls/to-plain', { qos: 1 });
    await plain.publishAsync('tls/to-secure', 'from ws', { qos: 1 });
    await secure.publishAsync('tls/to-plain', 'from wss', { qos: 1 });
    await until(() => onSecure.length === 1 && onPlain.length === 1, 10_000, 'both deliveries');
    expect(onSecure.map((m) => m.payload)).toEqual(['from ws']);
    expect(onPlain.map((m) => m.payload)).toEqual(['from wss']);
    await plain.endAsync();
    await secure.endAsync();
  });

  it('records a refused ws:// connection with TLS = false and a refused wss:// one with TLS = true', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const overWs = (await connackOf(broker.wsUrl, { protocolVersion, clientId: `refused-ws-${protocolVersion}`, username: 'alice', password: 'wrong' })) as IConnackPacket;
      expect(overWs.reasonCode ?? overWs.returnCode).toBe(protocolVersion === 5 ? 0x86 : 4);
      const overWss = (await connackOf(broker.wssUrl, { protocolVersion, clientId: `refused-wss-${protocolVersion}`, username: 'alice', password: 'wrong', ca: broker.certificate })) as IConnackPacket;
      expect(overWss.reasonCode ?? overWss.returnCode).toBe(protocolVersion === 5 ? 0x86 : 4);

      expect(await unauthorizedRow(broker, `refused-ws-${protocolVersion}`)).toMatchObject({ tls_used: 0, reason_code: 'PASSWORD_DOES_NOT_MATCH', ip: '127.0.0.1' });
      expect(await unauthorizedRow(broker, `refused-wss-${protocolVersion}`)).toMatchObject({ tls_used: 1, reason_code: 'PASSWORD_DOES_NOT_MATCH', ip: '127.0.0.1' });
    }
  });

  it('serves the dashboard and admin API over https:// too', async () => {
    const wssPort = new URL(broker.wssUrl).port;
    const health = await new Promise<number>((resolve, reject) => {
      // fetch() cannot be given a CA; node:https can.
      import('node:https').then(({ get }) => {
        const req = get({ host: '127.0.0.1', port: wssPort, path: '/health', ca: broker.certificate }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
      }, reject);
    });
    expect(health).toBe(200);
  });
});
