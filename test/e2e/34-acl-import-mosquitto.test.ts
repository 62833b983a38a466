import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { IPubackPacket, ISubackPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { runProcess } from '../support/run-process';
import { connectClient, type RecordingClient } from './mqtt-clients';

/**
 * A broker configured as `npm start` configures it (anonymous clients
 * allowed, ACL_DEFAULT_POLICY=allow), then a real mosquitto password file and
 * acl_file imported with `edgemq import-mosquitto --local` while it runs: the
 * imported rules keep mosquitto's meaning, so what the acl_file does not grant
 * is denied to everyone.
 */

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'edgemq.mjs');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
/** The CLI loads TypeScript through tsx and --local starts workerd; the machine may be busy. */
const SLOW = 240_000;

const ACL_FILE = `user accuser
topic readwrite acc/#
topic read ro/#
`;

let broker: BrokerHandle;
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-e2e-acl-import-'));
  execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', path.join(dir, 'passwd'), 'accuser', 'accuser-secret']);
  await writeFile(path.join(dir, 'acl'), ACL_FILE);
  broker = await startBroker({ vars: { ALLOW_ANONYMOUS: 'true', AUTH_PROVIDERS: 'basic', ACL_DEFAULT_POLICY: 'allow' } });
}, SLOW);
afterAll(async () => {
  await broker?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function withoutToken(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const copy = { ...env };
  delete copy.EDGEMQ_TOKEN;
  return copy;
}

async function subackFor(client: RecordingClient, filter: string): Promise<number> {
  const from = client.packets.length;
  await client.subscribeAsync(filter, { qos: 1 }).catch(() => undefined);
  const ack = client.packets.slice(from).find((p) => p.cmd === 'suback') as ISubackPacket | undefined;
  if (!ack) throw new Error(`no SUBACK for ${filter}`);
  return ack.granted[0] as number;
}

async function pubackFor(client: RecordingClient, topic: string): Promise<number> {
  const from = client.packets.length;
  await client.publishAsync(topic, 'x', { qos: 1 }).catch(() => undefined);
  const ack = client.packets.slice(from).find((p) => p.cmd === 'puback') as IPubackPacket | undefined;
  if (!ack) throw new Error(`no PUBACK for ${topic}`);
  return ack.reasonCode ?? 0;
}

describe('34 an imported mosquitto acl_file keeps its meaning under ACL_DEFAULT_POLICY=allow', () => {
  it('leaves a fresh broker open for anonymous trials, then denies what the imported acl_file does not grant', { timeout: SLOW }, async () => {
    // Nothing imported yet: anonymous trials work at once.
    const trial = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'trial' });
    expect(await subackFor(trial, 'anything/#')).toBe(1);
    expect(await pubackFor(trial, 'anything/x')).toBe(0);
    await trial.endAsync();
    expect(await broker.d1(`SELECT key FROM broker_settings WHERE key = 'aclDefaultPolicy'`)).toEqual([]);

    const run = await runProcess(NODE, [BIN, 'import-mosquitto', '--passwd', path.join(dir, 'passwd'), '--acl', path.join(dir, 'acl'), '--local', '--persist-to', broker.persistDir], {
      cwd: ROOT,
      env: withoutToken(process.env),
    });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe('Users: 1 created, 0 updated.\nACL rules: 2 added.\nACL default policy: deny (as in mosquitto, what the acl_file does not grant is denied).\n');
    expect(await broker.d1(`SELECT key, value FROM broker_settings WHERE key = 'aclDefaultPolicy'`)).toEqual([{ key: 'aclDefaultPolicy', value: '"deny"' }]);
    const rules = await broker.d1('SELECT kind, principal_type, username, access, topic FROM acl_rules ORDER BY position');
    expect(rules).toEqual([
      { kind: 'topic', principal_type: 'user', username: 'accuser', access: 'readwrite', topic: 'acc/#' },
      { kind: 'topic', principal_type: 'user', username: 'accuser', access: 'read', topic: 'ro/#' },
    ]);

    // CONFIG_RECHECK_SECONDS=0: the running broker reads the new config_version at the next CONNECT.
    for (const protocolVersion of [5, 4] as const) {
      const accuser = await connectClient(broker.wsUrl, { protocolVersion, clientId: `accuser-${protocolVersion}`, username: 'accuser', password: 'accuser-secret' });
      const refused = protocolVersion === 5 ? 0x87 : 0x80;
      expect(await subackFor(accuser, 'forbidden/x'), `MQTT ${protocolVersion}`).toBe(refused);
      expect(await subackFor(accuser, 'ro/#'), `MQTT ${protocolVersion}`).toBe(1);
      expect(await subackFor(accuser, 'acc/#'), `MQTT ${protocolVersion}`).toBe(1);
      if (protocolVersion === 5) {
        expect(await pubackFor(accuser, 'ro/x')).toBe(0x87);
        expect(await pubackFor(accuser, 'forbidden/x')).toBe(0x87);
        expect(await pubackFor(accuser, 'acc/x')).toBe(0);
      }
      await accuser.endAsync();
    }

    // Anonymous clients have no section in this acl_file: they get nothing, as with mosquitto.
    const anonymous = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: 'anon-after' });
    expect(await subackFor(anonymous, 'acc/#')).toBe(0x87);
    expect(await pubackFor(anonymous, 'anything/x')).toBe(0x87);
    await anonymous.endAsync();
  });
});
