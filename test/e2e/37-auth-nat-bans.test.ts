import type { IConnackPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { basicCredentialSql, configure, mosquittoHash, settingSql, unauthorizedRow } from '../support/security-fixtures';
import { connackOf, connectClient } from './mqtt-clients';


// Every client here comes from 127.0.0.1: one IP, as a fleet behind carrier-grade NAT.
// Each test starts its own broker. The IP-wide count remembers every client id
// that failed from 127.0.0.1 within the window, so a test sharing a broker
// would also count the failures of the test before it, for as long as the
// shard has not been evicted in between.
let running: BrokerHandle | undefined;
async function natBroker(): Promise<BrokerHandle> {
  running = await startBroker({ vars: { ALLOW_ANONYMOUS: 'true', AUTH_PROVIDERS: 'basic' } });
  await configure(running, basicCredentialSql({ id: 'fleet', username: 'fleet', passwordHash: mosquittoHash('fleet-pw') }));
  return running;
}
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

const code = (ack: IConnackPacket) => (ack.reasonCode ?? ack.returnCode) as number;

describe('37 automatic bans that are safe behind NAT', () => {
  it('bans the client id that failed 25 times (0x8A) at its IP, while other devices on the same IP and username still connect', async () => {
    // No autoBan row: the defaults are what is tested.
    const broker = await natBroker();
    const codes: number[] = [];
    for (let i = 0; i < 25; i++) {
      const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId: 'nat-broken', username: 'fleet', password: `stale-${i}` })) as IConnackPacket;
      codes.push(code(ack));
    }
    // The default: the 10th failure within 60 s bans the client id; from then on it is refused as banned.
    expect(codes).toEqual([...Array(10).fill(0x86), ...Array(15).fill(0x8a)]);
    // Even the right password is refused while the ban lasts, in 3.1.1 with return code 5.
    const banned4 = (await connackOf(broker.wsUrl, { protocolVersion: 4, clientId: 'nat-broken', username: 'fleet', password: 'fleet-pw' })) as IConnackPacket;
    expect(code(banned4)).toBe(5);

    for (const [clientId, protocolVersion] of [['nat-device-1', 5], ['nat-device-2', 4], ['nat-device-3', 5]] as const) {
      const device = await connectClient(broker.wsUrl, { protocolVersion, clientId, username: 'fleet', password: 'fleet-pw' });
      expect(device.connected, clientId).toBe(true);
      await device.endAsync();
    }
    const anonymous = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'nat-anonymous' });
    expect(anonymous.connected).toBe(true);
    await anonymous.endAsync();

    const blocks = await broker.d1(`SELECT kind, value, ip, source, description, expires_at FROM blocked_clients WHERE source = 'auto'`);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]).toMatchObject({ kind: 'clientId', value: 'nat-broken', source: 'auto', description: '10 failed attempts by this client id from this IP within 60s' });
    // Banned for the default 300 s.
    expect(Number(blocks[0].expires_at)).toBeGreaterThan(Date.now() + 200_000);
    expect(Number(blocks[0].expires_at)).toBeLessThanOrEqual(Date.now() + 300_000);

    const row = await unauthorizedRow(broker, 'nat-broken', (r) => r.attempts === 26);
    expect(row).toMatchObject({ username: 'fleet', reason_code: 'TEMPORARILY_BANNED', tls_used: 0 });
    expect(row.reason).toContain('too many failed attempts from clientId "nat-broken"');
    // The ban holds where the failures came from: the same client id from elsewhere is not refused by it.
    expect(blocks[0].ip).toBe(row.ip);
    for (const clientId of ['nat-device-1', 'nat-device-2', 'nat-device-3', 'nat-anonymous']) {
      expect(await broker.d1(`SELECT client_id FROM unauthorized_clients WHERE client_id = '${clientId}'`), clientId).toEqual([]);
    }
  }, 480_000);

  it('bans the IP only when many different client ids fail from it', async () => {
    const broker = await natBroker();
    await configure(broker, settingSql('autoBan', { enabled: true, maxFailures: 10, windowSeconds: 60, banSeconds: 120, ipMaxDistinct: 4 }));
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) {
      const ack = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId: `rotating-${i}`, username: 'fleet', password: 'guess' })) as IConnackPacket;
      codes.push(code(ack));
    }
    expect(codes).toEqual([0x86, 0x86, 0x86, 0x86]);
    // Now the whole IP is banned: even a good device is refused.
    const good = (await connackOf(broker.wsUrl, { protocolVersion: 5, clientId: 'nat-device-4', username: 'fleet', password: 'fleet-pw' })) as IConnackPacket;
    expect(code(good)).toBe(0x8a);
    const ipBlocks = await broker.d1(`SELECT kind, value, description FROM blocked_clients WHERE source = 'auto' AND kind = 'ip'`);
    expect(ipBlocks).toEqual([{ kind: 'ip', value: ipBlocks[0]?.value, description: '4 different client ids failed from this IP within 60s' }]);
    expect(String(ipBlocks[0].value)).toMatch(/^(127\.0\.0\.1|::1|::ffff:127\.0\.0\.1)$/);
    expect((await unauthorizedRow(broker, 'nat-device-4')).reason_code).toBe('TEMPORARILY_BANNED');
  }, 480_000);
});
