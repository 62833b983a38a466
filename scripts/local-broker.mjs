// Starts EdgeMQ on the real local runtime (workerd through Miniflare, local D1,
// Durable Objects with SQLite; see local-runtime.mjs) for `npm start`, the
// end-to-end tests and the benchmark. Plain JavaScript so it runs before
// anything is compiled.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wranglerEntry = path.join(projectRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js');
const runtimeEntry = path.join(projectRoot, 'scripts', 'local-runtime.mjs');
const OUTPUT_LIMIT = 256 * 1024;

/** Process groups still running, so they can be killed if we exit without stop(). */
const liveGroups = new Set();
process.once('exit', () => {
  for (const pgid of liveGroups) signalGroup(pgid, 'SIGKILL');
});

function childEnv(extra = {}) {
  const env = {
    ...process.env,
    // Keeps every prompt (migrations' "continue?") on its non-interactive default.
    CI: 'true',
    WRANGLER_SEND_METRICS: 'false',
    // Without network access miniflare would wait 3 s for Request.cf on every start.
    CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? 'false',
    NO_COLOR: '1',
    FORCE_COLOR: '0',
    ...extra,
  };
  // Would leak the caller's whole environment into the Worker's env.
  delete env.CLOUDFLARE_INCLUDE_PROCESS_ENV;
  return env;
}

/** Runs a script with the Node that runs us (22+), whatever `node` is on PATH. */
function node(entry, args, { detached = false } = {}) {
  return spawn(process.execPath, [entry, ...args], {
    cwd: projectRoot,
    env: childEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached,
  });
}

/** Keeps the last OUTPUT_LIMIT characters of both streams, optionally echoing them. */
function collect(child, forward = false) {
  let out = '';
  const add = (target) => (chunk) => {
    out += chunk;
    if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT);
    if (forward) target.write(chunk);
  };
  child.stdout?.on('data', add(process.stdout));
  child.stderr?.on('data', add(process.stderr));
  return () => out;
}

async function runWrangler(args) {
  const child = node(wranglerEntry, args);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c, signal) => resolve(c ?? signal));
  });
  return { code, stdout, stderr };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on 127.0.0.1:port. */
export function portIsFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * Applies D1 migrations (migrations/) to the local database under persistDir.
 * `d1 migrations apply` has no --yes; it takes its default answer when stdin
 * is not a terminal or CI is set, and both hold here.
 */
export async function applyMigrations(persistDir) {
  const { code, stdout, stderr } = await runWrangler(['d1', 'migrations', 'apply', 'edgemq', '--local', '--persist-to', persistDir]);
  if (code !== 0) throw new Error(`applying D1 migrations failed (exit ${code}):\n${stdout}${stderr}`);
  return stdout;
}

/** Runs SQL against the local D1 database under persistDir and returns the rows of every statement. */
export async function d1Execute(persistDir, sql) {
  // One argument may not exceed 128 KiB on Linux; longer SQL goes through a file.
  const viaFile = sql.length > 64 * 1024 ? path.join(mkdtempSync(path.join(os.tmpdir(), 'edgemq-sql-')), 'statements.sql') : null;
  if (viaFile) writeFileSync(viaFile, sql);
  const source = viaFile ? ['--file', viaFile] : ['--command', sql];
  const { code, stdout, stderr } = await runWrangler(['d1', 'execute', 'edgemq', '--local', '--persist-to', persistDir, '--json', ...source]).finally(() => {
    if (viaFile) rmSync(path.dirname(viaFile), { recursive: true, force: true });
  });
  let parsed;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    throw new Error(`wrangler d1 execute failed (exit ${code}):\n${stdout}${stderr}`);
  }
  if (code !== 0 || !Array.isArray(parsed)) {
    throw new Error(`wrangler d1 execute failed (exit ${code}): ${parsed?.error?.text ?? stdout}\n${stderr}`);
  }
  return parsed.flatMap((statement) => statement.results ?? []);
}

/**
 * Starts the broker and resolves once /health answers 200. port 0 (or none)
 * picks a free port. The handle's stop() ends the whole process group (the
 * launcher and workerd) and waits until it is gone.
 *
 * envFile replaces .dev.vars/.env as the source of secrets, so tests do not
 * pick up a developer's local settings. inspectorPort opens the V8 inspector
 * (for profiling); nothing attaches to it unless asked. bundleDir runs a
 * bundle made earlier (`wrangler deploy --dry-run --outdir`) instead of
 * bundling at every start. gatewayApart runs the shards and the Worker in
 * two workerd processes (local-runtime.mjs --gateway-apart). staticAssets
 * false leaves the dashboard out, and with it the local emulation of the
 * platform's asset routing in front of every request (local-runtime.mjs
 * --no-static-assets).
 */
export async function startLocalBroker({ port = 0, tlsPort = 0, persistDir, vars = {}, envFile, inspectorPort, bundleDir, gatewayApart = false, staticAssets = true, forward = false, readyTimeoutMs = 90_000, onExit }) {
  for (const wanted of [port, tlsPort]) {
    if (wanted && !(await portIsFree(wanted))) throw new Error(`port ${wanted} on 127.0.0.1 is already in use`);
  }
  // Another process can take a port between freePort() and the runtime binding it.
  for (let attempt = 1; ; attempt++) {
    const listenPort = port || (await freePort());
    let listenTlsPort = tlsPort || (await freePort());
    while (listenTlsPort === listenPort) listenTlsPort = await freePort();
    try {
      return await launch({ listenPort, listenTlsPort, persistDir, vars, envFile, inspectorPort, bundleDir, gatewayApart, staticAssets, forward, readyTimeoutMs, onExit });
    } catch (error) {
      if ((port && tlsPort) || !error.portInUse || attempt >= 3) throw error;
    }
  }
}

async function launch({ listenPort, listenTlsPort, persistDir, vars, envFile, inspectorPort, bundleDir, gatewayApart, staticAssets, forward, readyTimeoutMs, onExit }) {
  const args = ['--port', String(listenPort), '--tls-port', String(listenTlsPort), '--persist-to', persistDir];
  if (envFile) args.push('--env-file', envFile);
  if (inspectorPort !== undefined) args.push('--inspector-port', String(inspectorPort));
  if (bundleDir !== undefined) args.push('--bundle-dir', bundleDir);
  if (gatewayApart) args.push('--gateway-apart');
  if (!staticAssets) args.push('--no-static-assets');
  for (const [key, value] of Object.entries(vars)) args.push('--var', `${key}:${value}`);

  // Its own process group, so one signal reaches workerd as well.
  const child = node(runtimeEntry, args, { detached: true });
  const pgid = child.pid;
  liveGroups.add(pgid);
  const output = collect(child, forward);
  // Already on the terminal when forwarded.
  const details = () => (forward ? '' : `:\n${output()}`);
  let exitCode = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? signal ?? -1;
      resolve(exitCode);
    });
    child.once('error', (error) => {
      exitCode = -1;
      resolve(String(error));
    });
  });
  let stopping = false;
  void exited.then((code) => {
    if (!stopping) onExit?.(code);
  });

  async function stop() {
    stopping = true;
    if (!liveGroups.has(pgid)) return;
    signalGroup(pgid, 'SIGTERM');
    if (!(await groupGone(pgid, exited, 5000))) {
      signalGroup(pgid, 'SIGKILL');
      if (!(await groupGone(pgid, exited, 5000))) {
        throw new Error(`the local runtime (process group ${pgid}) did not exit after SIGKILL`);
      }
    }
    liveGroups.delete(pgid);
  }

  const url = `http://127.0.0.1:${listenPort}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (/address already in use|EADDRINUSE/i.test(output())) {
      await stop();
      throw Object.assign(new Error(`the local runtime could not listen on 127.0.0.1:${listenPort} or :${listenTlsPort}: address already in use`), { portInUse: true });
    }
    if (exitCode !== null) {
      await stop();
      throw new Error(`the local runtime exited (${exitCode}) before it was ready${details()}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      // The TLS front starts right after the runtime: ready once it accepts connections too.
      if (res.ok && (await accepts(listenTlsPort))) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`the local runtime was not ready within ${readyTimeoutMs} ms${details()}`);
    }
    await new Promise((r) => setTimeout(r, 150));
  }

  return {
    url,
    wsUrl: `ws://127.0.0.1:${listenPort}/mqtt`,
    port: listenPort,
    tlsUrl: `https://127.0.0.1:${listenTlsPort}`,
    wssUrl: `wss://127.0.0.1:${listenTlsPort}/mqtt`,
    tlsPort: listenTlsPort,
    /** The self-signed certificate the TLS port presents, for clients to trust. */
    certPath: path.join(persistDir, 'tls', 'localhost-cert.pem'),
    pid: pgid,
    /** With gatewayApart, where the shards' own process serves the Worker (admin API with the shards in reach); else url. */
    shardsUrl: /^shards: (http\S+)$/m.exec(output())?.[1] ?? url,
    output,
    exited,
    stop,
  };
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function signalGroup(pgid, signal) {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}

/** Waits until the launcher has exited and no live (non-zombie) process is left in its group. */
async function groupGone(pgid, exited, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let parentDone = false;
  void exited.then(() => (parentDone = true));
  while (Date.now() < deadline) {
    if (parentDone && groupMembers(pgid) === 0) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

function groupMembers(pgid) {
  let entries;
  try {
    entries = readdirSync('/proc');
  } catch {
    // No procfs (macOS): signal 0 still tells whether the group exists.
    try {
      process.kill(-pgid, 0);
      return 1;
    } catch {
      return 0;
    }
  }
  let count = 0;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the parenthesised command: state ppid pgrp ...
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z') count++;
  }
  return count;
}
