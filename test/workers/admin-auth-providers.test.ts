import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, auditEntries, configVersion, expectError, expectGuarded, tokens } from './admin-support';

describe('/auth-providers', () => {
  it('lists the chain from the vars before anything is stored, ordered by priority', async () => {
    const { viewer } = await tokens();
    const res = await api('GET', '/auth-providers', { token: viewer });
    expect(res.status).toBe(200);
    // wrangler.toml: AUTH_PROVIDERS=basic; the test bindings set ALLOW_ANONYMOUS=true.
    expect(res.body.data.map((p: { type: string; enabled: boolean }) => [p.type, p.enabled])).toEqual([
      ['basic', true],
      ['anonymous', true],
      ['x509', false],
      ['jwt', false],
      ['scram', false],
    ]);
    expect(res.body.data[0]).toMatchObject({ priority: 10, settings: { matchBy: 'username', verifiedCacheSeconds: 900 }, secretsSet: [], valid: true, updatedAt: null });
    await expectGuarded('GET', '/auth-providers', null);
  });

  it('updates a provider, keeps secrets write-only and bumps config_version', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const res = await api('PUT', '/auth-providers/jwt', {
      token: admin,
      body: { enabled: true, settings: { keySource: 'hmac', hmacSecret: 'a-very-secret-hmac-key', issuer: 'https://issuer.example' } },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ type: 'jwt', enabled: true, secretsSet: ['hmacSecret'] });
    expect(res.body.settings).toMatchObject({ keySource: 'hmac', issuer: 'https://issuer.example', algorithms: ['HS256'] });
    expect(res.body.settings.hmacSecret).toBeUndefined();
    expect(await configVersion()).toBe(v0 + 1);

    const listed = await api('GET', '/auth-providers', { token: viewer });
    expect(JSON.stringify(listed.body)).not.toContain('a-very-secret-hmac-key');
    const stored = JSON.parse((await env.DB.prepare("SELECT config FROM auth_providers WHERE type = 'jwt'").first<string>('config'))!);
    expect(stored.hmacSecret).toBe('a-very-secret-hmac-key');

    // Omitting the secret keeps it; null clears it.
    await api('PUT', '/auth-providers/jwt', { token: admin, body: { enabled: true, settings: { keySource: 'hmac', audience: 'mqtt' } } });
    expect(JSON.parse((await env.DB.prepare("SELECT config FROM auth_providers WHERE type = 'jwt'").first<string>('config'))!).hmacSecret).toBe('a-very-secret-hmac-key');
    expectError(await api('PUT', '/auth-providers/jwt', { token: admin, body: { enabled: true, settings: { keySource: 'hmac', hmacSecret: null } } }), 400, 'validation_error', 'settings.hmacSecret');
    const cleared = await api('PUT', '/auth-providers/jwt', { token: admin, body: { enabled: false, settings: { hmacSecret: null } } });
    expect(cleared.body.secretsSet).toEqual([]);
    const audit = await auditEntries(admin, '?resource=auth-providers');
    expect(audit[0].detail).toEqual({ enabled: false, secretsChanged: ['hmacSecret'] });
    expect(JSON.stringify(audit)).not.toContain('a-very-secret-hmac-key');
  });

  it('validates settings by provider type and answers 400/401/403/404', async () => {
    const { admin, viewer } = await tokens();
    expectError(await api('PUT', '/auth-providers/basic', { token: admin, body: { enabled: true, settings: { matchBy: 'nickname' } } }), 400, 'validation_error', 'settings.matchBy');
    expectError(await api('PUT', '/auth-providers/basic', { token: admin, body: { enabled: true, settings: { color: 'red' } } }), 400, 'validation_error', 'settings');
    expectError(await api('PUT', '/auth-providers/x509', { token: admin, body: { settings: {} } }), 400, 'validation_error', 'enabled');
    expectError(await api('PUT', '/auth-providers/kerberos', { token: admin, body: { enabled: true, settings: {} } }), 404, 'not_found');
    await expectGuarded('PUT', '/auth-providers/basic', viewer, { enabled: true, settings: {} });
  });

  it('reorders providers: listed first, the rest after in their order', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const res = await api('PUT', '/auth-providers/order', { token: admin, body: { order: ['scram', 'basic'] } });
    expect(res.status).toBe(200);
    expect(res.body.data.map((p: { type: string; priority: number }) => [p.type, p.priority])).toEqual([
      ['scram', 10],
      ['basic', 20],
      ['anonymous', 30],
      ['x509', 40],
      ['jwt', 50],
    ]);
    expect(await configVersion()).toBe(v0 + 1);
    expect((await api('GET', '/auth-providers', { token: viewer })).body.data[0].type).toBe('scram');
    expectError(await api('PUT', '/auth-providers/order', { token: admin, body: { order: ['basic', 'basic'] } }), 400, 'validation_error', 'order');
    expectError(await api('PUT', '/auth-providers/order', { token: admin, body: { order: ['ldap'] } }), 400, 'validation_error', 'order.0');
    await expectGuarded('PUT', '/auth-providers/order', viewer, { order: ['basic'] });
  });
});

describe('/settings', () => {
  it('reads defaults, replaces settings, validates and bumps config_version', async () => {
    const { admin, viewer } = await tokens();
    const defaults = await api('GET', '/settings', { token: viewer });
    expect(defaults.status).toBe(200);
    expect(defaults.body).toEqual({
      clientIdPrefixes: [],
      silentRefusal: false,
      autoBan: { enabled: true, maxFailures: 10, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 100, scope: ['ip', 'clientId'] },
      unauthorizedRetentionDays: 3,
    });
    const v0 = await configVersion();
    const res = await api('PUT', '/settings', { token: admin, body: { clientIdPrefixes: ['plant-'], unauthorizedRetentionDays: 7 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ clientIdPrefixes: ['plant-'], unauthorizedRetentionDays: 7, silentRefusal: false });
    expect(await configVersion()).toBe(v0 + 1);
    expect((await api('GET', '/settings', { token: viewer })).body.clientIdPrefixes).toEqual(['plant-']);
    // Left out, the denial limit is not stored, so MQTT_ACL_DENIALS_BEFORE_DISCONNECT keeps deciding.
    const stored = async () => (await env.DB.prepare('SELECT key FROM broker_settings ORDER BY key').all<{ key: string }>()).results.map((r) => r.key);
    expect(await stored()).not.toContain('aclDenialsBeforeDisconnect');
    const limited = await api('PUT', '/settings', { token: admin, body: { clientIdPrefixes: ['plant-'], unauthorizedRetentionDays: 7, aclDenialsBeforeDisconnect: 5 } });
    expect(limited.body.aclDenialsBeforeDisconnect).toBe(5);
    expect(await stored()).toContain('aclDenialsBeforeDisconnect');
    expectError(await api('PUT', '/settings', { token: admin, body: { aclDenialsBeforeDisconnect: -1 } }), 400, 'validation_error', 'aclDenialsBeforeDisconnect');
    expectError(await api('PUT', '/settings', { token: admin, body: { unauthorizedRetentionDays: 0 } }), 400, 'validation_error', 'unauthorizedRetentionDays');
    expectError(await api('PUT', '/settings', { token: admin, body: { autoBan: { maxFailures: 'ten' } } }), 400, 'validation_error', 'autoBan.maxFailures');
    expectError(await api('PUT', '/settings', { token: admin, body: { surprise: true } }), 400, 'validation_error');
    await expectGuarded('GET', '/settings', null);
    await expectGuarded('PUT', '/settings', viewer, {});
  });
});
