// Starts EdgeMQ on the real local runtime (wrangler dev: workerd, local D1,
// Durable Objects with SQLite) for `npm start`, the end-to-end tests and the
// benchmark. Plain JavaScript so it runs before anything is compiled.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wranglerEntry = path.join(projectRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

/** Runs wrangler with the Node that runs us (22+), whatever `node` is on PATH. */
function wrangler(args, options = {}) {
  return spawn(process.execPath, [wranglerEntry, ...args], {
    cwd: projectRoot,
    env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', ...options.env },
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
    detached: options.detached ?? false,
  });
}

function collect(child) {
  let out = '';
  child.stdout?.on('data', (d) => (out += d));
  child.stderr?.on('data', (d) => (out += d));
  return () => out;
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

/** Applies D1 migrations (migrations/) to the local database under persistDir. */
export async function applyMigrations(persistDir) {
  const child = wrangler(['d1', 'migrations', 'apply', 'edgemq', '--local', '--persist-to', persistDir]);
  const output = collect(child);
  const code = await new Promise((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`applying D1 migrations failed (exit ${code}):\n${output()}`);
  return output();
}

/**
 * Starts `wrangler dev` and resolves once /health answers. The returned
 * handle's stop() ends the whole process group, workerd included.
 */
export async function startWranglerDev({ port, persistDir, vars = {}, inherit = false, readyTimeoutMs = 90_000 }) {
  const listenPort = port || (await freePort());
  const inspectorPort = await freePort();
  const args = [
    'dev',
    '--local',
    '--ip', '127.0.0.1',
    '--port', String(listenPort),
    '--inspector-port', String(inspectorPort),
    '--persist-to', persistDir,
    '--show-interactive-dev-session=false',
    '--live-reload=false',
  ];
  for (const [key, value] of Object.entries(vars)) args.push('--var', `${key}:${value}`);
  const child = wrangler(args, { detached: true, stdio: inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'] });
  const output = inherit ? () => '' : collect(child);
  let exited = null;
  child.on('exit', (code) => (exited = code ?? -1));
  const url = `http://127.0.0.1:${listenPort}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== null) throw new Error(`wrangler dev exited (${exited}) before it was ready:\n${output()}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      killGroup(child);
      throw new Error(`wrangler dev was not ready within ${readyTimeoutMs} ms:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    url,
    wsUrl: `ws://127.0.0.1:${listenPort}/mqtt`,
    port: listenPort,
    pid: child.pid,
    output,
    async stop() {
      if (exited !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      killGroup(child, 'SIGTERM');
      const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
      // workerd may outlive wrangler for a moment; make sure the group is gone.
      killGroup(child, 'SIGKILL');
    },
  };
}

function killGroup(child, signal = 'SIGKILL') {
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}
