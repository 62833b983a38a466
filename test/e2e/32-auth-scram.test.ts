import type { IAuthPacket, IConnackPacket, IDisconnectPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerHandle } from '../support/broker-process';
import { scramCredential, ScramClient, type ScramMechanism } from '../support/scram-client';
import { providerSql, startSecuredBroker, unauthorizedRow } from '../support/security-fixtures';
import { RawWsClient } from './mqtt-clients';

const lit = (v: string | number) => (typeof v === 'number' ? String(v) : `'${v.replaceAll("'", "''")}'`);
function scramSql(id: string, username: string, mechanism: ScramMechanism, password: string): string {
  const c = scramCredential(mechanism, password);
  const now = Date.now();
  return `INSERT INTO credentials (id, type, name, username, scram_mechanism, scram_salt, scram_iterations, scram_stored_key, scram_server_key, created_at, updated_at)
    VALUES (${lit(id)}, 'scram', ${lit(id)}, ${lit(username)}, ${lit(mechanism)}, ${lit(c.salt)}, ${c.iterations}, ${lit(c.storedKey)}, ${lit(c.serverKey)}, ${now}, ${now})`;
}

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startSecuredBroker(
    { providers: 'scram,basic' },
    providerSql('scram', true, 10, { mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-512'] }),
    scramSql('s256', 'carol', 'SCRAM-SHA-256', 'pencil'),
    scramSql('s512', 'dave', 'SCRAM-SHA-512', 'correct horse'),
  );
});
afterAll(async () => {
  await broker?.stop();
});

/** CONNECT with an authentication method, then the AUTH exchange; returns the CONNACK and the client. */
async function exchange(mechanism: string, clientId: string, scram: ScramClient | null, firstData?: Buffer) {
  const raw = await RawWsClient.open(broker.wsUrl, 5);
  raw.send({
    cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId,
    properties: { authenticationMethod: mechanism, authenticationData: firstData ?? scram!.first() },
  });
  const first = await raw.nextOf<IAuthPacket | IConnackPacket>(['auth', 'connack']);
  if (first.cmd === 'connack' || !scram) return { raw, connack: first as IConnackPacket, serverFirst: null };
  expect(first.reasonCode).toBe(0x18);
  expect(first.properties?.authenticationMethod).toBe(mechanism);
  const serverFirst = first.properties!.authenticationData as Buffer;
  raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: mechanism, authenticationData: scram.final(serverFirst) } });
  return { raw, connack: await raw.next<IConnackPacket>('connack'), serverFirst };
}

describe('32 SCRAM enhanced authentication (MQTT 5 AUTH exchange)', () => {
  it('completes SCRAM-SHA-256 and SCRAM-SHA-512, and the CONNACK proves the server knows the key', async () => {
    for (const [mechanism, user, password] of [['SCRAM-SHA-256', 'carol', 'pencil'], ['SCRAM-SHA-512', 'dave', 'correct horse']] as const) {
      const scram = new ScramClient(mechanism, user, password);
      const { raw, connack } = await exchange(mechanism, `scram-${user}`, scram);
      expect(connack.reasonCode).toBe(0);
      expect(connack.properties?.authenticationMethod).toBe(mechanism);
      expect(scram.verifyServer(connack.properties!.authenticationData as Buffer)).toBe(true);
      // The session works after the exchange.
      raw.send({ cmd: 'pingreq' });
      expect((await raw.next('pingresp')).cmd).toBe('pingresp');
      raw.ws.close();
    }
  });

  it('refuses a wrong password after the full exchange with 0x86 and logs SCRAM_PROOF_INVALID', async () => {
    const { connack } = await exchange('SCRAM-SHA-256', 'scram-wrong', new ScramClient('SCRAM-SHA-256', 'carol', 'pen'));
    expect(connack.reasonCode).toBe(0x86);
    expect((await unauthorizedRow(broker, 'scram-wrong')).reason_code).toBe('SCRAM_PROOF_INVALID');
  });

  it('runs a full exchange for unknown users too, so usernames cannot be probed, then refuses', async () => {
    const { connack, serverFirst } = await exchange('SCRAM-SHA-256', 'scram-unknown', new ScramClient('SCRAM-SHA-256', 'nobody', 'x'));
    expect(serverFirst?.toString()).toMatch(/^r=.+,s=.+,i=\d+$/);
    expect(connack.reasonCode).toBe(0x86);
    expect((await unauthorizedRow(broker, 'scram-unknown')).reason_code).toBe('SCRAM_UNKNOWN_USER');
  });

  it('answers an unknown method with 0x8C and a malformed client-first with a refusal, both logged', async () => {
    const { connack } = await exchange('KERBEROS', 'scram-kerberos', null, Buffer.from('ticket'));
    expect(connack.reasonCode).toBe(0x8c);
    expect((await unauthorizedRow(broker, 'scram-kerberos')).reason_code).toBe('BAD_AUTHENTICATION_METHOD');

    const bad = await exchange('SCRAM-SHA-256', 'scram-garbage', null, Buffer.from('p=tls-unique,,n=carol,r=abc'));
    expect([0x8c, 0x86, 0x87]).toContain(bad.connack.reasonCode);
    expect((await unauthorizedRow(broker, 'scram-garbage')).reason_code).toBe('SCRAM_PROTOCOL_ERROR');
  });

  it('refuses an AUTH with a different method mid-exchange (0x8C)', async () => {
    const scram = new ScramClient('SCRAM-SHA-256', 'carol', 'pencil');
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'scram-switch', properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: scram.first() } });
    const serverFirst = await raw.next<IAuthPacket>('auth');
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: scram.final(serverFirst.properties!.authenticationData as Buffer) } });
    expect((await raw.next<IConnackPacket>('connack')).reasonCode).toBe(0x8c);
    await raw.waitClosed();
  });

  it('re-authenticates a connected client with AUTH 0x19, and ends the connection with 0x87 when the proof is wrong [MQTT-4.12.1-2]', async () => {
    const mechanism = 'SCRAM-SHA-256';
    const { raw, connack } = await exchange(mechanism, 'scram-reauth', new ScramClient(mechanism, 'carol', 'pencil'));
    expect(connack.reasonCode).toBe(0);

    // The same exchange again, started by the client on the open connection.
    const again = new ScramClient(mechanism, 'carol', 'pencil');
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: mechanism, authenticationData: again.first() } });
    const serverFirst = await raw.next<IAuthPacket>('auth');
    expect(serverFirst.reasonCode).toBe(0x18);
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: mechanism, authenticationData: again.final(serverFirst.properties!.authenticationData as Buffer) } });
    const success = await raw.next<IAuthPacket>('auth');
    expect(success.reasonCode).toBe(0x00);
    expect(again.verifyServer(success.properties!.authenticationData as Buffer)).toBe(true);
    raw.send({ cmd: 'pingreq' });
    expect((await raw.next('pingresp')).cmd).toBe('pingresp');

    // A wrong password on re-authentication: CONNECT would answer 0x86, which DISCONNECT cannot carry: 0x87.
    const wrong = new ScramClient(mechanism, 'carol', 'pen');
    raw.send({ cmd: 'auth', reasonCode: 0x19, properties: { authenticationMethod: mechanism, authenticationData: wrong.first() } });
    const challenge = await raw.next<IAuthPacket>('auth');
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: mechanism, authenticationData: wrong.final(challenge.properties!.authenticationData as Buffer) } });
    expect((await raw.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x87);
    await raw.waitClosed();
  });
});
