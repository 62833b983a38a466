import { env } from 'cloudflare:test';
import { drizzle } from 'drizzle-orm/d1';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../db/queries/db';
import { clearClient, deleteOlderThan, enforceRowLimit, recordRefusals, REFUSAL_FIELD_LIMITS, type RefusalRow } from '../../db/queries/unauthorized-clients';
import { api, auditEntries, expectError, expectGuarded, tokens } from './admin-support';

const db = drizzle(env.DB) as unknown as Db;

/** What every refusal in these tests sent and why it was refused, unless a test says otherwise. */
const WRONG_PASSWORD = {
  username: 'user',
  passwordProvided: true,
  tlsUsed: false,
  ip: '192.0.2.10',
  reasonCode: 'PASSWORD_DOES_NOT_MATCH',
  reason: 'basic: wrong password',
} as const;

function refusal(clientId: string, at: number, extra: Partial<RefusalRow> = {}): RefusalRow {
  return { clientId, ...WRONG_PASSWORD, at, attempts: 1, ...extra };
}

async function row(clientId: string) {
  return env.DB.prepare('SELECT * FROM unauthorized_clients WHERE client_id = ?').bind(clientId).first<Record<string, unknown>>();
}

describe('unauthorized_clients queries the broker calls', () => {
  it('recordRefusals keeps one row per client id: attempts add up, first_seen stays, the newest attempt wins the rest', async () => {
    await recordRefusals(db, [refusal('dev-1', 1_000, { attempts: 2 })]);
    await recordRefusals(db, [refusal('dev-1', 5_000, { username: 'other', ip: '198.51.100.7', reasonCode: 'NO_CREDENTIALS_FOUND', reason: 'no credential', tlsUsed: true })]);
    expect(await row('dev-1')).toMatchObject({
      client_id: 'dev-1',
      username: 'other',
      ip: '198.51.100.7',
      reason_code: 'NO_CREDENTIALS_FOUND',
      reason: 'no credential',
      tls_used: 1,
      attempts: 3,
      first_seen: 1_000,
      last_update: 5_000,
    });
  });

  it('recordRefusals cuts oversized strings and writes large batches', async () => {
    const huge = 'x'.repeat(10_000);
    await recordRefusals(db, [refusal(huge, 1, { username: huge, ip: huge, reason: huge, reasonCode: huge })]);
    const stored = await env.DB.prepare('SELECT length(client_id) AS c, length(username) AS u, length(ip) AS i, length(reason) AS r, length(reason_code) AS rc FROM unauthorized_clients WHERE client_id LIKE ?')
      .bind('xxx%')
      .first();
    expect(stored).toEqual({ c: REFUSAL_FIELD_LIMITS.clientId, u: REFUSAL_FIELD_LIMITS.username, i: REFUSAL_FIELD_LIMITS.ip, r: REFUSAL_FIELD_LIMITS.reason, rc: REFUSAL_FIELD_LIMITS.reasonCode });
    await recordRefusals(db, Array.from({ length: 120 }, (_, i) => refusal(`bulk-${i}`, 10 + i)));
    expect(await env.DB.prepare("SELECT count(*) AS n FROM unauthorized_clients WHERE client_id LIKE 'bulk-%'").first('n')).toBe(120);
  });

  it('clearClient, deleteOlderThan and enforceRowLimit', async () => {
    await env.DB.prepare('DELETE FROM unauthorized_clients').run();
    await recordRefusals(db, Array.from({ length: 10 }, (_, i) => refusal(`c-${i}`, (i + 1) * 1000)));
    await clearClient(db, 'c-9');
    expect(await row('c-9')).toBeNull();
    expect(await deleteOlderThan(db, new Date(3_000))).toBe(2);
    expect(await row('c-1')).toBeNull();
    expect(await row('c-2')).not.toBeNull();
    // c-2..c-8 remain (7 rows); keep the 4 most recently updated.
    expect(await enforceRowLimit(db, 4)).toBe(3);
    const left = await env.DB.prepare('SELECT client_id FROM unauthorized_clients ORDER BY client_id').all<{ client_id: string }>();
    expect(left.results.map((r) => r.client_id)).toEqual(['c-5', 'c-6', 'c-7', 'c-8']);
    expect(await enforceRowLimit(db, 100)).toBe(0);
  });
});

describe('GET/DELETE /unauthorized-clients', () => {
  it('gets one row with ISO-8601 times, deletes one and all, and audits it', async () => {
    const { admin, viewer } = await tokens();
    await env.DB.prepare('DELETE FROM unauthorized_clients').run();
    await recordRefusals(db, [refusal('sensor/1 #a', Date.UTC(2026, 10, 20, 10, 0, 0), { attempts: 4 }), refusal('sensor-2', Date.UTC(2026, 10, 20, 11, 0, 0))]);

    const one = await api('GET', `/unauthorized-clients/${encodeURIComponent('sensor/1 #a')}`, { token: viewer });
    expect(one.status).toBe(200);
    expect(one.body).toEqual({
      clientId: 'sensor/1 #a',
      ...WRONG_PASSWORD,
      lastUpdate: '2026-11-20T10:00:00.000Z',
      firstSeen: '2026-11-20T10:00:00.000Z',
      attempts: 4,
    });
    expectError(await api('GET', '/unauthorized-clients/nobody', { token: viewer }), 404, 'not_found');

    await expectGuarded('GET', '/unauthorized-clients', null);
    await expectGuarded('GET', '/unauthorized-clients/sensor-2', null);
    await expectGuarded('DELETE', '/unauthorized-clients/sensor-2', viewer);
    await expectGuarded('DELETE', '/unauthorized-clients', viewer);

    expect((await api('DELETE', `/unauthorized-clients/${encodeURIComponent('sensor/1 #a')}`, { token: admin })).status).toBe(204);
    expectError(await api('DELETE', `/unauthorized-clients/${encodeURIComponent('sensor/1 #a')}`, { token: admin }), 404, 'not_found');
    const all = await api('DELETE', '/unauthorized-clients', { token: admin });
    expect(all.status).toBe(200);
    expect(all.body).toEqual({ deleted: 1 });
    expect((await api('GET', '/unauthorized-clients', { token: admin })).body.totalElements).toBe(0);
    const audit = await auditEntries(admin, '?resource=unauthorized-clients');
    expect(audit.map((e) => [e.action, e.resourceId])).toEqual([
      ['delete-all', null],
      ['delete', 'sensor/1 #a'],
    ]);
  });

  it('validates every list parameter, naming it', async () => {
    const { viewer } = await tokens();
    const cases: Array<[string, string]> = [
      ['pageSize=501', 'pageSize'],
      ['pageSize=0', 'pageSize'],
      ['page=-1', 'page'],
      ['page=abc', 'page'],
      ['sort=password', 'sort'],
      ['order=up', 'order'],
      ['passwordProvided=yes', 'passwordProvided'],
      ['tlsUsed=true,maybe', 'tlsUsed'],
      ['from=last-week', 'from'],
      ['to=2026-13-45T99:00:00Z', 'to'],
    ];
    for (const [query, field] of cases) expectError(await api('GET', `/unauthorized-clients?${query}`, { token: viewer }), 400, 'validation_error', field);
  });

  it('summary counts the whole log by IP and by reason, largest first and bounded, as D1 holds it', async () => {
    const { viewer } = await tokens();
    await env.DB.prepare('DELETE FROM unauthorized_clients').run();
    expect((await api('GET', '/unauthorized-clients/summary', { token: viewer })).body).toEqual({ clients: 0, attempts: 0, byIp: [], byReason: [] });

    const noCredential = { reasonCode: 'NO_CREDENTIALS_FOUND', reason: 'no credential' };
    await recordRefusals(db, [
      refusal('a', 1, { ip: '198.51.100.7', attempts: 5 }),
      refusal('b', 2, { ip: '198.51.100.7', attempts: 2, ...noCredential }),
      refusal('c', 3, { ip: '203.0.113.9', attempts: 4, ...noCredential }),
      refusal('d', 4, { ip: '192.0.2.10', attempts: 1 }),
      refusal('e', 5, { ip: '192.0.2.11', attempts: 1, reasonCode: 'ANONYMOUS_NOT_ALLOWED', reason: 'anonymous' }),
    ]);
    // More rows than one dashboard page would hold must all count.
    await recordRefusals(db, Array.from({ length: 150 }, (_, i) => refusal(`flood-${i}`, 10 + i, { ip: '203.0.113.50' })));

    const stored = await env.DB.prepare(
      'SELECT ip, sum(attempts) AS attempts, count(*) AS clients FROM unauthorized_clients GROUP BY ip ORDER BY sum(attempts) DESC, ip LIMIT 3',
    ).all<{ ip: string; attempts: number; clients: number }>();
    const res = await api('GET', '/unauthorized-clients/summary?limit=3', { token: viewer });
    expect(res.status).toBe(200);
    expect(res.body.byIp).toEqual(stored.results);
    expect(res.body).toEqual({
      clients: 155,
      attempts: 5 + 2 + 4 + 1 + 1 + 150,
      byIp: [
        { ip: '203.0.113.50', attempts: 150, clients: 150 },
        { ip: '198.51.100.7', attempts: 7, clients: 2 },
        { ip: '203.0.113.9', attempts: 4, clients: 1 },
      ],
      byReason: [
        { reasonCode: 'PASSWORD_DOES_NOT_MATCH', attempts: 156, clients: 152 },
        { reasonCode: 'NO_CREDENTIALS_FOUND', attempts: 6, clients: 2 },
        { reasonCode: 'ANONYMOUS_NOT_ALLOWED', attempts: 1, clients: 1 },
      ],
    });
    // The default bound is 8; "summary" is never read as a client id.
    expect((await api('GET', '/unauthorized-clients/summary', { token: viewer })).body.byIp).toHaveLength(5);
    expectError(await api('GET', '/unauthorized-clients/summary?limit=0', { token: viewer }), 400, 'validation_error', 'limit');
    expectError(await api('GET', '/unauthorized-clients/summary?limit=101', { token: viewer }), 400, 'validation_error', 'limit');
    await expectGuarded('GET', '/unauthorized-clients/summary', null);
  });

  it('treats filter text literally: % and _ are not wildcards', async () => {
    const { viewer } = await tokens();
    await env.DB.prepare('DELETE FROM unauthorized_clients').run();
    await recordRefusals(db, [refusal('100%_sure', 1), refusal('100abc', 2), refusal('a_b', 3), refusal('axb', 4)]);
    const ids = async (text: string) =>
      (await api('GET', `/unauthorized-clients?sort=clientId&order=asc&clientId=${encodeURIComponent(text)}`, { token: viewer })).body.data.map((r: { clientId: string }) => r.clientId);
    // As wildcards, '0%' would also match 100abc and 'a_b' would also match axb.
    expect(await ids('0%')).toEqual(['100%_sure']);
    expect(await ids('a_b')).toEqual(['a_b']);
    expect(await ids('A_B')).toEqual(['a_b']);
  });
});
