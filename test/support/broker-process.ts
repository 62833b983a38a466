import { mkdtemp, rm } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error plain ESM JavaScript shared with npm start and the benchmark
import { applyMigrations, projectRoot, startWranglerDev } from '../../scripts/local-broker.mjs';

export interface BrokerHandle {
  url: string;
  wsUrl: string;
  persistDir: string;
  stop(): Promise<void>;
  /** Stops and starts again on the same port and storage: what eviction or a deploy does to the broker. */
  restart(): Promise<void>;
  /** Runs SQL against the local D1 database and returns the rows. */
  d1(sql: string): Promise<Record<string, unknown>[]>;
}

interface DevHandle {
  url: string;
  wsUrl: string;
  port: number;
  stop(): Promise<void>;
}

/**
 * The real local runtime for end-to-end tests: wrangler dev (workerd) with a
 * fresh local D1 (migrations applied) and fresh Durable Object storage.
 */
export async function startBroker(options: { vars?: Record<string, string> } = {}): Promise<BrokerHandle> {
  const persistDir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-e2e-'));
  await applyMigrations(persistDir);
  const vars = { ALLOW_ANONYMOUS: 'true', ...options.vars };
  let dev: DevHandle = await startWranglerDev({ persistDir, vars });
  const port = dev.port;
  return {
    url: dev.url,
    wsUrl: dev.wsUrl,
    persistDir,
    async stop() {
      await dev.stop();
      await rm(persistDir, { recursive: true, force: true });
    },
    async restart() {
      await dev.stop();
      dev = await startWranglerDev({ persistDir, vars, port });
    },
    async d1(sql: string) {
      const child = spawn(process.execPath, [path.join(projectRoot, 'node_modules/wrangler/bin/wrangler.js'), 'd1', 'execute', 'edgemq', '--local', '--persist-to', persistDir, '--json', '--command', sql], {
        cwd: projectRoot,
        env: { ...process.env, CI: 'true', NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      const code = await new Promise((resolve) => child.on('close', resolve));
      if (code !== 0) throw new Error(`d1 execute failed: ${err}${out}`);
      const parsed = JSON.parse(out) as Array<{ results: Record<string, unknown>[] }>;
      return parsed.flatMap((r) => r.results);
    },
  };
}
