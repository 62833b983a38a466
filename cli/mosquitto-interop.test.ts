/**
 * Password files written by `edgemq passwd` work in the real mosquitto 2
 * broker: the right password gets CONNACK 0, a wrong one is refused.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../test/support/free-port';

const ROOT = path.resolve(import.meta.dirname, '..');
const NODE = path.join(ROOT, 'node_modules', '.bin', 'node');
const BIN = path.join(ROOT, 'bin', 'edgemq.mjs');

async function edgemq(...args: string[]): Promise<void> {
  await promisify(execFile)(NODE, [BIN, ...args], { cwd: ROOT });
}

/** CONNACK return code for a TCP MQTT 3.1.1 connection (0 = accepted), or the connection error. */
function connectCode(port: number, username: string, password: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, protocol: 'mqtt', protocolVersion: 4, username, password, reconnectPeriod: 0, connectTimeout: 10_000 });
    client.once('connect', (packet) => {
      client.end(true);
      resolve(packet.returnCode ?? 0);
    });
    client.once('error', (err) => {
      client.end(true);
      const code = (err as Error & { code?: unknown }).code;
      if (typeof code === 'number') resolve(code);
      else reject(err);
    });
  });
}

let dir: string;
let broker: ChildProcess;
let port: number;
let log = '';

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-mosquitto-'));
  const passwd = path.join(dir, 'passwd');
  await edgemq('passwd', '-c', '-b', passwd, 'device-1', 'first secret');
  await edgemq('passwd', '-b', passwd, 'device 2', 'pässwörd');
  // Comments and blank lines are ours to keep; the broker must read past them.
  await writeFile(passwd, `# written by edgemq passwd\n\n${await readFile(passwd, 'utf8')}`);
  port = await freePort();
  const conf = path.join(dir, 'mosquitto.conf');
  // `user`: run as root, mosquitto would otherwise switch to its own account, which cannot read this private directory.
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous false\npassword_file ${passwd}\nuser ${os.userInfo().username}\n`);
  broker = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  broker.stdout!.on('data', (d) => (log += d));
  broker.stderr!.on('data', (d) => (log += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mosquitto did not start:\n${log}`)), 15_000);
    const check = () => {
      if (/mosquitto version \S+ running/.test(log)) {
        clearTimeout(timer);
        resolve();
      }
    };
    broker.stdout!.on('data', check);
    broker.stderr!.on('data', check);
    broker.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`mosquitto exited:\n${log}`));
    });
  });
}, 60_000);

afterAll(async () => {
  if (broker && broker.exitCode === null && broker.signalCode === null) {
    const exited = once(broker, 'exit');
    broker.kill('SIGKILL');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('mosquitto accepts hashes written by edgemq passwd', () => {
  it('accepts the right passwords with CONNACK 0', { timeout: 30_000 }, async () => {
    expect(await connectCode(port, 'device-1', 'first secret')).toBe(0);
    expect(await connectCode(port, 'device 2', 'pässwörd')).toBe(0);
  });

  it('refuses wrong passwords and unknown users as not authorized (5)', { timeout: 30_000 }, async () => {
    expect(await connectCode(port, 'device-1', 'first secreT')).toBe(5);
    expect(await connectCode(port, 'device 2', 'first secret')).toBe(5);
    expect(await connectCode(port, 'nobody', 'first secret')).toBe(5);
  });
});
