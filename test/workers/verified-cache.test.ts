import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { IConnackPacket } from 'mqtt-packet';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';
import { api, tokens } from './admin-support';
import { RawClient } from './raw-client';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));

/** The shard's verification-cache rows of one client id, read from its SQLite. */
function cacheRowsOf(clientId: string): Promise<Array<{ expiresAt: number; connected: number }>> {
  return runInDurableObject(shard(), (_instance, state) =>
    state.storage.sql
      .exec('SELECT expires_at, connected FROM auth_cache WHERE client_id = ?', clientId)
      .toArray()
      .map((row) => ({ expiresAt: Number(row.expires_at), connected: Number(row.connected) })),
  );
}

describe('the verification cache after a password client leaves', () => {
  it('keeps the entry for the basic provider\'s verifiedCacheSeconds, read from D1', async () => {
    const { admin } = await tokens();
    expect((await api('PUT', '/auth-providers/basic', { token: admin, body: { enabled: true, settings: { matchBy: 'username', verifiedCacheSeconds: 60 } } })).status).toBe(200);
    const created = await api('POST', '/credentials', { token: admin, body: { type: 'basic', name: 'Meter 3', username: 'meter-3', password: 'meter-3-password' } });
    expect(created.status).toBe(201);

    const client = await RawClient.open(4);
    const ack = (await client.connect({ clientId: 'meter-3', username: 'meter-3', password: 'meter-3-password' })) as IConnackPacket;
    expect(ack.returnCode).toBe(0);
    expect(await cacheRowsOf('meter-3')).toEqual([{ expiresAt: expect.any(Number), connected: 1 }]);

    const leftAt = Date.now();
    client.send({ cmd: 'disconnect' });
    await client.waitClosed();
    // The shard handles the close after the socket reports it; give it the moment it needs.
    let rows = await cacheRowsOf('meter-3');
    for (let i = 0; i < 50 && rows[0]?.connected !== 0; i++) {
      await new Promise((r) => setTimeout(r, 20));
      rows = await cacheRowsOf('meter-3');
    }
    expect(rows).toHaveLength(1);
    expect(rows[0].connected).toBe(0);
    // 60 s from the moment it left, not the default 900 s.
    expect(rows[0].expiresAt).toBeGreaterThanOrEqual(leftAt + 60_000 - 1_000);
    expect(rows[0].expiresAt).toBeLessThan(leftAt + 120_000);
  });

  it('forgets, at the shard\'s alarm, the expired entries of clients that are gone, and keeps the rest', async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const ids = { expired: `expired-${run}`, fresh: `fresh-${run}`, online: `online-${run}` };
    const past = Date.now() - 1_000;
    const later = Date.now() + 600_000;
    await runInDurableObject(shard(), (_instance, state) => {
      const put = (clientId: string, expiresAt: number, connected: number) =>
        state.storage.sql.exec(`INSERT INTO auth_cache (key, client_id, identity, expires_at, connected) VALUES (?, ?, '{}', ?, ?)`, `key-${clientId}`, clientId, expiresAt, connected);
      put(ids.expired, past, 0);
      put(ids.fresh, later, 0);
      // Connected clients keep their entry however old it is.
      put(ids.online, past, 1);
    });
    // The alarm is set while a client is connected (statistics, configuration recheck).
    const keepAwake = await RawClient.open(4);
    await keepAwake.connect({ clientId: `awake-${run}` });
    await runDurableObjectAlarm(shard());
    const left = (await Promise.all(Object.values(ids).map(async (id) => ((await cacheRowsOf(id)).length > 0 ? id : null)))).filter(Boolean);
    expect(left.sort()).toEqual([ids.fresh, ids.online].sort());
    keepAwake.close();
  });

  it('does not leave an entry marked connected when the CONNECT that verified it is refused afterwards', async () => {
    const { admin } = await tokens();
    expect((await api('PUT', '/auth-providers/basic', { token: admin, body: { enabled: true, settings: { matchBy: 'username', verifiedCacheSeconds: 60 } } })).status).toBe(200);
    expect((await api('POST', '/credentials', { token: admin, body: { type: 'basic', name: 'Meter 4', username: 'meter-4', password: 'meter-4-password' } })).status).toBe(201);
    expect((await api('POST', '/acl-rules', { token: admin, body: { kind: 'pattern', principalType: 'all', access: 'deny', topic: 'forbidden-will/#' } })).status).toBe(201);

    // The password is right, so the entry is written; the will's topic is denied, so 5.0 refuses the CONNECT with 0x87, Not authorized.
    const client = await RawClient.open(5);
    const ack = (await client.connect({
      clientId: 'meter-4',
      username: 'meter-4',
      password: 'meter-4-password',
      will: { topic: 'forbidden-will/x', payload: Buffer.from('gone'), qos: 0, retain: false },
    })) as IConnackPacket;
    expect(ack.reasonCode).toBe(0x87);
    // No disconnect will come for it: the entry counts from the refusal, as if its client had just left.
    expect(await cacheRowsOf('meter-4')).toEqual([{ expiresAt: expect.any(Number), connected: 0 }]);
  });
});
