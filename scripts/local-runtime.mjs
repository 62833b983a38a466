// Runs the Worker on workerd through Miniflare, the library `wrangler dev`
// is built on, without the parts of `wrangler dev` that sit in the data path:
// its proxy Worker (a second workerd that relays every WebSocket frame and
// buffers without bound when the broker falls behind), the inspector session
// it keeps open for log forwarding, and its local trace collector, which
// costs more CPU per Durable Object event than the broker itself.
//
// The Worker is bundled exactly as `wrangler deploy` bundles it, and its
// bindings come from wrangler.toml through wrangler's own converter, so the
// same configuration runs here and in production.
//
//   node scripts/local-runtime.mjs --port N --persist-to DIR [--env-file F]
//        [--var KEY:VALUE ...] [--inspector-port N] [--tls-port N] [--bundle-dir DIR]
//        [--gateway-apart] [--no-static-assets]
//
// --tls-port also serves wss:// and https:// there, with a self-signed
// certificate made under DIR/tls (scripts/local-tls.mjs).
// --bundle-dir runs a bundle made earlier by `wrangler deploy --dry-run
// --outdir DIR` instead of bundling again (the benchmark starts the broker
// dozens of times from the same source).
// --gateway-apart runs the shards in one workerd process and the Worker that
// clients reach (the edge gateway, the admin API) in a second one, which
// reaches the shards through Miniflare's dev registry, as on Cloudflare the
// Worker runs apart from the Durable Objects. Locally one workerd process runs
// on one thread, so this is how the benchmark measures a shard's own cost.
// One shard only (BROKER_SHARDS=1).
// It prints "shards: <url>", where the shards' process serves the same Worker.
// --no-static-assets leaves out wrangler.toml's [assets] (the dashboard).
// Miniflare emulates the platform's routing between assets and the Worker
// with a router Worker of its own, in the same workerd process, in front of
// every request: locally about 270 µs of CPU per MQTT connection on the
// benchmark machine, more than a third of what the broker itself spends on
// one (docs/benchmarks.md). On Cloudflare that routing is the platform's and
// not the Worker's CPU, so the benchmark measures the broker without it.
//
// SIGTERM/SIGINT/SIGHUP shut workerd down.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, parseEnv } from 'node:util';
import { localCertificate, startTlsFront } from './local-tls.mjs';

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const configPath = path.join(projectRoot, 'wrangler.toml');
const wranglerEntry = path.join(projectRoot, 'node_modules', 'wrangler', 'bin', 'wrangler.js');

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    'persist-to': { type: 'string' },
    'env-file': { type: 'string' },
    var: { type: 'string', multiple: true, default: [] },
    'inspector-port': { type: 'string' },
    'tls-port': { type: 'string' },
    'bundle-dir': { type: 'string' },
    'gateway-apart': { type: 'boolean', default: false },
    'no-static-assets': { type: 'boolean', default: false },
  },
  strict: true,
});
const port = Number(values.port);
const persistDir = values['persist-to'];
const tlsPort = values['tls-port'] === undefined ? null : Number(values['tls-port']);
if (!Number.isInteger(port) || port < 1 || port > 65535 || !persistDir || (tlsPort !== null && (!Number.isInteger(tlsPort) || tlsPort < 1 || tlsPort > 65535))) {
  console.error('usage: local-runtime.mjs --port N --persist-to DIR [--env-file F] [--var KEY:VALUE] [--inspector-port N] [--tls-port N] [--bundle-dir DIR] [--gateway-apart] [--no-static-assets]');
  process.exit(2);
}

/**
 * Request.cf for every local request. Miniflare's placeholder claims TLS 1.3
 * for plain ws:// too, and a real cf object describes this machine's own
 * connection to Cloudflare; neither says how the client reached us. Without a
 * TLS claim here, the Worker decides from the URL scheme, which is https only
 * behind the TLS front, as on Cloudflare.
 */
const LOCAL_CF = {
  colo: 'LOCAL',
  country: 'XX',
  asn: 0,
  asOrganization: '',
  clientTcpRtt: 0,
  httpProtocol: 'HTTP/1.1',
  tlsVersion: '',
  tlsCipher: '',
};

// Miniflare must match the workerd and config converter of the pinned wrangler, so take wrangler's own.
const fromWrangler = createRequire(path.join(projectRoot, 'node_modules', 'wrangler', 'package.json'));
const wrangler = await import(fromWrangler.resolve('./wrangler-dist/cli.js'));
const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = fromWrangler('miniflare');

const prebuilt = values['bundle-dir'];
const bundleDir = prebuilt ?? mkdtempSync(path.join(os.tmpdir(), 'edgemq-bundle-'));
let mf = null;
/** With --gateway-apart: the process holding the shards (mf is then the gateway's). */
let shardsMf = null;
let stopping = false;

async function shutdown(code) {
  if (stopping) return;
  stopping = true;
  try {
    await mf?.dispose();
    await shardsMf?.dispose();
  } finally {
    if (!prebuilt) rmSync(bundleDir, { recursive: true, force: true });
    process.exit(code);
  }
}
process.on('SIGTERM', () => shutdown(0));
process.on('SIGINT', () => shutdown(0));
process.on('SIGHUP', () => shutdown(0));

try {
  if (!prebuilt) await bundle(bundleDir);
  // modulesRules only matter to a source tree; the bundle's modules are listed below.
  const { modulesRules: _rules, ...workerOptions } = wrangler.unstable_getMiniflareWorkerOptions(configPath).workerOptions;
  if (values['no-static-assets']) delete workerOptions.assets;
  const bindings = { ...workerOptions.bindings, ...secretsAndLocalVars(values['env-file']), ...cliVars(values.var) };
  const inspectorPort = values['inspector-port'] === undefined ? undefined : Number(values['inspector-port']);
  const worker = {
    ...workerOptions,
    name: readWorkerName(),
    bindings,
    modules: bundleModules(bundleDir),
    // Source maps for stack traces in logged errors.
    modulesRoot: bundleDir,
  };
  const runtime = (options) =>
    new Miniflare(
      convertV4MiniflareOptions({
        host: '127.0.0.1',
        cf: LOCAL_CF,
        log: new Log(LogLevel.INFO),
        // No line per HTTP request: Miniflare posts each one to its Node process over a loopback
        // connection, and for WebSocket upgrades those connections stayed open, one per device
        // connection ever made. A refused-CONNECT flood ran workerd out of file descriptors that
        // way ("accept(): Too many open files", docs/reliability.md). The broker's own logs are
        // unaffected.
        logRequests: false,
        ...options,
      }),
    );
  // Same layout as `wrangler dev --persist-to`, so `wrangler d1 ... --local --persist-to` sees the same database.
  const persistence = path.join(persistDir, 'v3');
  if (values['gateway-apart']) {
    // Through the dev registry an object does not learn the name it was addressed by (ctx.id.name),
    // which is how a shard knows its index; one shard needs none.
    if (String(bindings.BROKER_SHARDS) !== '1') throw new Error('--gateway-apart runs one shard: pass --var BROKER_SHARDS:1');
    const registry = mkdtempSync(path.join(os.tmpdir(), 'edgemq-registry-'));
    process.once('exit', () => rmSync(registry, { recursive: true, force: true }));
    // The inspector goes to the shards: their cost is what the split is for.
    shardsMf = runtime({ port: 0, inspectorPort, resourcePersistencePath: persistence, unsafeDevRegistryPath: registry, workers: [worker] });
    // Printed before the gateway answers /health, so a launcher that waits for /health has read it.
    console.log(`shards: ${(await shardsMf.ready).origin}`);
    // The gateway's own storage is apart: it serves MQTT without D1, and the shards' process keeps the database.
    mf = runtime({
      port,
      resourcePersistencePath: path.join(persistDir, 'v3-gateway'),
      unsafeDevRegistryPath: registry,
      workers: [{ ...worker, name: `${worker.name}-gateway`, durableObjects: inProcessOf(worker.name, worker.durableObjects) }],
    });
  } else {
    mf = runtime({ port, inspectorPort, resourcePersistencePath: persistence, workers: [worker] });
  }
  await mf.ready;
  if (tlsPort !== null) {
    const { key, cert } = localCertificate(path.join(persistDir, 'tls'));
    await startTlsFront({ port: tlsPort, targetPort: port, key, cert });
  }
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  await shutdown(1);
}

/** `wrangler deploy --dry-run`: the production bundle, written to dir/index.js. */
function bundle(dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [wranglerEntry, 'deploy', '--dry-run', '--outdir', dir], {
      cwd: projectRoot,
      env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false', NO_COLOR: '1', FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0 && existsSync(path.join(dir, 'index.js'))) resolve();
      else reject(new Error(`bundling the Worker failed (wrangler exit ${code}):\n${output.slice(-8192)}`));
    });
  });
}

/**
 * The bundle is index.js plus one file per import matched by a [[rules]]
 * entry in wrangler.toml (the dashboard API docs' assets), named
 * `<content hash>-<file name>`. Each gets its rule's module type, as in production.
 */
function bundleModules(dir) {
  const rules = wrangler.unstable_readConfig({ config: configPath }).rules ?? [];
  const modules = [{ type: 'ESModule', path: path.join(dir, 'index.js') }];
  for (const file of readdirSync(dir)) {
    if (file === 'index.js' || file.endsWith('.map') || file === 'README.md') continue;
    const name = file.replace(/^[0-9a-f]{40}-/, '');
    const rule = rules.find((r) => (r.globs ?? []).some((g) => path.posix.basename(g) === name));
    if (!rule) throw new Error(`the bundle has a module no wrangler.toml rule explains: ${file}`);
    modules.push({ type: rule.type, path: path.join(dir, file) });
  }
  return modules;
}

/** As `wrangler dev`: the given env file, else .dev.vars, else .env. */
function secretsAndLocalVars(envFile) {
  const candidates = envFile ? [envFile] : ['.dev.vars', '.env'].map((f) => path.join(projectRoot, f));
  const file = candidates.find((f) => existsSync(f));
  return file ? parseEnv(readFileSync(file, 'utf8')) : {};
}

function cliVars(pairs) {
  const out = {};
  for (const pair of pairs) {
    const i = pair.indexOf(':');
    if (i <= 0) throw new Error(`--var expects KEY:VALUE, got "${pair}"`);
    out[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return out;
}

/** The same Durable Object bindings, served by the Worker `scriptName` in another process. */
function inProcessOf(scriptName, durableObjects = {}) {
  return Object.fromEntries(
    Object.entries(durableObjects).map(([binding, d]) => [binding, { className: typeof d === 'string' ? d : d.className, scriptName }]),
  );
}

/** Durable Object storage is keyed by the Worker's name; keep wrangler dev's so existing local state still opens. */
function readWorkerName() {
  return wrangler.unstable_readConfig({ config: configPath }).name;
}
