import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { cp, mkdtemp, readlink, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
// @ts-expect-error plain ESM JavaScript shared with npm start and the tests
import { applyMigrations, d1Execute, freePort, startLocalBroker } from '../scripts/local-broker.mjs';
import { processTree, type Labeller, type ProcessInfo } from './proc';

export interface RunningBroker {
  name: string;
  url: string;
  /** How the broker is reached and run, for the report. */
  transport: string;
  /** Runtime version worth reporting that only the running broker knows (workerd). */
  runtime?: string;
  /** The broker's processes, for CPU accounting. */
  processes: ProcessInfo[];
  /** V8 inspector of the Worker's isolate, when started for profiling. */
  inspectorPort?: number;
  label: Labeller;
  /** Counters the broker itself reports, where it has them (EdgeMQ's admin API, the floor's frame count). */
  stats?(): Promise<BrokerStats>;
  stop(): Promise<void>;
}

export interface BrokerStats {
  /** Messages the broker dropped (EdgeMQ: `dropped` from /api/v1/stats). */
  dropped?: number;
  /** WebSocket frames the Durable Object received (the floor reference). */
  frames?: number;
  /** EdgeMQ: billed Durable Object requests since start, over every shard (upgrades, alarms, calls between shards, incoming WebSocket messages at 1/20). */
  doRequests?: number;
  /** EdgeMQ: calls between shards since start. */
  clusterCalls?: number;
}

export type BrokerKey = 'floor' | 'floorgw' | 'floorapart' | 'edgemq' | 'edgemqdirect' | 'edgemq4' | 'edgemqapart' | 'aedes' | 'mosquitto';
export const brokerNames: Record<BrokerKey, string> = {
  floor: 'floor',
  floorgw: 'floor behind a gateway',
  floorapart: 'floor, gateway apart',
  edgemq: 'EdgeMQ',
  edgemqdirect: 'EdgeMQ, direct',
  edgemq4: 'EdgeMQ ×4',
  edgemqapart: 'EdgeMQ, gateway apart',
  aedes: 'aedes',
  mosquitto: 'mosquitto',
};
/**
 * The two processes of a broker run with its gateway apart (local-runtime.mjs
 * --gateway-apart, floor/start.mjs --apart): the workerd that clients reach
 * (entry port `clientPort`) is the gateway, the other holds the objects.
 */
export const SHARDS_PROCESS = 'workerd (shards)';
export const GATEWAY_PROCESS = 'workerd (gateway)';
function apartLabeller(clientPort: number): Labeller {
  return (p) => {
    if (p.comm !== 'workerd') return p.comm === 'node' ? 'node (launcher, Miniflare)' : p.comm;
    const entry = /entry=127\.0\.0\.1:(\d+)/.exec(p.args)?.[1];
    return Number(entry) === clientPort ? GATEWAY_PROCESS : SHARDS_PROCESS;
  };
}

/** EdgeMQ with the client's socket in the one shard (BROKER_GATEWAY=direct): no gateway hop, as the floor has none. */
export const DIRECT_BENCH_VARS = { BROKER_GATEWAY: 'direct' };

/** EdgeMQ as a cluster of four shards: the load generator's random client ids spread over them, so most traffic crosses shards. */
export const CLUSTER_BENCH_VARS = { BROKER_SHARDS: '4' };

interface DevHandle {
  url: string;
  wsUrl: string;
  port: number;
  pid: number;
  shardsUrl: string;
  stop(): Promise<void>;
}

/**
 * Made once per benchmark run: the `wrangler deploy` bundle, and a D1 with
 * the migrations applied, copied for every fresh broker. Bundling and
 * migrating took most of each start-up, and the source does not change
 * during a run.
 */
let prepared: Promise<{ bundleDir: string; migratedDir: string }> | null = null;
function prepareEdgeMQ() {
  prepared ??= (async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'edgemq-bench-build-'));
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
    const bundleDir = path.join(root, 'bundle');
    const migratedDir = path.join(root, 'migrated');
    await promisify(execFile)(process.execPath, [path.join('node_modules', 'wrangler', 'bin', 'wrangler.js'), 'deploy', '--dry-run', '--outdir', bundleDir], {
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' },
      maxBuffer: 16 * 2 ** 20,
    });
    await applyMigrations(migratedDir);
    return { bundleDir, migratedDir };
  })();
  return prepared;
}

export async function startEdgeMQ(options: { inspector?: boolean; vars?: Record<string, string>; setupSql?: string; gatewayApart?: boolean } = {}): Promise<RunningBroker> {
  const { bundleDir, migratedDir } = await prepareEdgeMQ();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-bench-'));
  const inspectorPort = options.inspector ? await freePort() : undefined;
  let dev: DevHandle | null = null;
  try {
    // An empty env file keeps a developer's .dev.vars out of the measurement.
    const envFile = path.join(dir, 'bench.env');
    await writeFile(envFile, '');
    await cp(migratedDir, dir, { recursive: true });
    if (options.setupSql) await d1Execute(dir, options.setupSql);
    dev = (await startLocalBroker({
      persistDir: dir,
      envFile,
      inspectorPort,
      bundleDir,
      gatewayApart: options.gatewayApart ?? false,
      // No dashboard: locally Miniflare routes every request through its emulation of the platform's
      // asset routing, a Worker of its own in the same process that the floor does not have and that
      // on Cloudflare costs the Worker nothing (scripts/local-runtime.mjs --no-static-assets).
      staticAssets: false,
      // Same queue headroom as mosquitto below, so neither drops QoS 1 messages under load.
      // ACL_DEFAULT_POLICY=allow with no rules is "ACLs off"; the ACL scenarios turn them on.
      // No publish rate limit unless a scenario asks: aedes and mosquitto have none, and the capacity rows compare like with like.
      // The admin account reads /api/v1/stats (dropped messages) after a scenario.
      vars: {
        ALLOW_ANONYMOUS: 'true',
        ACL_DEFAULT_POLICY: 'allow',
        MQTT_MAX_QUEUED_MESSAGES: '100000',
        MQTT_MAX_PUBLISH_RATE: '0',
        // One shard unless the run asks for more (--shards): the per-shard figures compare with the floor's one object.
        BROKER_SHARDS: '1',
        ADMIN_USERNAME: benchAdmin.username,
        ADMIN_PASSWORD: benchAdmin.password,
        ADMIN_JWT_SECRET: randomBytes(32).toString('hex'),
        ...options.vars,
      },
    })) as DevHandle;
  } catch (err) {
    await dev?.stop();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const handle = dev;
  const processes = await processTree(handle.pid);
  const label: Labeller = options.gatewayApart ? apartLabeller(handle.port) : (p) => (p.comm === 'node' ? 'node (launcher, Miniflare)' : p.comm);
  const workerd = processes.find((p) => p.comm === 'workerd');
  return {
    name: options.gatewayApart ? brokerNames.edgemqapart : options.vars?.BROKER_GATEWAY === 'direct' ? brokerNames.edgemqdirect : 'EdgeMQ',
    url: handle.wsUrl,
    transport: `${options.gatewayApart
      ? 'ws:// to the same bundle in two workerd processes through Miniflare (`scripts/local-runtime.mjs --gateway-apart`): clients reach the Worker (edge gateway) in one, which reaches the shards in the other through the dev registry, path /mqtt'
      : options.vars?.BROKER_GATEWAY === 'direct'
        ? 'ws:// to workerd through Miniflare (the production bundle, `BROKER_GATEWAY=direct`: the Worker hands the upgrade to the one shard, which holds the client socket), path /mqtt'
        : 'ws:// to workerd through Miniflare (the production bundle; Durable Object with SQLite storage on disk), path /mqtt'}; without the dashboard's static assets, so without Miniflare's asset router in front (\`--no-static-assets\`)`,
    runtime: workerd ? await workerdVersion(workerd.pid) : undefined,
    processes,
    inspectorPort,
    label,
    // The shards' own process serves the admin API with every shard in reach.
    stats: () => edgemqStats(handle.shardsUrl),
    async stop() {
      await handle.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A throwaway admin account for the throwaway broker (it lives in the run's temporary D1). */
const benchAdmin = { username: 'bench', password: randomBytes(18).toString('base64url') };

async function edgemqStats(url: string): Promise<BrokerStats> {
  const login = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(benchAdmin),
    signal: AbortSignal.timeout(30_000),
  });
  if (!login.ok) throw new Error(`admin login: HTTP ${login.status}`);
  const { token } = (await login.json()) as { token: string };
  const res = await fetch(`${url}/api/v1/stats`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`/api/v1/stats: HTTP ${res.status}`);
  const stats = (await res.json()) as { dropped: number; durableObject: Record<string, number> };
  const e = stats.durableObject;
  return { dropped: stats.dropped, doRequests: e.upgrades + e.alarms + e.clusterCallsIn + e.webSocketMessagesIn / 20, clusterCalls: e.clusterCallsIn };
}

/** bench/floor/start.mjs exits with this when the port it was given was taken meanwhile. */
const FLOOR_PORT_IN_USE_EXIT = 98;

/**
 * The floor reference (bench/floor): a minimal MQTT forwarder in one Durable
 * Object, on the same workerd through Miniflare as EdgeMQ. Behind a gateway,
 * a Worker keeps each client's socket and relays it to the object
 * (bench/floor/edge-relay.mjs): the hop any broker with many shards pays,
 * because the shard is known only from the CONNECT.
 */
export async function startFloor(options: { gateway?: boolean; apart?: boolean } = {}): Promise<RunningBroker> {
  const flags = [...(options.gateway || options.apart ? ['--gateway'] : []), ...(options.apart ? ['--apart'] : [])];
  // Another process can take the port between freePort() and workerd binding it (a client's ephemeral port, say).
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      return await launchFloor(port, flags, options);
    } catch (err) {
      if (!(err instanceof PortTaken) || attempt >= 3) throw err;
    }
  }
}

class PortTaken extends Error {}

async function launchFloor(port: number, flags: string[], options: { gateway?: boolean; apart?: boolean }): Promise<RunningBroker> {
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'floor', 'start.mjs'), '--port', String(port), ...flags], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    // The whole group, so workerd goes with its launcher.
    const signal = (s: NodeJS.Signals) => {
      try {
        process.kill(-child.pid!, s);
      } catch {
        // already gone
      }
    };
    signal('SIGTERM');
    const timer = setTimeout(() => signal('SIGKILL'), 5000);
    await gone;
    clearTimeout(timer);
  };
  try {
    await waitForLine(child, 'ready', 90_000);
  } catch (err) {
    await stop();
    if (child.exitCode === FLOOR_PORT_IN_USE_EXIT) throw new PortTaken(`port ${port} was taken`);
    throw err;
  }
  const processes = await processTree(child.pid!);
  const workerd = processes.find((p) => p.comm === 'workerd');
  const base = `http://127.0.0.1:${port}`;
  return {
    name: options.apart ? brokerNames.floorapart : options.gateway ? brokerNames.floorgw : brokerNames.floor,
    url: `ws://127.0.0.1:${port}/mqtt`,
    transport: options.apart
      ? 'ws:// to the relaying Worker of the floor behind a gateway in one workerd process, the floor\'s Durable Object in a second one, reached through Miniflare\'s dev registry (bench/floor/start.mjs --apart), path /mqtt'
      : options.gateway
      ? 'ws:// to a relaying Worker on workerd through Miniflare (bench/floor/edge-relay.mjs), which opens a socket to the same one Durable Object as the floor once the client has spoken, path /mqtt'
      : 'ws:// to workerd through Miniflare (bench/floor/worker.mjs: one Durable Object, Hibernation API, SQLite-backed, nothing stored), path /mqtt',
    runtime: workerd ? await workerdVersion(workerd.pid) : undefined,
    processes,
    label: options.apart ? apartLabeller(port) : (p) => (p.comm === 'node' ? 'node (launcher, Miniflare)' : p.comm),
    async stats() {
      const res = await fetch(`${base}/stats`, { signal: AbortSignal.timeout(30_000) });
      return { frames: ((await res.json()) as { frames: number }).frames };
    },
    stop,
  };
}

async function workerdVersion(pid: number): Promise<string | undefined> {
  try {
    const exe = await readlink(`/proc/${pid}/exe`);
    const { stdout } = await promisify(execFile)(exe, ['--version'], { timeout: 5000 });
    return stdout.trim();
  } catch {
    return undefined;
  }
}

export async function startAedes(): Promise<RunningBroker> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'aedes-server.mjs'), String(port)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    await waitForLine(child, 'ready', 15_000);
  } catch (err) {
    await stopChild(child);
    throw err;
  }
  return {
    name: 'aedes',
    url: `ws://127.0.0.1:${port}`,
    transport: 'ws:// (aedes in its own Node process, `ws` WebSocketServer)',
    processes: await processTree(child.pid!),
    label: () => 'node (aedes)',
    stop: () => stopChild(child),
  };
}

/**
 * mosquitto 2.0.11's websockets listener goes through libwebsockets, which
 * binds to an interface name rather than an address (hence `lo`), and the
 * broker refuses to start when websockets is its only listener
 * (eclipse/mosquitto#2284), hence the idle TCP listener next to it.
 */
export async function startMosquitto(): Promise<RunningBroker> {
  const wsPort = await freePort();
  const tcpPort = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mosquitto-bench-'));
  const conf = path.join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      'allow_anonymous true',
      'persistence false',
      'max_queued_messages 100000',
      `listener ${tcpPort} 127.0.0.1`,
      `listener ${wsPort} lo`,
      'socket_domain ipv4',
      'protocol websockets',
      '',
    ].join('\n'),
  );
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4096)));
  child.on('error', (err) => (stderr += String(err)));
  const cleanup = async () => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(wsPort, child, 10_000);
  } catch (err) {
    await cleanup();
    throw new Error(`${(err as Error).message}${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}`);
  }
  return {
    name: 'mosquitto',
    url: `ws://127.0.0.1:${wsPort}/`,
    transport: 'ws:// (mosquitto websockets listener via libwebsockets), path /',
    processes: await processTree(child.pid!),
    label: () => 'mosquitto',
    stop: cleanup,
  };
}

export const starters: Record<BrokerKey, () => Promise<RunningBroker>> = {
  floor: () => startFloor(),
  floorgw: () => startFloor({ gateway: true }),
  floorapart: () => startFloor({ apart: true }),
  edgemq: startEdgeMQ,
  edgemqdirect: () => startEdgeMQ({ vars: DIRECT_BENCH_VARS }),
  edgemq4: () => startEdgeMQ({ vars: CLUSTER_BENCH_VARS }),
  edgemqapart: () => startEdgeMQ({ gatewayApart: true }),
  aedes: startAedes,
  mosquitto: startMosquitto,
};

function waitForLine(child: ChildProcess, text: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`no "${text}" within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on('data', (d) => {
      buf += d;
      if (buf.includes(text)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before it was ready`));
    });
  });
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited with ${child.exitCode ?? child.signalCode} at start`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not listening on 127.0.0.1:${port} after ${timeoutMs} ms`);
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await gone;
  clearTimeout(timer);
}
