import type { IConnackPacket, IClientOptions } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UnauthorizedClient } from '../../worker/admin/contract/security';
import { startAdminBroker } from '../support/admin-broker';
import type { AdminCall } from '../support/admin-session';
import { waitFor, type BrokerHandle } from '../support/broker-process';
import { connackOf, connectClient } from './mqtt-clients';

/**
 * The Unauthorized Clients listing of the admin API over rows made by real
 * refused MQTT.js connections against wrangler dev: every filter, the sort
 * columns and paging, alone and all together.
 */

const ADMIN = { username: 'e2e-admin', password: 'e2e-admin-password' };
let broker: BrokerHandle;
let api: AdminCall;


async function list(query: string): Promise<{ data: UnauthorizedClient[]; page: number; pageSize: number; totalElements: number; totalPages: number; hasNext: boolean }> {
  const res = await api('GET', `/unauthorized-clients?${query}`);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

const ids = async (query: string) => (await list(query)).data.map((r) => r.clientId);

/** A refused CONNECT from a given address (wrangler dev passes CF-Connecting-IP through from the client). */
async function refuse(clientId: string, ip: string, creds: Pick<IClientOptions, 'username' | 'password'>, protocolVersion: 4 | 5 = 5): Promise<IConnackPacket> {
  const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, ...creds, wsOptions: { headers: { 'CF-Connecting-IP': ip } } })) as IConnackPacket;
  expect(ack.reasonCode ?? ack.returnCode, clientId).not.toBe(0);
  return ack;
}

/** The refusal log is written in the background: wait until the row shows this many attempts. */
async function logged(clientId: string, attempts = 1): Promise<UnauthorizedClient> {
  const row = await waitFor(async () => {
    const res = await api<UnauthorizedClient>('GET', `/unauthorized-clients/${encodeURIComponent(clientId)}`);
    return res.status === 200 && res.body.attempts >= attempts ? res.body : null;
  }, 10_000);
  return row!;
}

const marks: Record<string, string> = {};

beforeAll(async () => {
  ({ broker, api } = await startAdminBroker(ADMIN, {
    ALLOW_ANONYMOUS: 'false',
    AUTH_PROVIDERS: 'basic',
  }));

  // Every refusal here comes from a few addresses: automatic bans would get in the way.
  const settings = await api('PUT', '/settings', { autoBan: { enabled: false } });
  expect(settings.status).toBe(200);
  expect((await api('POST', '/credentials', { type: 'basic', name: 'Alice', username: 'alice', password: 'alice-password' })).status).toBe(201);
  expect((await api('POST', '/credentials', { type: 'basic', name: 'Sensor', username: 'sensor', password: 'sensor-password' })).status).toBe(201);
  expect((await api('POST', '/blocked-clients', { kind: 'clientId', value: 'e2e-banned' })).status).toBe(201);

  // Phase 1: a wrong password three times, an unknown user, a missing password.
  for (let i = 0; i < 3; i++) await refuse('e2e-wrong-pw', '192.0.2.10', { username: 'alice', password: 'nope' });
  await refuse('e2e-unknown', '192.0.2.11', { username: 'mallory', password: 'guess' }, 4);
  await refuse('e2e-nopw', '198.51.100.20', { username: 'sensor' });
  await logged('e2e-wrong-pw', 3);
  await logged('e2e-unknown');
  await logged('e2e-nopw');
  await new Promise((r) => setTimeout(r, 20));
  marks.between = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 20));

  // Phase 2: anonymous, a blocked client id, and a second wrong password for another id.
  await refuse('e2e-anon', '198.51.100.21', {});
  await refuse('e2e-banned', '203.0.113.30', { username: 'alice', password: 'alice-password' });
  await refuse('e2e-wrong-pw-2', '192.0.2.12', { username: 'alice', password: 'also-wrong' });
  await refuse('e2e-wrong-pw-2', '192.0.2.12', { username: 'alice', password: 'still-wrong' });
  await logged('e2e-anon');
  await logged('e2e-banned');
  await logged('e2e-wrong-pw-2', 2);
}, 180_000);

afterAll(async () => {
  await broker?.stop();
});

describe('35 admin API: Unauthorized Clients from real refused connections', () => {
  it('records each refused client once with what it sent, where from and why', async () => {
    const all = await list('clientId=e2e-&sort=clientId&order=asc');
    expect(all.data.map((r) => [r.clientId, r.reasonCode, r.attempts, r.passwordProvided, r.username])).toEqual([
      ['e2e-anon', 'ANONYMOUS_NOT_ALLOWED', 1, false, null],
      ['e2e-banned', 'CLIENT_BLOCKED', 1, true, 'alice'],
      ['e2e-nopw', 'NO_PASSWORD_PROVIDED', 1, false, 'sensor'],
      ['e2e-unknown', 'NO_CREDENTIALS_FOUND', 1, true, 'mallory'],
      ['e2e-wrong-pw', 'PASSWORD_DOES_NOT_MATCH', 3, true, 'alice'],
      ['e2e-wrong-pw-2', 'PASSWORD_DOES_NOT_MATCH', 2, true, 'alice'],
    ]);
    const wrong = all.data.find((r) => r.clientId === 'e2e-wrong-pw')!;
    expect(wrong.ip).toBe('192.0.2.10');
    // Whatever the local runtime reports about TLS, every row of one run says the same.
    expect(new Set(all.data.map((r) => r.tlsUsed)).size).toBe(1);
    expect(Date.parse(wrong.firstSeen)).toBeLessThanOrEqual(Date.parse(wrong.lastUpdate));
    expect(wrong.lastUpdate).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    // The reason catalogue explains every code the log holds.
    const reasons = (await api('GET', '/reasons')).body as Record<string, { title: string }>;
    for (const r of all.data) expect(reasons[r.reasonCode]?.title, r.reasonCode).toBeTruthy();
  });

  it('filters by each parameter alone', async () => {
    expect(await ids('clientId=WRONG-PW&sort=clientId&order=asc')).toEqual(['e2e-wrong-pw', 'e2e-wrong-pw-2']);
    expect(await ids('username=ALI&sort=clientId&order=asc')).toEqual(['e2e-banned', 'e2e-wrong-pw', 'e2e-wrong-pw-2']);
    expect(await ids('ip=198.51.100.&sort=clientId&order=asc')).toEqual(['e2e-anon', 'e2e-nopw']);
    expect(await ids('reason=no_password&sort=clientId')).toEqual(['e2e-nopw']);
    expect(await ids('reason=blocked')).toEqual(['e2e-banned']);
    expect(await ids('passwordProvided=false&sort=clientId&order=asc')).toEqual(['e2e-anon', 'e2e-nopw']);
    expect(await ids('passwordProvided=true,false&clientId=e2e-')).toHaveLength(6);
    const tls = (await list('clientId=e2e-')).data[0].tlsUsed;
    expect(await ids(`tlsUsed=${!tls}&clientId=e2e-`)).toEqual([]);
    expect(await ids(`tlsUsed=${tls}&clientId=e2e-`)).toHaveLength(6);
    expect(await ids('tlsUsed=false,true&clientId=e2e-')).toHaveLength(6);
    expect(await ids(`to=${encodeURIComponent(marks.between)}&sort=clientId&order=asc`)).toEqual(['e2e-nopw', 'e2e-unknown', 'e2e-wrong-pw']);
    expect(await ids(`from=${encodeURIComponent(marks.between)}&sort=clientId&order=asc`)).toEqual(['e2e-anon', 'e2e-banned', 'e2e-wrong-pw-2']);
    expect(await ids(`from=${Date.parse(marks.between)}&to=${Date.now() + 60_000}&clientId=e2e-`)).toHaveLength(3);
  });

  it('sorts by every column in both orders, newest first by default', async () => {
    const defaultOrder = await list('clientId=e2e-');
    const times = defaultOrder.data.map((r) => Date.parse(r.lastUpdate));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(await ids('clientId=e2e-&sort=attempts&order=desc&pageSize=2')).toEqual(['e2e-wrong-pw', 'e2e-wrong-pw-2']);
    for (const column of ['clientId', 'username', 'passwordProvided', 'tlsUsed', 'ip', 'reasonCode', 'reason', 'lastUpdate', 'firstSeen', 'attempts'] as const) {
      for (const order of ['asc', 'desc'] as const) {
        const rows = (await list(`clientId=e2e-&sort=${column}&order=${order}`)).data;
        const key = (r: UnauthorizedClient) => (r[column] === null ? '' : typeof r[column] === 'boolean' ? Number(r[column]) : r[column]) as string | number;
        for (let i = 1; i < rows.length; i++) {
          const [a, b] = [key(rows[i - 1]), key(rows[i])];
          if (a !== b) expect(order === 'asc' ? a < b : a > b, `${column} ${order}: ${a} before ${b}`).toBe(true);
          // Equal values are ordered by client id, so pages never overlap.
          else expect(rows[i - 1].clientId < rows[i].clientId, `${column} ${order} tie`).toBe(true);
        }
      }
    }
  });

  it('pages with totals', async () => {
    const pages = [];
    for (let page = 0; page < 3; page++) pages.push(await list(`clientId=e2e-&sort=clientId&order=asc&pageSize=2&page=${page}`));
    expect(pages.map((p) => p.data.map((r) => r.clientId))).toEqual([
      ['e2e-anon', 'e2e-banned'],
      ['e2e-nopw', 'e2e-unknown'],
      ['e2e-wrong-pw', 'e2e-wrong-pw-2'],
    ]);
    expect(pages.map((p) => [p.page, p.pageSize, p.totalElements, p.totalPages, p.hasNext])).toEqual([
      [0, 2, 6, 3, true],
      [1, 2, 6, 3, true],
      [2, 2, 6, 3, false],
    ]);
    const beyond = await list('clientId=e2e-&pageSize=2&page=7');
    expect(beyond).toMatchObject({ data: [], totalElements: 6, hasNext: false });
  });

  it('applies every filter, the sort and paging together', async () => {
    const tls = (await list('clientId=e2e-')).data[0].tlsUsed;
    const query = [
      'clientId=wrong',
      'username=alice',
      'ip=192.0.2.',
      'reason=password',
      'passwordProvided=true',
      `tlsUsed=${tls}`,
      `from=${encodeURIComponent(new Date(Date.parse(marks.between) - 3_600_000).toISOString())}`,
      `to=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
      'sort=attempts',
      'order=asc',
      'pageSize=1',
    ].join('&');
    const first = await list(`${query}&page=0`);
    const second = await list(`${query}&page=1`);
    expect(first).toMatchObject({ page: 0, pageSize: 1, totalElements: 2, totalPages: 2, hasNext: true });
    expect(second).toMatchObject({ page: 1, totalElements: 2, hasNext: false });
    expect([first.data[0].clientId, second.data[0].clientId]).toEqual(['e2e-wrong-pw-2', 'e2e-wrong-pw']);
    // Narrowing the time range to the second phase leaves the one refused after the mark.
    const later = await list(query.replace(/from=[^&]+/, `from=${encodeURIComponent(marks.between)}`) + '&page=0');
    expect(later.data.map((r) => r.clientId)).toEqual(['e2e-wrong-pw-2']);
  });

  it('a successful login clears the client id, and DELETE removes rows', async () => {
    const ok = await connectClient(broker.wsUrl, { clientId: 'e2e-wrong-pw', username: 'alice', password: 'alice-password' });
    await ok.endAsync();
    await waitFor(async () => (await api('GET', '/unauthorized-clients/e2e-wrong-pw')).status === 404, 10_000);
    expect((await api('DELETE', '/unauthorized-clients/e2e-anon')).status).toBe(204);
    expect(await ids('clientId=e2e-&sort=clientId&order=asc')).toEqual(['e2e-banned', 'e2e-nopw', 'e2e-unknown', 'e2e-wrong-pw-2']);
    const all = await api('DELETE', '/unauthorized-clients');
    expect(all.body).toEqual({ deleted: 4 });
    expect((await list('')).totalElements).toBe(0);
  });

  it('a successful login deletes only a row its shard logged: a row written by anything else stays', async () => {
    // A row this broker did not write (an older version, another tool): no D1 delete is spent on it.
    await broker.d1(
      "INSERT INTO unauthorized_clients (client_id, username, password_provided, tls_used, ip, reason_code, reason, attempts, first_seen, last_update) " +
        "VALUES ('e2e-foreign', 'alice', 1, 0, '192.0.2.40', 'PASSWORD_DOES_NOT_MATCH', 'written elsewhere', 1, 1, 1)",
    );
    expect((await api('GET', '/unauthorized-clients/e2e-foreign')).status).toBe(200);
    const foreign = await connectClient(broker.wsUrl, { clientId: 'e2e-foreign', username: 'alice', password: 'alice-password' });
    await foreign.endAsync();

    // A refused id that then logs in is deleted. A shard sends what it queued at once, so a delete queued
    // for e2e-foreign (before this change, every successful login queued one) would have landed by then.
    await refuse('e2e-marker', '192.0.2.41', { username: 'alice', password: 'nope' });
    await logged('e2e-marker');
    const marker = await connectClient(broker.wsUrl, { clientId: 'e2e-marker', username: 'alice', password: 'alice-password' });
    await marker.endAsync();
    await waitFor(async () => (await api('GET', '/unauthorized-clients/e2e-marker')).status === 404, 10_000);
    expect((await api('GET', '/unauthorized-clients/e2e-foreign')).status).toBe(200);
  });

  it('serves the API description and the Swagger UI files from the deployed bundle', async () => {
    const doc = await fetch(`${broker.url}/api/v1/openapi.json`);
    expect(doc.status).toBe(200);
    const page = await (await fetch(`${broker.url}/api/v1/docs`)).text();
    const src = /<script src="([^"]+)"/.exec(page)![1];
    const script = await fetch(new URL(src, `${broker.url}/api/v1/docs`));
    expect(script.status).toBe(200);
    expect((await script.text()).length).toBeGreaterThan(500_000);
  });
});
