import { env, runInDurableObject } from 'cloudflare:test';
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
});
