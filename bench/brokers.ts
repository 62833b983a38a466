import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error plain ESM JavaScript shared with npm start and the tests
import { applyMigrations, freePort, startWranglerDev } from '../scripts/local-broker.mjs';

export interface RunningBroker {
  name: string;
  url: string;
  transport: string;
  /** Root process of the broker, for CPU accounting of its whole process tree. */
  pid: number;
  stop(): Promise<void>;
}

export async function startEdgeMQ(): Promise<RunningBroker> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-bench-'));
  await applyMigrations(dir);
  const dev = await startWranglerDev({ persistDir: dir, vars: { ALLOW_ANONYMOUS: 'true', MQTT_MAX_QUEUED_MESSAGES: '100000' } });
  return {
    name: 'EdgeMQ',
    url: dev.wsUrl,
    transport: 'ws:// (wrangler dev, workerd)',
    pid: dev.pid,
    async stop() {
      await dev.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function startAedes(): Promise<RunningBroker> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'aedes-server.mjs'), String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await waitForLine(child, 'ready');
  return { name: 'aedes', url: `ws://127.0.0.1:${port}`, transport: 'ws://', pid: child.pid!, stop: () => stopChild(child) };
}

/**
 * Debian's mosquitto 2.0.11 is built without websockets support (it refuses a
 * `protocol websockets` listener), so it is measured over plain TCP.
 */
export async function startMosquitto(): Promise<RunningBroker> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mosquitto-bench-'));
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 100000\n`);
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise((r) => setTimeout(r, 500));
  if (child.exitCode !== null) throw new Error('mosquitto exited at start');
  return {
    name: 'mosquitto',
    url: `mqtt://127.0.0.1:${port}`,
    transport: 'tcp:// (Debian build has no websockets)',
    pid: child.pid!,
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function waitForLine(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes(text)) resolve();
    });
    child.on('exit', (code) => reject(new Error(`exited ${code}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

/** CPU seconds used so far by a process and all its descendants (from /proc). */
export async function treeCpuSeconds(pid: number): Promise<number> {
  const ticks = 100;
  let total = 0;
  const seen = new Set<number>();
  const visit = async (p: number) => {
    if (seen.has(p)) return;
    seen.add(p);
    try {
      const stat = await readFile(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime + stime of the process, plus cutime + cstime of children it already reaped.
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / ticks;
      const children = await readFile(`/proc/${p}/task/${p}/children`, 'utf8').catch(() => '');
      for (const c of children.trim().split(/\s+/).filter(Boolean)) await visit(Number(c));
    } catch {
      // process gone
    }
  };
  await visit(pid);
  return total;
}
