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

  it('forgets, at the shard\'s alarm, expired entries of clients that are gone, and restarts the clock of one whose CONNECT never finished', async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const ids = { expired: `expired-${run}`, fresh: `fresh-${run}`, stuck: `stuck-${run}`, online: `online-${run}` };
    const online = await RawClient.open(4);
    expect(((await online.connect({ clientId: ids.online })) as IConnackPacket).returnCode).toBe(0);
    const past = Date.now() - 1_000;
    const later = Date.now() + 600_000;
    await runInDurableObject(shard(), (_instance, state) => {
      const put = (clientId: string, expiresAt: number, connected: number) =>
        state.storage.sql.exec(`INSERT INTO auth_cache (key, client_id, identity, expires_at, connected) VALUES (?, ?, '{}', ?, ?)`, `key-${clientId}`, clientId, expiresAt, connected);
      put(ids.expired, past, 0);
      put(ids.fresh, later, 0);
      // Marked connected by a CONNECT that never got a session: no disconnect will come for it.
      put(ids.stuck, past, 1);
      put(ids.online, past, 1);
    });
    const sweptAt = Date.now();
    await runDurableObjectAlarm(shard());
    const rows = await runInDurableObject(shard(), (_instance, state) =>
      Object.fromEntries(
        state.storage.sql
          .exec(`SELECT client_id, expires_at, connected FROM auth_cache WHERE client_id IN (?, ?, ?, ?)`, ids.expired, ids.fresh, ids.stuck, ids.online)
          .toArray()
          .map((r) => [String(r.client_id), { connected: Number(r.connected), expiresAt: Number(r.expires_at) }]),
      ),
    );
    expect(Object.keys(rows).sort()).toEqual([ids.fresh, ids.online, ids.stuck].sort());
    expect(rows[ids.fresh]).toEqual({ connected: 0, expiresAt: later });
    expect(rows[ids.online]).toEqual({ connected: 1, expiresAt: past });
    expect(rows[ids.stuck].connected).toBe(0);
    expect(rows[ids.stuck].expiresAt).toBeGreaterThanOrEqual(sweptAt + 60_000);
    online.close();
  });
});
