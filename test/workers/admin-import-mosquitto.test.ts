import { env } from 'cloudflare:test';
import type { IPubackPacket, ISubackPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../auth/passwords/password-hash';
import { api, auditEntries, configVersion, expectError, expectGuarded, tokens } from './admin-support';
import { RawClient } from './raw-client';

/** A mosquitto 1.x `$6$` line: base64 salt, base64 SHA-512 of password then salt. */
async function sha512Hash(password: string, salt: Uint8Array): Promise<string> {
  const input = new Uint8Array([...new TextEncoder().encode(password), ...salt]);
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-512', input));
  const b64 = (b: Uint8Array) => btoa(String.fromCharCode(...b));
  return `$6$${b64(salt)}$${b64(digest)}`;
}

describe('POST /import/mosquitto', () => {
  it('turns password_file users into basic credentials and acl_file lines into ACL rules after the stored ones', async () => {
    const { admin, viewer } = await tokens();
    await api('POST', '/acl-rules', { token: admin, body: { kind: 'topic', principalType: 'anonymous', access: 'read', topic: 'existing/#' } });
    const existing = await api('POST', '/credentials', { token: admin, body: { type: 'basic', name: 'Bob', username: 'bob', password: 'old-bob-password' } });
    const passwd = [
      '# exported from mosquitto',
      `bob:${await hashPassword('new-bob-password')}`,
      `carol:${await sha512Hash('carol-password', new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]))}`,
      '',
    ].join('\n');
    const acl = ['topic read public/#', '', 'user carol', 'topic readwrite carol/#', 'pattern write devices/%c/up'].join('\n');
    const v0 = await configVersion();
    const res = await api('POST', '/import/mosquitto', { token: admin, body: { passwd, acl } });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toEqual({ credentials: { created: 1, updated: 1 }, aclRules: { created: 3, removed: 0 }, aclDefaultPolicy: 'deny' });
    expect(await configVersion()).toBe(v0 + 1);

    const bobHash = await env.DB.prepare('SELECT password_hash FROM credentials WHERE id = ?').bind(existing.body.id).first<string>('password_hash');
    expect(await verifyPassword('new-bob-password', bobHash!)).toBe(true);
    const carol = (await api('GET', '/credentials?username=carol', { token: viewer })).body.data[0];
    expect(carol).toMatchObject({ type: 'basic', name: 'carol', username: 'carol', hasPassword: true });

    const rules = (await api('GET', '/acl-rules', { token: viewer })).body.data;
    expect(rules.map((r: { kind: string; principalType: string; username: string | null; access: string; topic: string }) => [r.kind, r.principalType, r.username, r.access, r.topic])).toEqual([
      ['topic', 'anonymous', null, 'read', 'existing/#'],
      ['topic', 'anonymous', null, 'read', 'public/#'],
      ['topic', 'user', 'carol', 'readwrite', 'carol/#'],
      ['pattern', 'all', null, 'write', 'devices/%c/up'],
    ]);
    expect(rules[1].comment).toBe('acl_file line 1');

    // The imported mosquitto 1.x hash lets the device in.
    const device = await RawClient.open(4);
    expect(((await device.connect({ clientId: 'carol-1', username: 'carol', password: 'carol-password' })) as { returnCode: number }).returnCode).toBe(0);
    device.close();
    expect((await auditEntries(admin, '?action=import-mosquitto'))[0].detail).toEqual({ users: 2, aclRules: 3, replaceAclRules: false });

    const replaced = await api('POST', '/import/mosquitto', { token: admin, body: { acl: 'pattern read %u/#', replaceAclRules: true } });
    expect(replaced.body.aclRules).toEqual({ created: 1, removed: 4 });
    expect((await api('GET', '/acl-rules', { token: viewer })).body.data.map((r: { topic: string }) => r.topic)).toEqual(['%u/#']);
  });

  it("gives an imported acl_file mosquitto's meaning: what it does not grant is denied, even under ACL_DEFAULT_POLICY=allow", async () => {
    const { admin, viewer } = await tokens();
    const test = (body: Record<string, unknown>) => api('POST', '/acl-rules/test', { token: viewer, body });
    const accuser = { clientId: 'acc-1', username: 'accuser' };
    // The workers tests run with ACL_DEFAULT_POLICY=allow, like npm start: without a stored policy
    // (this file's earlier import stored one; replacing the settings removes it), anything goes.
    await api('PUT', '/settings', { token: admin, body: {} });
    expect((await test({ ...accuser, action: 'subscribe', topic: 'forbidden/x' })).body).toMatchObject({ allowed: true, decidedBy: { source: 'default-policy' } });

    // A password file alone leaves the policy as it is.
    const passwdOnly = await api('POST', '/import/mosquitto', { token: admin, body: { passwd: `accuser:${await hashPassword('acc-password')}\n` } });
    expect(passwdOnly.body).toMatchObject({ aclDefaultPolicy: null });
    expect((await api('GET', '/settings', { token: viewer })).body.aclDefaultPolicy).toBeUndefined();

    const acl = ['user accuser', 'topic readwrite acc/#', 'topic read ro/#', ''].join('\n');
    const imported = await api('POST', '/import/mosquitto', { token: admin, body: { acl } });
    expect(imported.body).toEqual({ credentials: { created: 0, updated: 0 }, aclRules: { created: 2, removed: 0 }, aclDefaultPolicy: 'deny' });
    expect((await api('GET', '/settings', { token: viewer })).body.aclDefaultPolicy).toBe('deny');
    expect((await auditEntries(admin, '?action=import-mosquitto'))[0].detail).toEqual({ users: 0, aclRules: 2, replaceAclRules: false });

    expect((await test({ ...accuser, action: 'subscribe', topic: 'forbidden/x' })).body).toMatchObject({ allowed: false, decidedBy: { source: 'default-policy' } });
    expect((await test({ ...accuser, action: 'publish', topic: 'ro/x' })).body).toMatchObject({ allowed: false, decidedBy: { source: 'default-policy' } });
    expect((await test({ ...accuser, action: 'publish', topic: 'acc/x' })).body).toMatchObject({ allowed: true, decidedBy: { source: 'acl-rule' } });
    // Anonymous clients get no section of this file, so nothing.
    expect((await test({ clientId: 'anon-1', action: 'subscribe', topic: 'acc/x' })).body).toMatchObject({ allowed: false });

    // The broker decides the same for a real client.
    const client = await RawClient.open(5);
    expect(((await client.connect({ clientId: 'acc-1', username: 'accuser', password: 'acc-password' })) as { reasonCode: number }).reasonCode).toBe(0);
    client.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'forbidden/x', qos: 1 }, { topic: 'ro/#', qos: 1 }] });
    expect((await client.next<ISubackPacket>('suback')).granted).toEqual([0x87, 1]);
    client.send({ cmd: 'publish', topic: 'ro/x', payload: Buffer.from('no'), qos: 1, messageId: 2, retain: false, dup: false });
    expect((await client.next<IPubackPacket>('puback')).reasonCode).toBe(0x87);
    client.close();

    // The operator can still choose otherwise on purpose.
    await api('PUT', '/settings', { token: admin, body: { aclDefaultPolicy: 'allow' } });
    expect((await test({ ...accuser, action: 'subscribe', topic: 'forbidden/x' })).body).toMatchObject({ allowed: true });
  });

  it('refuses a file with errors as a whole, listing them with line numbers', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const badPasswd = await api('POST', '/import/mosquitto', { token: admin, body: { passwd: 'dave:plaintext\nno-colon-line\n' } });
    expectError(badPasswd, 400, 'validation_error', 'passwd');
    expect(badPasswd.body.error.message).toContain('passwd:1:');
    expect(badPasswd.body.error.message).toContain('passwd:2:');
    const badAcl = await api('POST', '/import/mosquitto', { token: admin, body: { acl: 'topic read ok/#\ntopic read a/#/b\nfrobnicate x\n' } });
    expectError(badAcl, 400, 'validation_error', 'acl');
    expect(badAcl.body.error.message).toMatch(/acl:2: .*acl:3: /);
    expectError(await api('POST', '/import/mosquitto', { token: admin, body: {} }), 400, 'validation_error', 'passwd');
    expect(await configVersion()).toBe(v0);
    await expectGuarded('POST', '/import/mosquitto', viewer, { acl: 'topic read a' });
  });
});
