// Runs reference/worker.js on the same workerd (Miniflare from the pinned
// wrangler) and compatibility settings as EdgeMQ, until SIGTERM.
//
//   node soak/reference/run.mjs --port N --persist-to DIR [--inspector-port N] [--mode silent|answer] [--assets] [--gateway]
//
// --gateway puts the least gateway a sharded broker needs in front of the
// object (bench/floor/edge-relay.mjs): the Worker keeps the client's socket and
// relays it over a second socket to the object, as EdgeMQ's edge gateway does.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));
const projectRoot = path.resolve(here, '..', '..');
const { values } = parseArgs({
  options: { port: { type: 'string' }, 'persist-to': { type: 'string' }, 'inspector-port': { type: 'string' }, mode: { type: 'string', default: 'silent' }, assets: { type: 'boolean', default: false }, gateway: { type: 'boolean', default: false } },
  strict: true,
});
const fromWrangler = createRequire(path.join(projectRoot, 'node_modules', 'wrangler', 'package.json'));
const { Miniflare, Log, LogLevel, convertV4MiniflareOptions } = fromWrangler('miniflare');

const mf = new Miniflare(convertV4MiniflareOptions({
  host: '127.0.0.1',
  port: Number(values.port),
  inspectorPort: values['inspector-port'] === undefined ? undefined : Number(values['inspector-port']),
  cf: false,
  log: new Log(LogLevel.WARN),
  resourcePersistencePath: values['persist-to'],
  workers: [
    {
      name: 'reference',
      modulesRoot: projectRoot,
      modules: [
        { type: 'ESModule', path: path.join(here, 'worker.js') },
        { type: 'ESModule', path: path.join(projectRoot, 'bench', 'floor', 'edge-relay.mjs') },
      ],
      compatibilityDate: wranglerToml('compatibility_date'),
      compatibilityFlags: JSON.parse(wranglerToml('compatibility_flags')),
      durableObjects: { SHARD: { className: 'IdleShard', useSQLite: true } },
      bindings: { MODE: values.mode, GATEWAY: values.gateway ? 'relay' : 'none' },
      // EdgeMQ's wrangler.toml serves the dashboard as static assets with /mqtt routed to the Worker first;
      // locally that puts the assets router in front of every upgrade.
      ...(values.assets ? { assets: assetsLikeEdgeMQ() } : {}),
    },
  ],
}));
await mf.ready;
console.log('ready');
const shutdown = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

/** A top-level value of wrangler.toml, so the reference runs with EdgeMQ's compatibility settings. */
function wranglerToml(key) {
  const text = readFileSync(path.join(projectRoot, 'wrangler.toml'), 'utf8');
  const match = new RegExp(`^${key}\\s*=\\s*(.+)$`, 'm').exec(text);
  if (!match) throw new Error(`wrangler.toml has no ${key}`);
  const value = match[1].trim();
  return value.startsWith('"') ? JSON.parse(value) : value;
}

function assetsLikeEdgeMQ() {
  const routes = ['/mqtt', '/mqtt/*', '/health'];
  return {
    directory: path.join(here, 'assets'),
    binding: 'ASSETS',
    run_worker_first: routes,
    routerConfig: { has_user_worker: true, static_routing: { asset_worker: [], user_worker: routes } },
    assetConfig: { not_found_handling: 'single-page-application', compatibility_date: wranglerToml('compatibility_date'), compatibility_flags: JSON.parse(wranglerToml('compatibility_flags')) },
  };
}
