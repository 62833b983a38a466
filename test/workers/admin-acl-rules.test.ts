import { createExecutionContext, env, waitOnExecutionContext } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import worker from '../../worker/index';
import { api, auditEntries, BASE, configVersion, expectError, expectGuarded, tokens } from './admin-support';

describe('/acl-rules', () => {
  it('creates rules in evaluation order, reads, filters, updates and deletes them; each change bumps config_version', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const anon = await api('POST', '/acl-rules', { token: admin, body: { kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'public/#' } });
    expect(anon.status).toBe(201);
    expect(anon.body).toMatchObject({ kind: 'topic', principalType: 'anonymous', username: null, access: 'read', topic: 'public/#', position: 10, comment: null });
    const user = await api('POST', '/acl-rules', { token: admin, body: { kind: 'topic', principalType: 'user', username: 'alice', access: 'readwrite', topic: 'alice/#', comment: 'her own' } });
    expect(user.body.position).toBe(20);
    const pattern = await api('POST', '/acl-rules', { token: admin, body: { kind: 'pattern', principalType: 'all', access: 'write', topic: 'devices/%c/up', position: 5 } });
    expect(pattern.body.position).toBe(5);
    expect(await configVersion()).toBe(v0 + 3);

    const list = await api('GET', '/acl-rules', { token: viewer });
    expect(list.body.data.map((r: { topic: string }) => r.topic)).toEqual(['devices/%c/up', 'public/#', 'alice/#']);
    expect((await api('GET', '/acl-rules?username=ALI', { token: viewer })).body.data.map((r: { id: string }) => r.id)).toEqual([user.body.id]);
    expect((await api('GET', '/acl-rules?kind=pattern', { token: viewer })).body.totalElements).toBe(1);
    expect((await api('GET', '/acl-rules?principalType=anonymous', { token: viewer })).body.data[0].id).toBe(anon.body.id);
    expect((await api('GET', '/acl-rules?topic=public', { token: viewer })).body.totalElements).toBe(1);
    expect((await api('GET', `/acl-rules/${user.body.id}`, { token: viewer })).body).toEqual(user.body);

    const moved = await api('PUT', `/acl-rules/${user.body.id}`, { token: admin, body: { kind: 'topic', principalType: 'user', username: 'alice', access: 'deny', topic: 'alice/secret/#', position: 1 } });
    expect(moved.status).toBe(200);
    expect(moved.body).toMatchObject({ access: 'deny', topic: 'alice/secret/#', position: 1, comment: null });
    const kept = await api('PUT', `/acl-rules/${anon.body.id}`, { token: admin, body: { kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'public/+' } });
    expect(kept.body.position).toBe(10);
    expect((await api('DELETE', `/acl-rules/${pattern.body.id}`, { token: admin })).status).toBe(204);
    expect(await configVersion()).toBe(v0 + 6);
    expect((await api('GET', '/acl-rules', { token: viewer })).body.data.map((r: { topic: string }) => r.topic)).toEqual(['alice/secret/#', 'public/+']);
    expect((await auditEntries(admin, '?resource=acl-rules')).map((e) => e.action)).toEqual(['delete', 'update', 'update', 'create', 'create', 'create']);
  });

  it('checks mosquitto acl_file semantics and topic filters, naming the field; 401/403/404', async () => {
    const { admin, viewer } = await tokens();
    const post = (body: unknown) => api('POST', '/acl-rules', { token: admin, body });
    expectError(await post({ kind: 'topic', principalType: 'user', access: 'read', topic: 'a' }), 400, 'validation_error', 'username');
    expectError(await post({ kind: 'topic', principalType: 'anonymous', username: 'bob', access: 'read', topic: 'a' }), 400, 'validation_error', 'username');
    expectError(await post({ kind: 'pattern', principalType: 'user', username: 'bob', access: 'read', topic: 'a' }), 400, 'validation_error', 'principalType');
    expectError(await post({ kind: 'topic', principalType: 'all', access: 'read', topic: 'a' }), 400, 'validation_error', 'principalType');
    expectError(await post({ kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'a/#/b' }), 400, 'validation_error', 'topic');
    expectError(await post({ kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'a/b+' }), 400, 'validation_error', 'topic');
    expectError(await post({ kind: 'topic', principalType: 'anonymous', access: 'all', topic: 'a' }), 400, 'validation_error', 'access');
    expectError(await post({ kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'a', position: 1.5 }), 400, 'validation_error', 'position');
    expectError(await api('GET', '/acl-rules/none', { token: admin }), 404, 'not_found');
    expectError(await api('PUT', '/acl-rules/none', { token: admin, body: { kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'a' } }), 404, 'not_found');
    expectError(await api('DELETE', '/acl-rules/none', { token: admin }), 404, 'not_found');
    const body = { kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'a' };
    await expectGuarded('GET', '/acl-rules', null);
    await expectGuarded('GET', '/acl-rules/none', null);
    await expectGuarded('POST', '/acl-rules', viewer, body);
    await expectGuarded('PUT', '/acl-rules/none', viewer, body);
    await expectGuarded('DELETE', '/acl-rules/none', viewer);
  });
});

describe('/acl-rules: sorting on the server', () => {
  it('sorts by every column, whom a rule applies to as the dashboard words it, and pages in that order', async () => {
    const { admin, viewer } = await tokens();
    await env.DB.prepare('DELETE FROM acl_rules').run();
    const create = (body: Record<string, unknown>) => api('POST', '/acl-rules', { token: admin, body });
    await create({ kind: 'topic', principalType: 'user', username: 'zoe', access: 'read', topic: 'b/#', position: 10 });
    await create({ kind: 'pattern', principalType: 'all', access: 'write', topic: 'devices/%c/up', position: 20 });
    await create({ kind: 'topic', principalType: 'anonymous', access: 'deny', topic: 'a/#', position: 5, comment: 'first' });
    const topics = async (query: string) => (await api('GET', `/acl-rules?${query}`, { token: viewer })).body.data.map((r: { topic: string }) => r.topic);

    expect(await topics('')).toEqual(['a/#', 'b/#', 'devices/%c/up']);
    expect(await topics('sort=position&order=desc')).toEqual(['devices/%c/up', 'b/#', 'a/#']);
    // anonymous < everyone < user zoe
    expect(await topics('sort=principal&order=asc')).toEqual(['a/#', 'devices/%c/up', 'b/#']);
    expect(await topics('sort=access&order=asc')).toEqual(['a/#', 'b/#', 'devices/%c/up']);
    expect(await topics('sort=topic&order=desc&pageSize=2&page=1')).toEqual(['a/#']);
    expectError(await api('GET', '/acl-rules?sort=username', { token: viewer }), 400, 'validation_error', 'sort');
  });
});

describe('POST /acl-rules/test', () => {
  it('decides as the broker does and says what decided, for viewers too', async () => {
    const { admin, viewer } = await tokens();
    await api('PUT', '/auth-providers/basic', { token: admin, body: { enabled: true, settings: { matchBy: 'username' } } });
    const cred = await api('POST', '/credentials', {
      token: admin,
      body: { type: 'basic', name: 'Tracker', username: 'tracker', password: 'tracker-password', rules: { publish: ['fleet/${username}/.*'], subscribe: ['fleet/cmd/#'] } },
    });
    const denyRule = await api('POST', '/acl-rules', { token: admin, body: { kind: 'pattern', principalType: 'all', access: 'deny', topic: 'fleet/%c/secret' } });
    const grant = await api('POST', '/acl-rules', { token: admin, body: { kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'weather/#' } });
    const test = (body: Record<string, unknown>) => api('POST', '/acl-rules/test', { token: viewer, body });

    const byCredential = await test({ clientId: 't-1', username: 'tracker', action: 'publish', topic: 'fleet/tracker/gps' });
    expect(byCredential.status).toBe(200);
    expect(byCredential.body).toEqual({
      allowed: true,
      decidedBy: { source: 'identity-rules', ruleId: cred.body.id, pattern: 'fleet/${username}/.*', reason: expect.stringContaining('publish[0]') },
    });
    const outside = await test({ clientId: 't-1', username: 'tracker', action: 'publish', topic: 'fleet/other/gps' });
    expect(outside.body).toMatchObject({ allowed: false, decidedBy: { source: 'identity-rules', ruleId: cred.body.id } });
    const denied = await test({ clientId: 't-1', username: 'tracker', action: 'publish', topic: 'fleet/t-1/secret' });
    expect(denied.body).toMatchObject({ allowed: false, decidedBy: { source: 'acl-rule', ruleId: denyRule.body.id, pattern: 'fleet/%c/secret' } });
    const anonymous = await test({ clientId: 'kiosk', action: 'subscribe', topic: 'weather/+/today' });
    expect(anonymous.body).toMatchObject({ allowed: true, decidedBy: { source: 'acl-rule', ruleId: grant.body.id } });
    const sys = await test({ clientId: 'kiosk', username: null, action: 'publish', topic: '$SYS/broker/uptime' });
    expect(sys.body).toMatchObject({ allowed: false, decidedBy: { source: 'sys' } });
    // The workers tests run with ACL_DEFAULT_POLICY=allow.
    const fallback = await test({ clientId: 'kiosk', action: 'publish', topic: 'anything/else' });
    expect(fallback.body).toMatchObject({ allowed: true, decidedBy: { source: 'default-policy' } });
    // As deployed (wrangler.toml: ACL_DEFAULT_POLICY=deny), what no rule grants is refused.
    const ctx = createExecutionContext();
    const strict = await worker.fetch(
      new Request(`${BASE}/acl-rules/test`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${viewer}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ clientId: 'kiosk', action: 'publish', topic: 'anything/else' }),
      }),
      { ...env, ACL_DEFAULT_POLICY: 'deny' },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(await strict.json()).toMatchObject({ allowed: false, decidedBy: { source: 'default-policy' } });
  });

  it('validates the request, naming the field, and needs a token', async () => {
    const { viewer } = await tokens();
    expectError(await api('POST', '/acl-rules/test', { token: viewer, body: { clientId: 'c', action: 'read', topic: 'a' } }), 400, 'validation_error', 'action');
    expectError(await api('POST', '/acl-rules/test', { token: viewer, body: { clientId: 'c', action: 'publish' } }), 400, 'validation_error', 'topic');
    expectError(await api('POST', '/acl-rules/test', { token: viewer, body: { action: 'publish', topic: 'a' } }), 400, 'validation_error', 'clientId');
    await expectGuarded('POST', '/acl-rules/test', null, { clientId: 'c', action: 'publish', topic: 'a' });
  });
});
