import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { api, auditEntries, configVersion, expectError, expectGuarded, tokens } from './admin-support';
import { RawClient } from './raw-client';

describe('GET /export and POST /import', () => {
  it('round-trips the whole configuration, hashes and provider secrets included, never admin accounts', async () => {
    const { admin, viewer } = await tokens();
    const cred = await api('POST', '/credentials', { token: admin, body: { type: 'basic', name: 'Meter', username: 'meter', password: 'meter-password', rules: { publish: ['^m/.*'], subscribe: [] } } });
    const rule = await api('POST', '/acl-rules', { token: admin, body: { kind: 'pattern', principalType: 'all', access: 'readwrite', topic: 'devices/%c/#' } });
    const block = await api('POST', '/blocked-clients', { token: admin, body: { kind: 'cidr', value: '203.0.113.0/24', expiresAt: '2999-01-01T00:00:00Z' } });
    const revocation = await api('POST', '/certificate-revocations', { token: admin, body: { serial: '0a:1b:2c', issuerDn: 'CN=Plant CA' } });
    await api('PUT', '/auth-providers/jwt', { token: admin, body: { enabled: true, settings: { keySource: 'hmac', hmacSecret: 'export-me-secret' } } });
    await api('PUT', '/settings', { token: admin, body: { clientIdPrefixes: ['m-'] } });
    for (const r of [cred, rule, block, revocation]) expect(r.status).toBe(201);

    const exported = await api('GET', '/export', { token: admin });
    expect(exported.status).toBe(200);
    const doc = exported.body;
    expect(doc).toMatchObject({ format: 'edgemq-config', version: 1 });
    expect(doc.credentials).toHaveLength(1);
    expect(doc.credentials[0]).toMatchObject({ id: cred.body.id, username: 'meter', rules: { publish: ['^m/.*'], subscribe: [] } });
    expect(doc.credentials[0].passwordHash.startsWith('$7$')).toBe(true);
    expect(doc.aclRules[0]).toMatchObject({ id: rule.body.id, topic: 'devices/%c/#', kind: 'pattern' });
    expect(doc.blockedClients[0]).toMatchObject({ id: block.body.id, value: '203.0.113.0/24', expiresAt: '2999-01-01T00:00:00.000Z' });
    expect(doc.certificateRevocations[0]).toMatchObject({ serial: 'A1B2C', issuerDn: 'CN=Plant CA' });
    expect(doc.authProviders.find((p: { type: string }) => p.type === 'jwt').settings.hmacSecret).toBe('export-me-secret');
    expect(doc.settings.clientIdPrefixes).toEqual(['m-']);
    const text = JSON.stringify(doc);
    expect(text).not.toContain('admin_users');
    expect(text).not.toContain(String(env.ADMIN_USERNAME) + '"');

    // Wipe by importing empty sections, then restore from the export.
    const v0 = await configVersion();
    const wiped = await api('POST', '/import', { token: admin, body: { format: 'edgemq-config', version: 1, credentials: [], aclRules: [] } });
    expect(wiped.status).toBe(200);
    expect(wiped.body.imported).toEqual({ credentials: 0, aclRules: 0, blockedClients: null, certificateRevocations: null, authProviders: null, settings: false });
    expect(await configVersion()).toBe(v0 + 1);
    expect((await api('GET', '/credentials', { token: admin })).body.totalElements).toBe(0);
    expect((await api('GET', '/blocked-clients', { token: admin })).body.totalElements).toBe(1);

    const restored = await api('POST', '/import', { token: admin, body: doc });
    expect(restored.status).toBe(200);
    expect(restored.body.imported).toMatchObject({ credentials: 1, aclRules: 1, blockedClients: 1, certificateRevocations: 1, settings: true });
    const again = await api('GET', '/export', { token: admin });
    const strip = (d: Record<string, unknown>) => ({ ...d, exportedAt: undefined });
    expect(strip(again.body)).toEqual(strip(doc));
    expect((await auditEntries(admin, '?resource=configuration')).map((e) => e.action)).toEqual(['export', 'import', 'import', 'export']);

    // The restored hash still verifies: the broker lets the device in with its password.
    expect((await api('GET', `/credentials/${cred.body.id}`, { token: viewer })).body.hasPassword).toBe(true);
    const device = await RawClient.open(4);
    expect(((await device.connect({ clientId: 'm-meter', username: 'meter', password: 'meter-password' })) as { returnCode: number }).returnCode).toBe(0);
    device.close();
  });

  it('validates documents, naming the field, and changes nothing when one entry is bad', async () => {
    const { admin } = await tokens();
    const before = await configVersion();
    const base = { format: 'edgemq-config', version: 1 };
    expectError(await api('POST', '/import', { token: admin, body: { ...base, version: 2 } }), 400, 'validation_error', 'version');
    expectError(await api('POST', '/import', { token: admin, body: { format: 'other', version: 1 } }), 400, 'validation_error', 'format');
    expectError(await api('POST', '/import', { token: admin, body: base }), 400, 'validation_error', 'body');
    expectError(
      await api('POST', '/import', { token: admin, body: { ...base, credentials: [{ id: 'c1', type: 'basic', name: 'x', username: 'u', passwordHash: 'plaintext' }] } }),
      400,
      'validation_error',
      'credentials.0.passwordHash',
    );
    expectError(
      await api('POST', '/import', {
        token: admin,
        body: { ...base, blockedClients: [{ id: 'b1', kind: 'ip', value: '192.0.2.1' }, { id: 'b2', kind: 'ip', value: '192.0.2.1' }] },
      }),
      400,
      'validation_error',
      'blockedClients.1',
    );
    expectError(
      await api('POST', '/import', { token: admin, body: { ...base, aclRules: [{ id: 'r1', kind: 'topic', principalType: 'user', access: 'read', topic: 'a/#', position: 1 }] } }),
      400,
      'validation_error',
      'aclRules.0.username',
    );
    expectError(
      await api('POST', '/import', { token: admin, body: { ...base, authProviders: [{ type: 'basic', enabled: true, priority: 1, settings: { matchBy: 'x' } }] } }),
      400,
      'validation_error',
      'authProviders.0.settings.matchBy',
    );
    expect(await configVersion()).toBe(before);
  });

  it('keeps the IP a client id block applies to, and tells entries apart by it', async () => {
    const { admin } = await tokens();
    const base = { format: 'edgemq-config', version: 1 };
    const blockedClients = [
      { id: 'b1', kind: 'clientId', value: 'sn-4711', ip: '198.51.100.66', source: 'auto', expiresAt: '2999-01-01T00:00:00Z' },
      { id: 'b2', kind: 'clientId', value: 'sn-4711', ip: '198.51.100.67' },
      { id: 'b3', kind: 'clientId', value: 'sn-4711' },
    ];
    const imported = await api('POST', '/import', { token: admin, body: { ...base, blockedClients } });
    expect(imported.status, JSON.stringify(imported.body)).toBe(200);
    const doc = (await api('GET', '/export', { token: admin })).body;
    expect(doc.blockedClients.map((b: { id: string; ip: string | null }) => [b.id, b.ip])).toEqual([
      ['b1', '198.51.100.66'],
      ['b2', '198.51.100.67'],
      ['b3', null],
    ]);
    const twice = [...blockedClients, { id: 'b4', kind: 'clientId', value: 'sn-4711', ip: '198.51.100.66' }];
    expectError(await api('POST', '/import', { token: admin, body: { ...base, blockedClients: twice } }), 400, 'validation_error', 'blockedClients.3');
    const ipOnUsername = [{ id: 'b5', kind: 'username', value: 'alice', ip: '198.51.100.66' }];
    expectError(await api('POST', '/import', { token: admin, body: { ...base, blockedClients: ipOnUsername } }), 400, 'validation_error', 'blockedClients.0.ip');
  });

  it('keeps exports (which hold secrets) and imports for admins', async () => {
    const { viewer } = await tokens();
    await expectGuarded('GET', '/export', viewer);
    await expectGuarded('POST', '/import', viewer, { format: 'edgemq-config', version: 1, settings: {} });
  });
});
