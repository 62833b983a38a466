import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, auditEntries, configVersion, expectError, expectGuarded, tokens } from './admin-support';
import { RawClient } from './raw-client';

/** The CONNACK return code a 3.1.1 CONNECT with this client id gets from this address. */
async function returnCode(ip: string, clientId: string): Promise<number> {
  const c = await RawClient.open(4, { 'CF-Connecting-IP': ip });
  const ack = (await c.connect({ clientId })) as { returnCode: number };
  c.close();
  return ack.returnCode;
}

describe('/blocked-clients', () => {
  it('creates, reads, lists with filters and computed status, updates and deletes; every change bumps config_version', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const created = await api('POST', '/blocked-clients', { token: admin, body: { kind: 'cidr', value: '10.1.0.0/16', description: 'lab network' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'cidr', value: '10.1.0.0/16', description: 'lab network', source: 'manual', expiresAt: null, status: 'active' });
    expect(await configVersion()).toBe(v0 + 1);

    const past = await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'old-device', expiresAt: '2020-01-01T00:00:00Z' } });
    expect(past.body).toMatchObject({ status: 'expired', expiresAt: '2020-01-01T00:00:00.000Z' });
    const future = await api('POST', '/blocked-clients', { token: admin, body: { kind: 'usernameRegex', value: '^guest-', expiresAt: '2999-01-01T00:00:00Z' } });
    expect(future.body.status).toBe('active');

    const one = await api('GET', `/blocked-clients/${created.body.id}`, { token: viewer });
    expect(one.body).toEqual(created.body);
    expect((await api('GET', '/blocked-clients?status=expired', { token: viewer })).body.data.map((b: { value: string }) => b.value)).toEqual(['old-device']);
    expect((await api('GET', '/blocked-clients?status=active', { token: viewer })).body.totalElements).toBe(2);
    expect((await api('GET', '/blocked-clients?kind=cidr', { token: viewer })).body.data).toHaveLength(1);
    expect((await api('GET', '/blocked-clients?value=GUEST', { token: viewer })).body.data[0].value).toBe('^guest-');
    const paged = await api('GET', '/blocked-clients?pageSize=2&page=1', { token: viewer });
    expect(paged.body).toMatchObject({ page: 1, pageSize: 2, totalElements: 3, totalPages: 2, hasNext: false });

    const v1 = await configVersion();
    const updated = await api('PUT', `/blocked-clients/${past.body.id}`, { token: admin, body: { kind: 'clientId', value: 'old-device', expiresAt: null } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ status: 'active', expiresAt: null });
    expect(await configVersion()).toBe(v1 + 1);
    expect((await api('DELETE', `/blocked-clients/${past.body.id}`, { token: admin })).status).toBe(204);
    expect(await configVersion()).toBe(v1 + 2);
    expect((await auditEntries(admin, '?resource=blocked-clients')).map((e) => e.action)).toEqual(['delete', 'update', 'create', 'create', 'create']);
  });

  it('sorts on the server by every column, computed status and expiry too, and pages in that order', async () => {
    const { admin, viewer } = await tokens();
    await env.DB.prepare('DELETE FROM blocked_clients').run();
    const block = async (body: Record<string, unknown>) => (await api('POST', '/blocked-clients', { token: admin, body })).body.value as string;
    await block({ kind: 'clientId', value: 'b-device', expiresAt: '2020-01-01T00:00:00Z', description: 'zz' });
    await block({ kind: 'ip', value: '192.0.2.1', description: 'aa' });
    await block({ kind: 'username', value: 'a-user', expiresAt: '2999-01-01T00:00:00Z' });
    await block({ kind: 'clientIdRegex', value: '^c-', expiresAt: '2998-01-01T00:00:00Z', description: 'mm' });
    const values = async (query: string) =>
      (await api('GET', `/blocked-clients?${query}`, { token: viewer })).body.data.map((b: { value: string }) => b.value);

    // Newest first by default, as before.
    expect(await values('')).toEqual(['^c-', 'a-user', '192.0.2.1', 'b-device']);
    expect(await values('sort=value&order=asc')).toEqual(['192.0.2.1', '^c-', 'a-user', 'b-device']);
    expect(await values('sort=kind&order=desc')).toEqual(['a-user', '192.0.2.1', '^c-', 'b-device']);
    // Status as the view words it (active, expired); a block that never ends is the last to expire.
    expect((await values('sort=status&order=desc'))[0]).toBe('b-device');
    expect((await values('sort=status&order=asc'))[3]).toBe('b-device');
    expect(await values('sort=expiresAt&order=asc')).toEqual(['b-device', '^c-', 'a-user', '192.0.2.1']);
    expect(await values('sort=expiresAt&order=desc')).toEqual(['192.0.2.1', 'a-user', '^c-', 'b-device']);
    expect(await values('sort=description&order=desc&pageSize=2')).toEqual(['b-device', '^c-']);
    expect(await values('sort=description&order=desc&pageSize=2&page=1')).toEqual(['192.0.2.1', 'a-user']);
    expectError(await api('GET', '/blocked-clients?sort=secret', { token: viewer }), 400, 'validation_error', 'sort');
    expectError(await api('GET', '/blocked-clients?order=up', { token: viewer }), 400, 'validation_error', 'order');
    // The tests below start from an empty list.
    await env.DB.prepare('DELETE FROM blocked_clients').run();
  });

  it('validates kind and value, refuses duplicates, and answers 401/403/404', async () => {
    const { admin, viewer } = await tokens();
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'ip', value: '999.1.1.1' } }), 400, 'validation_error', 'value');
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'cidr', value: '10.0.0.0/99' } }), 400, 'validation_error', 'value');
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientIdRegex', value: '(' } }), 400, 'validation_error', 'value');
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'mac', value: 'x' } }), 400, 'validation_error', 'kind');
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'ip', value: '192.0.2.1', expiresAt: 'soon' } }), 400, 'validation_error', 'expiresAt');
    expect((await api('POST', '/blocked-clients', { token: admin, body: { kind: 'ip', value: '192.0.2.1' } })).status).toBe(201);
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'ip', value: '192.0.2.1' } }), 409, 'conflict', 'value');
    expectError(await api('GET', '/blocked-clients/nope', { token: admin }), 404, 'not_found');
    expectError(await api('PUT', '/blocked-clients/nope', { token: admin, body: { kind: 'ip', value: '192.0.2.9' } }), 404, 'not_found');
    expectError(await api('DELETE', '/blocked-clients/nope', { token: admin }), 404, 'not_found');
    expectError(await api('GET', '/blocked-clients?status=gone', { token: admin }), 400, 'validation_error', 'status');
    await expectGuarded('GET', '/blocked-clients', null);
    await expectGuarded('GET', '/blocked-clients/nope', null);
    await expectGuarded('POST', '/blocked-clients', viewer, { kind: 'ip', value: '192.0.2.3' });
    await expectGuarded('PUT', '/blocked-clients/nope', viewer, { kind: 'ip', value: '192.0.2.3' });
    await expectGuarded('DELETE', '/blocked-clients/nope', viewer);
  });

  it('blocks a client id from one IP alone when the entry names one, and everywhere when it does not', async () => {
    const { admin } = await tokens();
    const scoped = await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-4711', ip: '198.51.100.66' } });
    expect(scoped.status).toBe(201);
    expect(scoped.body).toMatchObject({ kind: 'clientId', value: 'sn-4711', ip: '198.51.100.66', source: 'manual' });
    expect(await returnCode('198.51.100.66', 'sn-4711')).toBe(5);
    expect(await returnCode('203.0.113.20', 'sn-4711')).toBe(0);
    // The same client id from another IP, or everywhere, is another entry; the same one again is a conflict.
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-4711', ip: '198.51.100.66' } }), 409, 'conflict', 'value');
    expect((await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-4711', ip: '198.51.100.67' } })).status).toBe(201);
    const everywhere = await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-4711' } });
    expect(everywhere.body).toMatchObject({ ip: null });
    expect(await returnCode('203.0.113.20', 'sn-4711')).toBe(5);
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-4711' } }), 409, 'conflict', 'value');
    // Only a client id entry can name an IP, and it must be one.
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'username', value: 'alice', ip: '198.51.100.66' } }), 400, 'validation_error', 'ip');
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-4712', ip: 'somewhere' } }), 400, 'validation_error', 'ip');
  });

  it('blocks a client id from an IPv6 /64 when the entry names one: every address in it, none outside', async () => {
    const { admin } = await tokens();
    const scoped = await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-6464', ip: '2001:db8:1:2::/64' } });
    expect(scoped.status).toBe(201);
    expect(scoped.body).toMatchObject({ kind: 'clientId', value: 'sn-6464', ip: '2001:db8:1:2::/64', source: 'manual' });
    expect(await returnCode('2001:db8:1:2::1', 'sn-6464')).toBe(5);
    expect(await returnCode('2001:db8:1:2:ffff:ffff:ffff:ffff', 'sn-6464')).toBe(5);
    expect(await returnCode('2001:db8:1:3::1', 'sn-6464')).toBe(0);
    expect(await returnCode('2001:db8:1:2::1', 'sn-6465')).toBe(0);
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-6464', ip: '2001:db8:1:2::/64' } }), 409, 'conflict', 'value');
    expectError(await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'sn-6464', ip: '2001:db8::/129' } }), 400, 'validation_error', 'ip');
  });

  it('takes effect on the broker at once: a blocked client id is refused on its next CONNECT', async () => {
    const { admin } = await tokens();
    const before = await RawClient.open(4);
    expect(((await before.connect({ clientId: 'soon-blocked' })) as { returnCode: number }).returnCode).toBe(0);
    before.close();
    expect((await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'soon-blocked' } })).status).toBe(201);
    const after = await RawClient.open(4);
    expect(((await after.connect({ clientId: 'soon-blocked' })) as { returnCode: number }).returnCode).toBe(5);
    // The refusal reaches the Unauthorized Clients log, written in the background.
    let reason: unknown = null;
    for (let i = 0; i < 100 && reason === null; i++) {
      reason = await env.DB.prepare("SELECT reason_code FROM unauthorized_clients WHERE client_id = 'soon-blocked'").first('reason_code');
      if (reason === null) await new Promise((r) => setTimeout(r, 20));
    }
    expect(reason).toBe('CLIENT_BLOCKED');
  });
});
