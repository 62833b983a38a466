import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error plain ESM JavaScript shared with npm start and the benchmark
import { applyMigrations, d1Execute, startLocalBroker } from '../../scripts/local-broker.mjs';
import { findDescendant } from './runtime-process';

export interface BrokerHandle {
  url: string;
  wsUrl: string;
  port: number;
  /** wss:// on the local TLS front, with a self-signed certificate. */
  wssUrl: string;
  /** The PEM certificate the wss:// port presents, for clients to trust (`ca`). */
  certificate: string;
  persistDir: string;
  stop(): Promise<void>;
  /** Stops and starts again on the same port and storage: what eviction or a deploy does to the broker. */
  restart(): Promise<void>;
  /** Runs SQL against the local D1 database and returns the rows. */
  d1(sql: string): Promise<Record<string, unknown>[]>;
  /** The last part of the runtime's output, for failure messages. */
  logs(): string;
  /** The workerd process serving the broker now (Linux /proc), or null if it is not found. */
  workerdPid(): Promise<number | null>;
}

export interface StartBrokerOptions {
  /**
   * Worker vars on top of wrangler.toml's. For suites about the protocol itself,
   * ALLOW_ANONYMOUS and ACL_DEFAULT_POLICY default to an open broker; suites
   * about security set them. CONFIG_RECHECK_SECONDS=0 makes D1 changes apply at the next CONNECT.
   */
  vars?: Record<string, string>;
  /** Reuse this storage (kept on stop); by default a fresh temporary directory, removed on stop. */
  persistDir?: string;
}

interface DevHandle {
  url: string;
  wsUrl: string;
  port: number;
  wssUrl: string;
  tlsPort: number;
  certPath: string;
  pid: number;
  output(): string;
  stop(): Promise<void>;
}

/**
 * The real local runtime for end-to-end tests: workerd on a free port, with local D1 (migrations applied) and Durable Object storage
 * under persistDir. Vars come only from wrangler.toml and `vars`, never from
 * a developer's .dev.vars or .env.
 */
export async function startBroker(options: StartBrokerOptions = {}): Promise<BrokerHandle> {
  const ownsDir = !options.persistDir;
  const persistDir = options.persistDir ? path.resolve(options.persistDir) : await mkdtemp(path.join(os.tmpdir(), 'edgemq-e2e-'));
  // EDGEMQ_TEST_SHARDS: the e2e projects run the whole suite with one shard and with four (vitest.config.mts);
  // EDGEMQ_TEST_GATEWAY: e2e-direct runs the wire-level suites with the client sockets in the shard.
  const vars = {
    ALLOW_ANONYMOUS: 'true',
    ACL_DEFAULT_POLICY: 'allow',
    CONFIG_RECHECK_SECONDS: '0',
    BROKER_SHARDS: testShardCount(),
    BROKER_GATEWAY: testGatewayMode(),
    ...options.vars,
  };
  let dev: DevHandle | null = null;
  let lastOutput = '';
  try {
    await mkdir(persistDir, { recursive: true });
    const envFile = path.join(persistDir, 'e2e.env');
    await writeFile(envFile, '# Secrets for end-to-end tests come from the test itself.\n');
    await applyMigrations(persistDir);
    const start = (port?: number, tlsPort?: number): Promise<DevHandle> => startLocalBroker({ persistDir, vars, envFile, port, tlsPort });
    dev = await start();
    const port = dev.port;
    const tlsPort = dev.tlsPort;
    const certificate = await readFile(dev.certPath, 'utf8');

    const stopDev = async () => {
      if (!dev) return;
      const current = dev;
      dev = null;
      lastOutput = current.output();
      await current.stop();
    };

    return {
      url: dev.url,
      wsUrl: dev.wsUrl,
      port,
      wssUrl: dev.wssUrl,
      certificate,
      persistDir,
      async stop() {
        await stopDev();
        if (ownsDir) await rm(persistDir, { recursive: true, force: true });
      },
      async restart() {
        await stopDev();
        dev = await start(port, tlsPort);
      },
      d1: (sql: string) => d1Execute(persistDir, sql),
      logs: () => dev?.output() ?? lastOutput,
      workerdPid: async () => (dev ? findDescendant(dev.pid, 'workerd') : null),
    };
  } catch (error) {
    // startLocalBroker has already stopped whatever it started.
    if (ownsDir) await rm(persistDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Polls until predicate returns something truthy and resolves with it; a
 * predicate that throws counts as "not yet", and its last error is reported.
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, timeoutMs = 5000, intervalMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`condition not met within ${timeoutMs} ms${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Where this e2e project's client sockets end (EDGEMQ_TEST_GATEWAY: `relay` unless set; worker/gateway/gateway-mode.ts). */
export function testGatewayMode(): string {
  return process.env.EDGEMQ_TEST_GATEWAY ?? 'relay';
}

/** How many broker shards this e2e project runs (EDGEMQ_TEST_SHARDS, 1 unless set). */
export function testShardCount(): string {
  return process.env.EDGEMQ_TEST_SHARDS ?? '1';
}
