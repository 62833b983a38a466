import { env } from 'cloudflare:test';
import type { IConnackPacket } from 'mqtt-packet';
import { afterAll, describe, expect, it } from 'vitest';
import { insertAutoBan } from '../../../db/queries/broker-security';
import { openDb } from '../../../db/queries/db';
import { api, tokens } from '../admin-support';
import { RawClient } from '../raw-client';
import { clusterSettled, idsOnShards, shardOf } from './cluster-support';

const ATTACKER = '203.0.113.77';
const NEIGHBOUR = '203.0.113.78';

async function connack(ip: string, fields: Record<string, unknown>): Promise<number> {
  const c = await RawClient.open(5, { 'CF-Connecting-IP': ip });
  const ack = (await c.connect(fields)) as IConnackPacket;
  c.close();
  return ack.reasonCode ?? 0;
}

/** Bans on: 10 failures of a client id at one IP, or 4 distinct failing identities from one IP, within 60 s. */
async function enableAutoBans() {
  const { admin } = await tokens();
  return api('PUT', '/settings', {
    token: admin,
    body: { autoBan: { enabled: true, maxFailures: 10, windowSeconds: 60, banSeconds: 120, ipMaxDistinct: 4, scope: ['ip', 'clientId'] } },
  });
}

// Nothing may be in flight between shards when this file's environment closes.
afterAll(clusterSettled);

describe('automatic bans over four shards', () => {
  it('bans an IP whose failing client ids land on different shards at the same threshold as one shard', async () => {
    const settings = await enableAutoBans();
    expect(settings.status, JSON.stringify(settings.body)).toBe(200);

    // No basic credential exists, so every username/password attempt is refused (0x86).
    const rotating = idsOnShards('rotating-', [0, 1, 2, 3]);
    expect(rotating.map(shardOf)).toEqual([0, 1, 2, 3]);
    const codes = [];
    for (const clientId of rotating) codes.push(await connack(ATTACKER, { clientId, username: 'fleet', password: 'guess' }));
    expect(codes).toEqual([0x86, 0x86, 0x86, 0x86]);

    // The fourth distinct id banned the IP: from now on every shard refuses it as banned, a good device too.
    for (const clientId of idsOnShards('after-ban-', [1, 3, 0])) {
      expect(await connack(ATTACKER, { clientId }), clientId).toBe(0x8a);
    }
    const rows = await env.DB.prepare(`SELECT kind, value, description FROM blocked_clients WHERE source = 'auto' AND kind = 'ip'`).all();
    expect(rows.results).toEqual([{ kind: 'ip', value: ATTACKER, description: '4 different client ids failed from this IP within 60s' }]);

    // Another address behind its own NAT is untouched.
    expect(await connack(NEIGHBOUR, { clientId: 'neighbour-1' })).toBe(0);
  });

  it('bans a client id only from the IP its failures came from: a stranger who knows it cannot lock the device out', async () => {
    await enableAutoBans();
    const stranger = '198.51.100.66';
    const device = '203.0.113.120';
    const codes = [];
    for (let i = 0; i < 12; i++) codes.push(await connack(stranger, { clientId: 'sn-000123', username: 'fleet', password: `guess-${i}` }));
    expect(codes).toEqual([...Array(10).fill(0x86), 0x8a, 0x8a]);
    // The device itself, from its own address, still gets in.
    expect(await connack(device, { clientId: 'sn-000123' })).toBe(0);
    const rows = await env.DB.prepare(`SELECT kind, value, ip, description FROM blocked_clients WHERE source = 'auto' AND value = 'sn-000123'`).all();
    expect(rows.results).toEqual([{ kind: 'clientId', value: 'sn-000123', ip: stranger, description: '10 failed attempts by this client id from this IP within 60s' }]);
  });

  it('bans an IPv6 attacker by its /64 when it takes a new address in it for every attempt, on every shard', async () => {
    await enableAutoBans();
    const rotating = idsOnShards('v6-rotating-', [0, 1, 2, 3]);
    const codes = [];
    for (const [i, clientId] of rotating.entries()) codes.push(await connack(`2001:db8:77:1:${i + 1}::${i + 7}`, { clientId, username: 'fleet', password: 'guess' }));
    expect(codes).toEqual([0x86, 0x86, 0x86, 0x86]);
    // Any address in the /64 is refused as banned, on every shard; a device in the next /64 is not.
    for (const [i, clientId] of idsOnShards('v6-after-ban-', [1, 3, 0]).entries()) {
      expect(await connack(`2001:db8:77:1:ffff::${i + 1}`, { clientId }), clientId).toBe(0x8a);
    }
    expect(await connack('2001:db8:77:2::1', { clientId: 'v6-neighbour' })).toBe(0);
    const rows = await env.DB.prepare(`SELECT kind, value, ip, description FROM blocked_clients WHERE source = 'auto' AND kind = 'cidr'`).all();
    expect(rows.results).toEqual([{ kind: 'cidr', value: '2001:db8:77:1::/64', ip: null, description: '4 different client ids failed from this IPv6 /64 within 60s' }]);
  });

  it('keeps one row for a /64 banned again: the later ban extends it', async () => {
    const db = openDb(env.DB);
    const ban = { kind: 'cidr' as const, value: '2001:db8:78:1::/64', description: '4 different client ids failed from this IPv6 /64 within 60s' };
    await insertAutoBan(db, { ...ban, until: 2_000_000_000_000, now: 1_000 });
    await insertAutoBan(db, { ...ban, until: 2_000_000_060_000, now: 2_000 });
    const rows = await env.DB.prepare(`SELECT value, expires_at FROM blocked_clients WHERE value = ?`).bind(ban.value).all();
    expect(rows.results).toHaveLength(1);
    expect(Number(rows.results[0].expires_at)).toBe(2_000_000_060_000);
  });

  it('does not ban an IP whose few broken devices keep retrying on their shards', async () => {
    await enableAutoBans();
    const ip = '203.0.113.90';
    const broken = idsOnShards('broken-', [0, 1, 2]);
    for (let round = 0; round < 3; round++) {
      for (const clientId of broken) expect(await connack(ip, { clientId, username: 'fleet', password: 'stale' })).toBe(0x86);
    }
    expect(await connack(ip, { clientId: idsOnShards('healthy-', [3])[0] })).toBe(0);
  });
});
