// Starts the floor reference (bench/floor/worker.mjs) on workerd through
// Miniflare, the way scripts/local-runtime.mjs starts EdgeMQ: wrangler's own
// Miniflare and workerd, EdgeMQ's compatibility date and flags from
// wrangler.toml, a SQLite-backed Durable Object, the same entry Worker in
// front. Prints "ready <port>" once it answers.
//
//   node bench/floor/start.mjs --port N [--gateway [--apart]]
//
// --gateway puts a relaying Worker between the client and the object
// (edge-relay.mjs), as a broker with many shards needs. --apart runs that
// Worker in a second workerd process that reaches the object through
// Miniflare's dev registry, as EdgeMQ's `local-runtime.mjs --gateway-apart`
// does: each workerd process runs on one thread, so the object's process then
// spends only what the object does.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The exit code that says the port was taken (bench/brokers.ts startFloor picks another). */
const PORT_IN_USE_EXIT = 98;
const projectRoot = path.resolve(here, '..', '..');
const { values } = parseArgs({ options: { port: { type: 'string' }, gateway: { type: 'boolean', default: false }, apart: { type: 'boolean', default: false } }, strict: true });
const port = Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error('usage: start.mjs --port N [--gateway [--apart]]');
  process.exit(2);
}

const fromWrangler = createRequire(path.join(projectRoot, 'node_modules', 'wrangler', 'package.json'));
const wrangler = await import(fromWrangler.resolve('./wrangler-dist/cli.js'));
const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = fromWrangler('miniflare');
const config = wrangler.unstable_readConfig({ config: path.join(projectRoot, 'wrangler.toml') });

const worker = {
  name: 'floor',
  // Listed, not discovered: Miniflare does not follow the worker's own import.
  modulesRoot: projectRoot,
  modules: [
    { type: 'ESModule', path: path.join(here, 'worker.mjs') },
    { type: 'ESModule', path: path.join(here, 'edge-relay.mjs') },
  ],
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags,
  durableObjects: { FLOOR: { className: 'FloorShard', useSQLite: true } },
  bindings: values.gateway ? { GATEWAY: 'relay' } : {},
};
const runtime = (options) => new Miniflare(convertV4MiniflareOptions({ host: '127.0.0.1', log: new Log(LogLevel.WARN), cf: false, ...options }));
/** With --apart: the object's process; mf is then the gateway's. */
let objects = null;
let mf;
if (values.apart) {
  const registry = mkdtempSync(path.join(os.tmpdir(), 'floor-registry-'));
  process.once('exit', () => rmSync(registry, { recursive: true, force: true }));
  objects = runtime({ port: 0, unsafeDevRegistryPath: registry, workers: [worker] });
  await objects.ready;
  mf = runtime({
    port,
    unsafeDevRegistryPath: registry,
    workers: [{ ...worker, name: 'floor-gateway', durableObjects: { FLOOR: { className: 'FloorShard', scriptName: 'floor' } } }],
  });
} else {
  mf = runtime({ port, workers: [worker] });
}
let stopping = false;
async function shutdown() {
  if (stopping) return;
  stopping = true;
  await mf.dispose().catch(() => {});
  await objects?.dispose().catch(() => {});
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.on('SIGHUP', shutdown);
try {
  await mf.ready;
  console.log(`ready ${port}`);
} catch (error) {
  console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  // Another process took the port after the launcher chose it: the launcher tries another (bench/brokers.ts).
  process.exit(error?.code === 'ERR_ADDRESS_IN_USE' ? PORT_IN_USE_EXIT : 1);
}
