import { env, runInDurableObject } from 'cloudflare:test';
import { afterEach, describe, expect, it } from 'vitest';
import type { HashBudget } from '../../auth/hash-budget';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';
import { api, tokens } from './admin-support';
import { RawClient } from './raw-client';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));

/** Every device here comes from one carrier-grade NAT address. */
const NAT_IP = '100.64.7.7';

type WithBudget = { security: { hashBudget: HashBudget } };

/** Puts `budget` in force on the shard; returns the one it replaced. */
function useBudget(budget: HashBudget): Promise<HashBudget> {
  return runInDurableObject(shard(), (instance) => {
    const security = (instance as unknown as WithBudget).security;
    const before = security.hashBudget;
    security.hashBudget = budget;
    return before;
  });
}

/** A budget with nothing left, as after a flood of wrong passwords; it counts how often it was asked. */
function spentBudget() {
  const budget = { asked: 0, description: '5 per second, bursts of 20', tryTake: () => (budget.asked++, false) };
  return budget;
}

/** The bytes of the first WebSocket message the broker sends after the CONNECT, which carries the CONNACK. */
async function connackBytes(protocolVersion: 4 | 5, fields: Record<string, unknown>): Promise<number[]> {
  const client = await RawClient.open(protocolVersion, { 'CF-Connecting-IP': NAT_IP });
  const frames: number[][] = [];
  client.ws.addEventListener('message', (event) => {
    frames.push([...new Uint8Array(event.data as ArrayBuffer)]);
  });
  await client.connect(fields);
  client.close();
  return frames[0];
}

async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  let value = await read();
  for (let i = 0; i < 100 && !ok(value); i++) {
    await new Promise((r) => setTimeout(r, 20));
    value = await read();
  }
  return value;
}

let restore: HashBudget | null = null;
afterEach(async () => {
  if (restore) await useBudget(restore);
  restore = null;
});

describe('the shard hash budget on the wire', () => {
  it('answers a cache-missing CONNECT with Server busy (0x89 / 3) once the budget is spent, bans nobody, and lets verified devices reconnect', async () => {
    const { admin } = await tokens();
    const run = crypto.randomUUID().slice(0, 8);
    const [known, fresh] = [`meter-known-${run}`, `meter-fresh-${run}`];
    // Any failure that counted would ban: the client id at its first, the NAT address at its second identity.
    const autoBan = { enabled: true, maxFailures: 1, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 2, scope: ['ip', 'clientId'] };
    expect((await api('PUT', '/settings', { token: admin, body: { autoBan } })).status).toBe(200);
    expect((await api('PUT', '/auth-providers/basic', { token: admin, body: { enabled: true, settings: { matchBy: 'username', verifiedCacheSeconds: 900 } } })).status).toBe(200);
    for (const username of [known, fresh]) {
      expect((await api('POST', '/credentials', { token: admin, body: { type: 'basic', name: username, username, password: 'fleet-password' } })).status).toBe(201);
    }
    const credentials = (username: string) => ({ clientId: username, username, password: 'fleet-password' });

    // Verified once while the budget had room: from now on the cache answers for this device.
    const first = await connackBytes(5, credentials(known));
    // CONNACK, one length byte, no session present, reason 0x00; the broker's limits follow as properties.
    expect([first[0], first[2], first[3]]).toEqual([0x20, 0x00, 0x00]);

    const spent = spentBudget();
    restore = await useBudget(spent);

    // The right password, never verified on this shard: CONNACK reason 0x89 (Server busy), no properties...
    expect(await connackBytes(5, credentials(fresh))).toEqual([0x20, 0x03, 0x00, 0x89, 0x00]);
    // ...and again in 3.1.1, return code 3 (Server unavailable), not banned (5) by the first refusal.
    expect(await connackBytes(4, credentials(fresh))).toEqual([0x20, 0x02, 0x00, 0x03]);
    expect(spent.asked).toBe(2);

    // The reconnect after a deploy: the verified cache answers, nothing is hashed, the budget is not asked.
    const back = await connackBytes(5, credentials(known));
    expect([back[0], back[2], back[3]]).toEqual([0x20, 0x00, 0x00]);
    expect(spent.asked).toBe(2);

    // Logged with its precise reason, and counted toward no ban.
    const row = await eventually(
      () => env.DB.prepare('SELECT reason_code, reason, attempts FROM unauthorized_clients WHERE client_id = ?').bind(fresh).first<{ reason_code: string; reason: string; attempts: number }>(),
      (r) => r !== null && r.attempts === 2,
    );
    expect(row).toMatchObject({ reason_code: 'AUTHENTICATION_BUSY', attempts: 2 });
    expect(row?.reason).toContain(`credentials for username "${fresh}" not checked`);
    const bans = await env.DB.prepare(`SELECT kind, value FROM blocked_clients WHERE source = 'auto' AND value IN (?, ?)`).bind(fresh, NAT_IP).all();
    expect(bans.results).toEqual([]);
  });
});
