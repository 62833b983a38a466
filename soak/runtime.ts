import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error plain ESM JavaScript shared with npm start, the tests and the benchmark
import { applyMigrations, d1Execute, freePort, startLocalBroker } from '../scripts/local-broker.mjs';
import { findDescendant, workerdVersion } from './proc';

/**
 * EdgeMQ on the local runtime (the `wrangler deploy` bundle on workerd
 * through Miniflare, local D1, Durable Object SQLite on disk), kept on one
 * port and one storage directory across restarts, as a deploy or a crash
 * leaves it.
 */
export interface SoakBroker {
  url: string;
  wsUrl: string;
  port: number;
  persistDir: string;
  /** workerd's pid, for RSS and CPU from /proc (changes on restart). */
  workerdPid(): number;
  workerd: string;
  inspectorPort: number | undefined;
  /** Runs SQL against the local D1 database and returns the rows. */
  d1(sql: string): Promise<Record<string, unknown>[]>;
  /** SIGKILL to the whole runtime (launcher and workerd), then start again on the same port and storage. */
  crashAndRestart(): Promise<void>;
  /** SIGTERM and start again: what a deploy does to open sockets. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  logs(): string;
}

interface DevHandle {
  url: string;
  wsUrl: string;
  port: number;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

export interface SoakBrokerOptions {
  /** Worker vars on top of wrangler.toml's (the soak's defaults, then --var). */
  vars: Record<string, string>;
  /** D1 statements run after the migrations, before the broker starts. */
  setupSql?: string;
  inspector?: boolean;
}

export async function startSoakBroker(options: SoakBrokerOptions): Promise<SoakBroker> {
  const persistDir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-soak-'));
  // An empty env file keeps a developer's .dev.vars out of the measurement.
  const envFile = path.join(persistDir, 'soak.env');
  await writeFile(envFile, '');
  await applyMigrations(persistDir);
  if (options.setupSql) await d1Execute(persistDir, options.setupSql);
  const inspectorPort: number | undefined = options.inspector ? await freePort() : undefined;
  const launch = async (port?: number): Promise<DevHandle> =>
    // One shard unless the run passes --var BROKER_SHARDS=N (wrangler.toml's default is a deployment's).
    (await startLocalBroker({ persistDir, envFile, vars: { BROKER_SHARDS: '1', ...options.vars }, port, inspectorPort, readyTimeoutMs: 120_000 })) as DevHandle;

  let dev: DevHandle | null = await launch();
  const port = dev.port;
  let pid = (await findDescendant(dev.pid, 'workerd')) ?? dev.pid;
  const workerd = await workerdVersion(pid);
  let lastOutput = '';
  const current = (): DevHandle => {
    if (!dev) throw new Error('the broker is not running');
    return dev;
  };
  const relaunch = async () => {
    // The old process's sockets can hold the port for a moment after it exits.
    for (let attempt = 1; ; attempt++) {
      try {
        dev = await launch(port);
        break;
      } catch (error) {
        if (attempt >= 30 || !/already in use/.test(String(error))) throw error;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    pid = (await findDescendant(dev.pid, 'workerd')) ?? dev.pid;
  };

  return {
    url: dev.url,
    wsUrl: dev.wsUrl,
    port,
    persistDir,
    workerdPid: () => pid,
    workerd,
    inspectorPort,
    d1: (sql) => d1Execute(persistDir, sql),
    async crashAndRestart() {
      const handle = current();
      dev = null;
      lastOutput = handle.output();
      try {
        process.kill(-handle.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      // stop() waits until the group is gone and forgets it.
      await handle.stop();
      await relaunch();
    },
    async restart() {
      const handle = current();
      dev = null;
      lastOutput = handle.output();
      await handle.stop();
      await relaunch();
    },
    async stop() {
      if (dev) {
        lastOutput = dev.output();
        await dev.stop();
        dev = null;
      }
      await rm(persistDir, { recursive: true, force: true });
    },
    logs: () => dev?.output() ?? lastOutput,
  };
}
