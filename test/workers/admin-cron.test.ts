import { createExecutionContext, createScheduledController, env, waitOnExecutionContext } from 'cloudflare:test';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../db/queries/db';
import { recordRefusals } from '../../db/queries/unauthorized-clients';
import worker from '../../worker/index';
import { configVersion } from './admin-support';

const db = drizzle(env.DB) as unknown as Db;
const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);

async function runCron(overrides: Record<string, unknown> = {}): Promise<void> {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: NOW, cron: '*/15 * * * *' }), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
}

async function clientIds(): Promise<string[]> {
  const rows = await env.DB.prepare('SELECT client_id FROM unauthorized_clients ORDER BY client_id').all<{ client_id: string }>();
  return rows.results.map((r) => r.client_id);
}

function refusalAt(clientId: string, at: number) {
  return { clientId, username: null, passwordProvided: false, tlsUsed: false, ip: '192.0.2.1', reasonCode: 'NO_CREDENTIALS_FOUND', reason: 'x', at, attempts: 1 };
}

describe('cron trigger', () => {
  it('removes Unauthorized Clients rows older than the retention (default 3 days, or UNAUTHORIZED_CLIENTS_TTL_DAYS)', async () => {
    await recordRefusals(db, [refusalAt('fresh', NOW - 1 * DAY), refusalAt('two-days', NOW - 2 * DAY - 1000), refusalAt('four-days', NOW - 4 * DAY)]);
    await runCron({ UNAUTHORIZED_CLIENTS_TTL_DAYS: undefined });
    expect(await clientIds()).toEqual(['fresh', 'two-days']);
    await runCron({ UNAUTHORIZED_CLIENTS_TTL_DAYS: '2' });
    expect(await clientIds()).toEqual(['fresh']);
  });

  it('follows the unauthorizedRetentionDays broker setting over the var', async () => {
    await env.DB.prepare('DELETE FROM unauthorized_clients').run();
    await recordRefusals(db, [refusalAt('six-days', NOW - 6 * DAY), refusalAt('eight-days', NOW - 8 * DAY)]);
    await env.DB.prepare("INSERT INTO broker_settings (key, value, updated_at) VALUES ('unauthorizedRetentionDays', '7', 0)").run();
    await runCron({ UNAUTHORIZED_CLIENTS_TTL_DAYS: '1' });
    expect(await clientIds()).toEqual(['six-days']);
  });

  it('removes automatic bans that ran out, keeps manual entries and live bans, and bumps config_version', async () => {
    const insert = env.DB.prepare('INSERT INTO blocked_clients (id, kind, value, source, expires_at, created_at) VALUES (?, ?, ?, ?, ?, 0)');
    await env.DB.batch([
      insert.bind('a1', 'ip', '192.0.2.1', 'auto', NOW - 1000),
      insert.bind('a2', 'ip', '192.0.2.2', 'auto', NOW + 60_000),
      insert.bind('m1', 'clientId', 'old', 'manual', NOW - 1000),
      insert.bind('m2', 'clientId', 'forever', 'manual', null),
    ]);
    const v0 = await configVersion();
    await runCron();
    const left = await env.DB.prepare('SELECT id FROM blocked_clients ORDER BY id').all<{ id: string }>();
    expect(left.results.map((r) => r.id)).toEqual(['a2', 'm1', 'm2']);
    expect(await configVersion()).toBe(v0 + 1);
    // Nothing expired this time: no change, no bump.
    await runCron();
    expect(await configVersion()).toBe(v0 + 1);
  });

  it('forgets finished login windows', async () => {
    await env.DB.batch([
      env.DB.prepare("INSERT INTO login_attempts (key, failures, window_start) VALUES ('ip:old', 3, ?)").bind(NOW - 60 * 60_000),
      env.DB.prepare("INSERT INTO login_attempts (key, failures, window_start) VALUES ('ip:new', 3, ?)").bind(NOW - 60_000),
    ]);
    await runCron();
    const keys = await env.DB.prepare('SELECT key FROM login_attempts').all<{ key: string }>();
    expect(keys.results.map((r) => r.key)).toEqual(['ip:new']);
  });
});
