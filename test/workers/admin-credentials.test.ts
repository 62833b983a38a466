import { env } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { verifyPassword } from '../../auth/passwords/password-hash';
import { api, auditEntries, configVersion, expectError, expectGuarded, tokens } from './admin-support';
import type { IAuthPacket, IConnackPacket } from 'mqtt-packet';
import { scramCredential, ScramClient } from '../support/scram-client';
import { RawClient } from './raw-client';

async function stored(id: string) {
  return env.DB.prepare('SELECT * FROM credentials WHERE id = ?').bind(id).first<Record<string, unknown>>();
}

describe('/credentials: basic', () => {
  it('hashes the password on write, never returns it, and the broker accepts the new credential at once', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const created = await api('POST', '/credentials', {
      token: admin,
      body: { type: 'basic', name: 'Boiler 7', username: 'boiler-7', password: 's3cret-boiler', allowedClientIds: ['boiler-7'], rules: { publish: ['^plant/boiler-7/.*$'], subscribe: ['^plant/cmd/#$'] } },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      type: 'basic',
      name: 'Boiler 7',
      username: 'boiler-7',
      clientId: null,
      hasPassword: true,
      hasScramKeys: false,
      allowedClientIds: ['boiler-7'],
      rules: { publish: ['^plant/boiler-7/.*$'], subscribe: ['^plant/cmd/#$'] },
    });
    expect(JSON.stringify(created.body)).not.toContain('s3cret');
    expect(created.body.passwordHash).toBeUndefined();
    const row = await stored(created.body.id);
    expect(String(row!.password_hash).startsWith('$7$')).toBe(true);
    expect(await verifyPassword('s3cret-boiler', String(row!.password_hash))).toBe(true);
    expect(await configVersion()).toBe(v0 + 1);

    const ok = await RawClient.open(4);
    expect(((await ok.connect({ clientId: 'boiler-7', username: 'boiler-7', password: 's3cret-boiler' })) as { returnCode: number }).returnCode).toBe(0);
    ok.close();
    const bad = await RawClient.open(4);
    expect(((await bad.connect({ clientId: 'boiler-7', username: 'boiler-7', password: 'wrong' })) as { returnCode: number }).returnCode).toBe(4);

    expect((await api('GET', `/credentials/${created.body.id}`, { token: viewer })).body).toEqual(created.body);
    const audit = await auditEntries(admin, '?resource=credentials');
    expect(audit[0]).toMatchObject({ action: 'create', resourceId: created.body.id, detail: { type: 'basic', username: 'boiler-7' } });
    expect(JSON.stringify(audit)).not.toContain('s3cret');
  });

  it('keeps the password when an update omits it, replaces it when given, and removes it with null', async () => {
    const { admin } = await tokens();
    const created = await api('POST', '/credentials', { token: admin, body: { type: 'basic', name: 'pump', clientId: 'pump-1', password: 'first-pass' } });
    const hash1 = (await stored(created.body.id))!.password_hash;
    const renamed = await api('PUT', `/credentials/${created.body.id}`, { token: admin, body: { type: 'basic', name: 'Pump 1', clientId: 'pump-1' } });
    expect(renamed.status).toBe(200);
    expect(renamed.body).toMatchObject({ name: 'Pump 1', hasPassword: true });
    expect((await stored(created.body.id))!.password_hash).toBe(hash1);
    await api('PUT', `/credentials/${created.body.id}`, { token: admin, body: { type: 'basic', name: 'Pump 1', clientId: 'pump-1', password: 'second-pass' } });
    expect(await verifyPassword('second-pass', String((await stored(created.body.id))!.password_hash))).toBe(true);
    const none = await api('PUT', `/credentials/${created.body.id}`, { token: admin, body: { type: 'basic', name: 'Pump 1', clientId: 'pump-1', password: null } });
    expect(none.body.hasPassword).toBe(false);
    expect((await stored(created.body.id))!.password_hash).toBeNull();
    expectError(await api('PUT', `/credentials/${created.body.id}`, { token: admin, body: { type: 'x509', name: 'x', cnPattern: 'x' } }), 400, 'validation_error', 'type');
  });

  it('validates input, naming the field', async () => {
    const { admin } = await tokens();
    const post = (body: unknown) => api('POST', '/credentials', { token: admin, body });
    expectError(await post({ type: 'basic', name: 'nobody' }), 400, 'validation_error', 'username');
    expectError(await post({ type: 'basic', name: '', username: 'u' }), 400, 'validation_error', 'name');
    expectError(await post({ type: 'ldap', name: 'x' }), 400, 'validation_error', 'type');
    expectError(await post({ type: 'basic', name: 'r', username: 'u', rules: { publish: ['('], subscribe: [] } }), 400, 'validation_error', 'rules.publish.0');
    expectError(await post({ type: 'x509', name: 'c', cnPattern: '(', cnIsRegex: true }), 400, 'validation_error', 'cnPattern');
    expectError(await post({ type: 'x509', name: 'c', cnPattern: 'ok', cnRules: [{ cnPattern: '[', publish: [], subscribe: [] }] }), 400, 'validation_error', 'cnRules.0.cnPattern');
    expectError(await post({ type: 'basic', name: 'big', username: 'u', allowedClientIds: Array.from({ length: 1001 }, (_, i) => `c${i}`) }), 400, 'validation_error', 'allowedClientIds');
  });
});

describe('/credentials: x509, listing, deleting', () => {
  it('stores CN patterns with per-CN rules, lists with filters and deletes', async () => {
    const { admin, viewer } = await tokens();
    const cert = await api('POST', '/credentials', {
      token: admin,
      body: { type: 'x509', name: 'Plant devices', cnPattern: '^plant-.*$', cnIsRegex: true, cnRules: [{ cnPattern: '^plant-a', publish: ['^a/.*'], subscribe: [] }] },
    });
    expect(cert.status).toBe(201);
    expect(cert.body).toMatchObject({ type: 'x509', cnPattern: '^plant-.*$', cnIsRegex: true, hasPassword: false, cnRules: [{ cnPattern: '^plant-a', publish: ['^a/.*'], subscribe: [] }] });
    await api('POST', '/credentials', { token: admin, body: { type: 'basic', name: 'Gateway', clientId: 'gw-1', username: 'gateway' } });

    const names = async (q: string) => (await api('GET', `/credentials?${q}`, { token: viewer })).body.data.map((c: { name: string }) => c.name);
    expect(await names('type=x509')).toEqual(['Plant devices']);
    expect(await names('cn=PLANT-')).toEqual(['Plant devices']);
    expect(await names('clientId=gw')).toEqual(['Gateway']);
    expect(await names('username=gate')).toEqual(['Gateway']);
    const page = await api('GET', '/credentials?pageSize=1', { token: viewer });
    // Two credentials from the tests above, two from this one.
    expect(page.body).toMatchObject({ page: 0, pageSize: 1, totalElements: 4, totalPages: 4, hasNext: true });
    expectError(await api('GET', '/credentials?type=ldap', { token: viewer }), 400, 'validation_error', 'type');

    const v0 = await configVersion();
    expect((await api('DELETE', `/credentials/${cert.body.id}`, { token: admin })).status).toBe(204);
    expect(await configVersion()).toBe(v0 + 1);
    expectError(await api('DELETE', `/credentials/${cert.body.id}`, { token: admin }), 404, 'not_found');
    expectError(await api('GET', `/credentials/${cert.body.id}`, { token: admin }), 404, 'not_found');
    expectError(await api('PUT', `/credentials/${cert.body.id}`, { token: admin, body: { type: 'x509', name: 'x', cnPattern: 'x' } }), 404, 'not_found');

    await expectGuarded('GET', '/credentials', null);
    await expectGuarded('GET', `/credentials/${cert.body.id}`, null);
    await expectGuarded('POST', '/credentials', viewer, { type: 'basic', name: 'v', username: 'v' });
    await expectGuarded('PUT', `/credentials/${cert.body.id}`, viewer, { type: 'basic', name: 'v', username: 'v' });
    await expectGuarded('DELETE', `/credentials/${cert.body.id}`, viewer);
  });
});

describe('/credentials: searching and sorting on the server', () => {
  it('searches name, username, client id and CN pattern, and sorts by each column, the password column too', async () => {
    const { admin, viewer } = await tokens();
    await env.DB.prepare('DELETE FROM credentials').run();
    const create = (body: Record<string, unknown>) => api('POST', '/credentials', { token: admin, body });
    await create({ type: 'basic', name: 'Boiler', username: 'boiler', password: 'boiler-secret' });
    await create({ type: 'basic', name: 'anon kiosk', clientId: 'kiosk-1' });
    await create({ type: 'x509', name: 'Camera', cnPattern: 'camera-*' });
    const names = async (query: string) => (await api('GET', `/credentials?${query}`, { token: viewer })).body.data.map((c: { name: string }) => c.name);

    expect(await names('')).toEqual(['Boiler', 'Camera', 'anon kiosk']);
    expect(await names('search=KIOSK')).toEqual(['anon kiosk']);
    expect(await names('search=camera-')).toEqual(['Camera']);
    expect(await names('search=boil')).toEqual(['Boiler']);
    expect(await names('sort=name&order=desc')).toEqual(['anon kiosk', 'Camera', 'Boiler']);
    expect((await names('sort=type&order=desc'))[0]).toBe('Camera');
    // X.509 has no password (first), then none set, then set.
    expect(await names('sort=hasPassword&order=asc')).toEqual(['Camera', 'anon kiosk', 'Boiler']);
    expect(await names('sort=clientId&order=desc&pageSize=1')).toEqual(['anon kiosk']);
    expectError(await api('GET', '/credentials?sort=passwordHash', { token: viewer }), 400, 'validation_error', 'sort');
  });
});

describe('/credentials: scram', () => {
  it('stores only salt, iterations, StoredKey and ServerKey, and the broker runs the AUTH exchange against them at once', async () => {
    const { admin, viewer } = await tokens();
    await api('PUT', '/auth-providers/scram', { token: admin, body: { enabled: true, settings: { mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-512'] } } });
    const created = await api('POST', '/credentials', {
      token: admin,
      body: { type: 'scram', name: 'Gateway', username: 'gateway-9', password: 'scram pencil', scramMechanism: 'SCRAM-SHA-512', scramIterations: 4096 },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ type: 'scram', username: 'gateway-9', hasScramKeys: true, scramMechanism: 'SCRAM-SHA-512', scramIterations: 4096 });
    expect(JSON.stringify(created.body)).not.toContain('scram pencil');
    const row = (await stored(created.body.id))!;
    // The keys an independent implementation derives from the same salt.
    const expected = scramCredential('SCRAM-SHA-512', 'scram pencil', 4096, Buffer.from(String(row.scram_salt), 'base64'));
    expect({ storedKey: row.scram_stored_key, serverKey: row.scram_server_key }).toEqual({ storedKey: expected.storedKey, serverKey: expected.serverKey });
    expect(JSON.stringify(row)).not.toContain('scram pencil');
    expect((await api('GET', `/credentials/${created.body.id}`, { token: viewer })).body).toEqual(created.body);

    const client = new ScramClient('SCRAM-SHA-512', 'gateway-9', 'scram pencil');
    const raw = await RawClient.open(5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'gateway-9', properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: client.first() } });
    const challenge = await raw.next<IAuthPacket>('auth');
    expect(challenge.reasonCode).toBe(0x18);
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: client.final(challenge.properties!.authenticationData as Buffer) } });
    const connack = await raw.next<IConnackPacket>('connack');
    expect(connack.reasonCode).toBe(0);
    expect(client.verifyServer(connack.properties!.authenticationData as Buffer)).toBe(true);
    raw.close();

    expectError(
      await api('POST', '/credentials', { token: admin, body: { type: 'scram', name: 'weak', username: 'weak', password: 'x', scramIterations: 1000 } }),
      400,
      'validation_error',
      'scramIterations',
    );
  });
});
