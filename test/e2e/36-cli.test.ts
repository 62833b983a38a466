import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { IConnackPacket, IPubackPacket, ISubackPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminVars } from '../support/admin-broker';
import { adminLogin, adminSession, callerWith } from '../support/admin-session';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { runProcess, type ProcessResult } from '../support/run-process';
import { collectMessages, connackOf, connectClient, until, type RecordingClient } from './mqtt-clients';

/**
 * The `edgemq` admin commands as real processes (`node bin/edgemq.mjs ...`)
 * against real brokers: a mosquitto_passwd file and an acl_file imported over
 * the admin API decide real MQTT.js connections and publishes; the export of
 * that broker, imported with --local into a second broker's D1 while it
 * runs, gives the same answers there; accounts made by `admin create` sign in.
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'edgemq.mjs');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const ADMIN = { username: 'e2e-admin', password: 'e2e-admin-password' };
const VARS = adminVars(ADMIN, {
  ALLOW_ANONYMOUS: 'false',
  AUTH_PROVIDERS: 'basic',
  // What the acl_file does not allow is denied, as in mosquitto.
  ACL_DEFAULT_POLICY: 'deny',
});
/** Every CLI run loads TypeScript through tsx; --local also starts workerd. The machine may be busy. */
const SLOW = 240_000;

const ACL_FILE = `# fleet permissions
user alice
topic readwrite alice/#
topic read fleet/+/status

user bob
topic write fleet/bob/status
topic read alice/public

pattern readwrite devices/%u/#
`;

function edgemq(args: string[], { input = '', env = {} }: { input?: string; env?: Record<string, string> } = {}): Promise<ProcessResult> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (!('EDGEMQ_TOKEN' in env)) delete childEnv.EDGEMQ_TOKEN;
  return runProcess(NODE, [BIN, ...args], { cwd: ROOT, env: childEnv, input });
}

/** Expects success and shows the command's own words when it failed. */
async function ok(args: string[], options?: Parameters<typeof edgemq>[1]): Promise<string> {
  const r = await edgemq(args, options);
  expect(r.code, `edgemq ${args.join(' ')}\n${r.stderr}${r.stdout}`).toBe(0);
  return r.stdout;
}

const login = (broker: BrokerHandle, username: string, password: string) => adminLogin(broker.url, { username, password });

async function tokenFor(broker: BrokerHandle, username: string, password: string): Promise<string> {
  return (await adminSession(broker.url, { username, password })).token;
}

/** An admin API call that must succeed; its body. */
async function api<T>(broker: BrokerHandle, bearer: string, method: string, path: string, body?: unknown): Promise<T> {
  const res = await callerWith(broker.url, bearer)<T>(method, path, body);
  expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
  return res.body;
}

const connackCode = (ack: IConnackPacket) => (ack.reasonCode ?? ack.returnCode) as number;

/** The reason code of the PUBACK for one QoS 1 publish, read from the wire. */
async function publishQos1(client: RecordingClient, topic: string, payload: string): Promise<number> {
  const from = client.packets.length;
  await client.publishAsync(topic, payload, { qos: 1 }).catch(() => undefined);
  const ack = client.packets.slice(from).find((p) => p.cmd === 'puback') as IPubackPacket | undefined;
  if (!ack) throw new Error(`no PUBACK for ${topic}`);
  return ack.reasonCode ?? 0;
}

async function subscribeQos1(client: RecordingClient, filter: string): Promise<number> {
  const from = client.packets.length;
  await client.subscribeAsync(filter, { qos: 1 });
  const ack = client.packets.slice(from).find((p) => p.cmd === 'suback') as ISubackPacket | undefined;
  if (!ack) throw new Error(`no SUBACK for ${filter}`);
  return ack.granted[0] as number;
}

/** The acl_file's decisions, as alice and bob see them over MQTT 5 on this broker. */
async function expectAclFileEnforced(broker: BrokerHandle, tag: string): Promise<void> {
  const alice = await connectClient(broker.wsUrl, { clientId: `${tag}-alice`, username: 'alice', password: 'alice-secret' });
  const bob = await connectClient(broker.wsUrl, { clientId: `${tag}-bob`, username: 'bob', password: 'bob-secret' });
  try {
    const got = collectMessages(alice);
    expect(await subscribeQos1(alice, 'fleet/+/status')).toBe(1);
    // Denied first, then allowed: once the allowed one has arrived, the denied one would have too.
    expect(await publishQos1(bob, 'fleet/carol/status', 'forged')).toBe(0x87);
    expect(await publishQos1(bob, 'fleet/bob/status', 'online')).toBe(0);
    await until(() => got.length > 0, 5000, 'the allowed publish');
    expect(got.map((m) => [m.topic, m.payload])).toEqual([['fleet/bob/status', 'online']]);
    // The pattern line: each user under devices/<own name>/ only (0x10: accepted, nobody subscribed).
    expect(await publishQos1(alice, 'devices/alice/temp', '21')).toBe(0x10);
    expect(await publishQos1(alice, 'devices/bob/temp', '99')).toBe(0x87);
  } finally {
    await alice.endAsync();
    await bob.endAsync();
  }
}

async function expectPasswords(broker: BrokerHandle, tag: string): Promise<void> {
  for (const [username, password] of [
    ['alice', 'alice-secret'],
    ['bob', 'bob-secret'],
  ]) {
    const client = await connectClient(broker.wsUrl, { clientId: `${tag}-${username}-pw`, username, password });
    expect(client.connected).toBe(true);
    await client.endAsync();
  }
  for (const protocolVersion of [4, 5] as const) {
    const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId: `${tag}-wrong-${protocolVersion}`, username: 'alice', password: 'bob-secret' })) as IConnackPacket;
    expect(connackCode(ack), `MQTT ${protocolVersion}`).toBe(protocolVersion === 5 ? 0x86 : 4);
  }
}

let dir: string;
let first: BrokerHandle;
let second: BrokerHandle;
let token: string;
let passwdText: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-e2e-cli-'));
  const passwd = path.join(dir, 'passwd');
  execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', passwd, 'alice', 'alice-secret']);
  execFileSync('/usr/bin/mosquitto_passwd', ['-b', passwd, 'bob', 'bob-secret']);
  passwdText = await readFile(passwd, 'utf8');
  await writeFile(path.join(dir, 'acl'), ACL_FILE);
  await writeFile(path.join(dir, 'bad-acl'), `${ACL_FILE}topic sometimes fleet/#\n`);
  // One at a time: two starting brokers at once would crowd a 2-core machine.
  first = await startBroker({ vars: VARS });
  second = await startBroker({ vars: VARS });
  token = await tokenFor(first, ADMIN.username, ADMIN.password);
}, SLOW);

afterAll(async () => {
  await first?.stop();
  await second?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('36 the edgemq admin commands against running brokers', () => {
  it('admin create --url makes accounts that sign in, with the role asked for; the API refuses a duplicate', { timeout: SLOW }, async () => {
    const remote = ['--url', first.url, '--token', token];
    // The password from standard input, as a script would pipe it.
    expect(await ok(['admin', 'create', 'ops', ...remote], { input: 'ops-password-1234\n' })).toMatch(/^Created admin account "ops" \(id [0-9a-f-]{36}\)\.\n$/);
    expect((await login(first, 'ops', 'ops-password-1234')).body).toMatchObject({ role: 'admin', username: 'ops' });
    expect((await login(first, 'ops', 'ops-password-12345')).status).toBe(401);

    // The token from EDGEMQ_TOKEN, the password from --password.
    await ok(['admin', 'create', '--username', 'watcher', '--role', 'viewer', '--password', 'watcher-password-1', '--url', first.url], { env: { EDGEMQ_TOKEN: token } });
    expect((await login(first, 'watcher', 'watcher-password-1')).body).toMatchObject({ role: 'viewer', username: 'watcher' });

    const duplicate = await edgemq(['admin', 'create', 'ops', '--password', 'another-password-1', ...remote]);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toBe(`Error: ${new URL(first.url).origin} refused the request (409 conflict): An account with this username exists\n`);
  });

  it('import-mosquitto --url: the users of a mosquitto_passwd file connect with their passwords and the acl_file decides their publishes', { timeout: SLOW }, async () => {
    // An admin API key, as automation would use.
    const { key } = await api<{ key: string }>(first, token, 'POST', '/api-keys', { name: 'cli-import', role: 'admin' });
    const out = await ok(['import-mosquitto', '--passwd', path.join(dir, 'passwd'), '--acl', path.join(dir, 'acl'), '--url', first.url], { env: { EDGEMQ_TOKEN: key } });
    expect(out).toBe('Users: 2 created, 0 updated.\nACL rules: 5 added.\nACL default policy: deny (as in mosquitto, what the acl_file does not grant is denied).\n');
    await expectPasswords(first, 'first');
    await expectAclFileEnforced(first, 'first');
  });

  it('import-mosquitto refuses a bad acl_file naming the file and line, a viewer, a revoked API key and a bad token, importing nothing', { timeout: SLOW }, async () => {
    const before = await first.d1('SELECT version FROM config_version WHERE id = 1');
    const bad = await edgemq(['import-mosquitto', '--acl', path.join(dir, 'bad-acl'), '--url', first.url, '--token', token]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^Error: .* refused the request \(400 validation_error\): acl: acl:11: unknown access "sometimes".*\n\(in .*bad-acl; nothing was imported\)\n$/);

    const viewer = await tokenFor(first, 'watcher', 'watcher-password-1');
    const forbidden = await edgemq(['import-mosquitto', '--acl', path.join(dir, 'acl'), '--url', first.url, '--token', viewer]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(/\(403 forbidden\): The viewer role may only read; an admin must make this change\. Use the token of an admin account/);

    const revoked = await api<{ id: string; key: string }>(first, token, 'POST', '/api-keys', { name: 'cli-revoked', role: 'admin' });
    await api(first, token, 'DELETE', `/api-keys/${revoked.id}`);
    const unknown = await edgemq(['import-mosquitto', '--acl', path.join(dir, 'acl'), '--url', first.url, '--token', revoked.key]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/\(401 unauthorized\): The API key is unknown or revoked\. Check --token or EDGEMQ_TOKEN/);

    const garbage = await edgemq(['import-mosquitto', '--acl', path.join(dir, 'acl'), '--url', first.url, '--token', 'not-a-token']);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toMatch(/\(401 unauthorized\): The token is invalid or has expired; sign in again\. Check --token/);

    expect(await first.d1('SELECT version FROM config_version WHERE id = 1')).toEqual(before);
    expect(await first.d1('SELECT count(*) AS n FROM acl_rules')).toEqual([{ n: 5 }]);
  });

  it('export writes the users with their mosquitto hashes and the rules, to --out or standard output', { timeout: SLOW }, async () => {
    const file = path.join(dir, 'export.json');
    const out = await ok(['export', '--out', file, '--url', first.url, '--token', token]);
    expect(out).toBe(`Exported 2 credentials, 5 ACL rules, 0 blocked clients, 0 certificate revocations and 0 authentication providers to ${file}.\n`);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    expect(doc).toMatchObject({ format: 'edgemq-config', version: 1 });
    const hashes = Object.fromEntries(passwdText.trim().split('\n').map((l) => l.split(':') as [string, string]));
    // Both users were created in one statement, at the same time: the export orders them by their random ids.
    const users = doc.credentials.map((c: { type: string; username: string; passwordHash: string }) => [c.type, c.username, c.passwordHash]);
    expect(users.sort((a: string[], b: string[]) => a[1].localeCompare(b[1]))).toEqual([
      ['basic', 'alice', hashes.alice],
      ['basic', 'bob', hashes.bob],
    ]);
    expect(doc.aclRules.map((r: { kind: string; principalType: string; username: string | null; access: string; topic: string }) => [r.kind, r.principalType, r.username, r.access, r.topic])).toEqual([
      ['topic', 'user', 'alice', 'readwrite', 'alice/#'],
      ['topic', 'user', 'alice', 'read', 'fleet/+/status'],
      ['topic', 'user', 'bob', 'write', 'fleet/bob/status'],
      ['topic', 'user', 'bob', 'read', 'alice/public'],
      ['pattern', 'all', null, 'readwrite', 'devices/%u/#'],
    ]);
    // Admin accounts never leave.
    expect(JSON.stringify(doc)).not.toContain('"ops"');
    expect(JSON.stringify(doc)).not.toContain(ADMIN.username);

    const viaStdout = JSON.parse(await ok(['export', '--url', first.url, '--token', token]));
    expect(viaStdout.credentials).toEqual(doc.credentials);
    expect(viaStdout.aclRules).toEqual(doc.aclRules);
  });

  it('import --local loads the export into a second broker while it runs; its clients then get the same answers', { timeout: SLOW }, async () => {
    // The running broker has already cached a configuration without alice.
    const early = (await connackOf(second.wsUrl, { protocolVersion: 5, clientId: 'second-early', username: 'alice', password: 'alice-secret' })) as IConnackPacket;
    expect(early.reasonCode).toBe(0x86);
    const [{ version: before }] = await second.d1('SELECT version FROM config_version WHERE id = 1');

    const out = await ok(['import', path.join(dir, 'export.json'), '--local', '--persist-to', second.persistDir]);
    expect(out).toBe('Replaced: credentials (2), aclRules (5), blockedClients (0), certificateRevocations (0), authProviders (0), settings.\n');
    const [{ version: after }] = await second.d1('SELECT version FROM config_version WHERE id = 1');
    expect(Number(after)).toBe(Number(before) + 1);
    const audit = await second.d1("SELECT actor, action, resource FROM audit_log WHERE action = 'import'");
    expect(audit).toEqual([{ actor: `user:edgemq --local (${os.userInfo().username})`, action: 'import', resource: 'configuration' }]);

    await expectPasswords(second, 'second');
    await expectAclFileEnforced(second, 'second');
  });

  it('admin create --local makes an account that signs in over HTTP; export --local equals the export over HTTP', { timeout: SLOW }, async () => {
    expect(await ok(['admin', 'create', 'local-ops', '--local', '--persist-to', second.persistDir], { input: 'local-ops-password\n' })).toMatch(/^Created admin account "local-ops"/);
    const localOpsToken = await tokenFor(second, 'local-ops', 'local-ops-password');

    const overHttp = JSON.parse(await ok(['export', '--url', second.url, '--token', localOpsToken]));
    const local = JSON.parse(await ok(['export', '--local', '--persist-to', second.persistDir]));
    const firstDoc = JSON.parse(await readFile(path.join(dir, 'export.json'), 'utf8'));
    for (const section of ['credentials', 'aclRules', 'settings'] as const) {
      expect(local[section], section).toEqual(overHttp[section]);
      // Ids, hashes, positions and times survive the round trip.
      expect(local[section], section).toEqual(firstDoc[section]);
    }
  });

  it('refuses bad input with a message and a non-zero exit', { timeout: SLOW }, async () => {
    const missing = path.join(dir, 'no-such-export.json');
    expect(await edgemq(['import', missing, '--local', '--persist-to', second.persistDir])).toEqual({
      code: 1,
      stdout: '',
      stderr: `Error: cannot read configuration document ${missing}: it does not exist.\n`,
      timedOut: false,
    });

    const noTarget = await edgemq(['import-mosquitto', '--passwd', path.join(dir, 'passwd')]);
    expect(noTarget.code).toBe(1);
    expect(noTarget.stderr).toMatch(/^Error: no target: give --local or --url URL\.\n/);

    const both = await edgemq(['export', '--local', '--url', first.url, '--token', token]);
    expect(both.code).toBe(1);
    expect(both.stderr).toMatch(/^Error: --local cannot be combined with --url: choose one target\.\n/);

    const notJson = await edgemq(['import', path.join(dir, 'acl'), '--url', first.url, '--token', token]);
    expect(notJson.code).toBe(1);
    expect(notJson.stderr).toMatch(/^Error: .*acl is not JSON: /);

    // A URL below which there is no admin API gets the API's own 404.
    const wrongUrl = await edgemq(['export', '--url', `${first.url}/api/v1/nowhere`, '--token', token]);
    expect(wrongUrl.code).toBe(1);
    expect(wrongUrl.stderr).toMatch(/refused the request \(404 not_found\): No GET \/api\/v1\/nowhere\/api\/v1\/export in the admin API/);
  });
});
