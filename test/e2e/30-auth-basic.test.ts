import type { IConnackPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerHandle } from '../support/broker-process';
import { autoBanOffSql, basicCredentialSql, blockSql, configure, mosquittoHash, providerSql, settingSql, startSecuredBroker, unauthorizedRow } from '../support/security-fixtures';
import { connackOf, connectClient, RawWsClient } from './mqtt-clients';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startSecuredBroker(
    { providers: 'basic' },
    basicCredentialSql({ id: 'alice', username: 'alice', passwordHash: mosquittoHash('s3cret') }),
    basicCredentialSql({ id: 'no-password', username: 'sensor', passwordHash: mosquittoHash('sensor-pw') }),
    basicCredentialSql({ id: 'owned', username: 'meter', passwordHash: mosquittoHash('meter-pw'), allowedClientIds: ['meter-1', 'meter-2'] }),
  );
});
afterAll(async () => {
  await broker?.stop();
});

const versions = [4, 5] as const;
const code = (ack: IConnackPacket) => (ack.reasonCode ?? ack.returnCode) as number;

describe('30 basic authentication and the Unauthorized Clients log', () => {
  it('accepts a mosquitto_passwd hash as it is, and refuses a wrong password with 4 / 0x86 and a D1 row', async () => {
    for (const protocolVersion of versions) {
      const ok = await connectClient(broker.wsUrl, { protocolVersion, clientId: `alice-ok-${protocolVersion}`, username: 'alice', password: 's3cret' });
      expect(ok.connected).toBe(true);
      await ok.endAsync();

      const clientId = `alice-bad-${protocolVersion}`;
      const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, username: 'alice', password: 'wrong' })) as IConnackPacket;
      expect(code(ack)).toBe(protocolVersion === 5 ? 0x86 : 4);
      const row = await unauthorizedRow(broker, clientId);
      expect(row).toMatchObject({ username: 'alice', password_provided: 1, reason_code: 'PASSWORD_DOES_NOT_MATCH', attempts: 1 });
      expect(row.reason).toContain('Password Does Not Match');
      expect(row.ip).not.toBe('');
    }
  });

  it('names unknown users, missing passwords and unreadable passwords precisely', async () => {
    const cases: Array<[string, Record<string, unknown>, string]> = [
      ['unknown', { username: 'mallory', password: 'guess' }, 'NO_CREDENTIALS_FOUND'],
      ['nopw', { username: 'sensor' }, 'NO_PASSWORD_PROVIDED'],
      ['badutf8', { username: 'alice', password: Buffer.from([0xc3, 0x28, 0xff]) }, 'CANNOT_PARSE_BASIC_CREDENTIALS'],
    ];
    for (const [name, creds, reason] of cases) {
      for (const protocolVersion of versions) {
        const clientId = `${name}-${protocolVersion}`;
        const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, ...creds })) as IConnackPacket;
        expect(code(ack), clientId).toBe(protocolVersion === 5 ? 0x86 : 4);
        const row = await unauthorizedRow(broker, clientId);
        expect(row.reason_code, clientId).toBe(reason);
        expect(row.password_provided).toBe('password' in creds ? 1 : 0);
      }
    }
  });

  it('refuses anonymous clients when anonymous access is off (5 / 0x87)', async () => {
    for (const protocolVersion of versions) {
      const clientId = `anon-${protocolVersion}`;
      const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId })) as IConnackPacket;
      expect(code(ack)).toBe(protocolVersion === 5 ? 0x87 : 5);
      expect((await unauthorizedRow(broker, clientId)).reason_code).toBe('ANONYMOUS_NOT_ALLOWED');
    }
  });

  it('keeps one row per client id: attempts add up, first seen stays, and a successful login removes it', async () => {
    const clientId = 'alice-flappy';
    await connackOf(broker.wsUrl, { protocolVersion: 5, clientId, username: 'alice', password: 'wrong-1' });
    const first = await unauthorizedRow(broker, clientId);
    await connackOf(broker.wsUrl, { protocolVersion: 5, clientId, username: 'nobody', password: 'x' });
    const second = await unauthorizedRow(broker, clientId, (r) => r.attempts === 2);
    expect(second.first_seen).toBe(first.first_seen);
    expect(second.last_update).toBeGreaterThanOrEqual(first.last_update);
    expect(second).toMatchObject({ username: 'nobody', reason_code: 'NO_CREDENTIALS_FOUND' });

    const ok = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId, username: 'alice', password: 's3cret' });
    await ok.endAsync();
    const deadline = Date.now() + 15_000;
    let rows = await broker.d1(`SELECT client_id FROM unauthorized_clients WHERE client_id = '${clientId}'`);
    while (rows.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      rows = await broker.d1(`SELECT client_id FROM unauthorized_clients WHERE client_id = '${clientId}'`);
    }
    expect(rows).toEqual([]);
  });

  it('binds credentials to their client ids so one client cannot take over another session (MQTT-293)', async () => {
    const ok = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'meter-1', username: 'meter', password: 'meter-pw' });
    await ok.endAsync();
    for (const protocolVersion of versions) {
      const clientId = `alice-ok-${protocolVersion}`;
      const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, username: 'meter', password: 'meter-pw' })) as IConnackPacket;
      expect(code(ack)).toBe(protocolVersion === 5 ? 0x87 : 5);
      expect((await unauthorizedRow(broker, clientId)).reason_code).toBe('CLIENT_ID_NOT_OWNED');
    }
  });

  it('refuses client ids without an allowed prefix (2 / 0x85), then blocked clients (5 / 0x8A) before checking passwords', async () => {
    await configure(broker, settingSql('clientIdPrefixes', ['fleet-']));
    for (const protocolVersion of versions) {
      const clientId = `plant-${protocolVersion}`;
      const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, username: 'alice', password: 's3cret' })) as IConnackPacket;
      expect(code(ack)).toBe(protocolVersion === 5 ? 0x85 : 2);
      expect((await unauthorizedRow(broker, clientId)).reason_code).toBe('CLIENT_ID_PREFIX_NOT_ALLOWED');
    }
    await configure(
      broker,
      settingSql('clientIdPrefixes', []),
      blockSql({ id: 'b1', kind: 'clientIdRegex', value: 'stolen-.*' }),
      blockSql({ id: 'b2', kind: 'username', value: 'alice', expiresAt: Date.now() - 1000 }),
    );
    for (const protocolVersion of versions) {
      const clientId = `stolen-${protocolVersion}`;
      const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, username: 'alice', password: 's3cret' })) as IConnackPacket;
      expect(code(ack)).toBe(protocolVersion === 5 ? 0x8a : 5);
      const row = await unauthorizedRow(broker, clientId);
      expect(row.reason_code).toBe('CLIENT_BLOCKED');
      expect(row.reason).toContain('stolen-.*');
    }
    // The expired block on alice no longer applies.
    const ok = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'alice-after-block', username: 'alice', password: 's3cret' });
    await ok.endAsync();
  });

  it('bans a client id temporarily after repeated failures, and records the ban in blocked_clients', async () => {
    await configure(broker, settingSql('autoBan', { enabled: true, maxFailures: 3, windowSeconds: 60, banSeconds: 120, scope: ['clientId'] }));
    const clientId = 'brute-1';
    for (let i = 0; i < 3; i++) {
      const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId, username: 'alice', password: `guess-${i}` })) as IConnackPacket;
      expect(ack.reasonCode).toBe(0x86);
    }
    // Even the right password is refused while the ban lasts.
    const banned = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId, username: 'alice', password: 's3cret' })) as IConnackPacket;
    expect(banned.reasonCode).toBe(0x8a);
    expect((await unauthorizedRow(broker, clientId, (r) => r.reason_code === 'TEMPORARILY_BANNED')).attempts).toBe(4);
    const blocks = await broker.d1(`SELECT kind, value, source, expires_at FROM blocked_clients WHERE source = 'auto' AND value = '${clientId}'`);
    expect(blocks).toHaveLength(1);
    expect(Number(blocks[0].expires_at)).toBeGreaterThan(Date.now());
    await configure(broker, autoBanOffSql);
  });

  it('closes without any CONNACK when silent refusal is configured (MQTT-293)', async () => {
    await configure(broker, settingSql('silentRefusal', true));
    for (const protocolVersion of [4, 5] as const) {
      const raw = await RawWsClient.open(broker.wsUrl, protocolVersion);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, keepalive: 0, clientId: `silent-${protocolVersion}`, username: 'alice', password: Buffer.from('nope') });
      await raw.waitClosed();
      expect(raw.packets.filter((p) => p.cmd === 'connack')).toEqual([]);
      expect((await unauthorizedRow(broker, `silent-${protocolVersion}`)).reason_code).toBe('PASSWORD_DOES_NOT_MATCH');
    }
    await configure(broker, settingSql('silentRefusal', false));
  });

  it('lets anonymous clients in once the anonymous provider is enabled in D1', async () => {
    await configure(broker, providerSql('anonymous', true, 100));
    const client = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'anon-now-ok' });
    expect(client.connected).toBe(true);
    await client.endAsync();
    // Credentials that are sent are still checked.
    const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId: 'anon-wrong', username: 'alice', password: 'bad' })) as IConnackPacket;
    expect(ack.reasonCode).toBe(0x86);
  });

  it('refuses everyone with NO_PROVIDER_ENABLED once every provider is disabled (5 / 0x87), right credentials included', async () => {
    await configure(broker, providerSql('anonymous', false, 100), providerSql('basic', false, 10));
    for (const protocolVersion of versions) {
      for (const [who, creds] of [['alice', { username: 'alice', password: 's3cret' }], ['anon', {}]] as const) {
        const clientId = `none-enabled-${who}-${protocolVersion}`;
        const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, ...creds })) as IConnackPacket;
        expect(code(ack), clientId).toBe(protocolVersion === 5 ? 0x87 : 5);
        expect((await unauthorizedRow(broker, clientId)).reason_code, clientId).toBe('NO_PROVIDER_ENABLED');
      }
    }
    await configure(broker, providerSql('basic', true, 10));
    const back = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'alice-back', username: 'alice', password: 's3cret' });
    expect(back.connected).toBe(true);
    await back.endAsync();
  });

  it('refuses with AUTHENTICATION_UNAVAILABLE (3 / 0x88) while the credential store cannot be read, and recovers without a restart', async () => {
    // The table goes away under the running broker, as in a D1 outage; no configuration change is announced.
    await broker.d1('ALTER TABLE credentials RENAME TO credentials_offline');
    try {
      for (const protocolVersion of versions) {
        // A wrong password is never in the verification cache, so the store must be read.
        const clientId = `store-down-${protocolVersion}`;
        const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, username: 'alice', password: 'not-cached' })) as IConnackPacket;
        expect(code(ack), clientId).toBe(protocolVersion === 5 ? 0x88 : 3);
        const row = await unauthorizedRow(broker, clientId);
        expect(row).toMatchObject({ username: 'alice', password_provided: 1, reason_code: 'AUTHENTICATION_UNAVAILABLE' });
      }
    } finally {
      await broker.d1('ALTER TABLE credentials_offline RENAME TO credentials');
    }
    const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId: 'store-back', username: 'alice', password: 'wrong-again' })) as IConnackPacket;
    expect(ack.reasonCode).toBe(0x86);
    expect((await unauthorizedRow(broker, 'store-back')).reason_code).toBe('PASSWORD_DOES_NOT_MATCH');
  });
});
