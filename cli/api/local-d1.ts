/**
 * The local D1 database of `npm start`, opened the way the local runtime
 * (scripts/local-runtime.mjs) opens it: wrangler's Miniflare with the D1
 * bindings wrangler derives from wrangler.toml, persisted under
 * `<persistDir>/v3`. Only D1 is bound; the broker's Durable Objects stay with
 * the broker, which may keep running meanwhile. (getPlatformProxy would bind
 * them too, with warnings that they cannot run here, on every command.)
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { V4WorkerOptions } from 'miniflare';
import { CliError } from '../command';
import { PROJECT_ROOT } from './target';

const CONFIG_PATH = path.join(PROJECT_ROOT, 'wrangler.toml');
const MIGRATIONS_DIR = path.join(PROJECT_ROOT, 'migrations');

export interface LocalD1 {
  db: D1Database;
  dispose(): Promise<void>;
}

/** `wrangler d1 migrations apply --local --persist-to DIR`, as npm start runs it. */
const migrateCommand = (persistDir: string) => `npx wrangler d1 migrations apply edgemq --local --persist-to '${persistDir}'`;

export async function openLocalD1(persistDir: string): Promise<LocalD1> {
  const d1Dir = path.join(persistDir, 'v3', 'd1');
  // Miniflare would quietly create an empty database; a wrong directory should be an error instead.
  if (!existsSync(d1Dir)) {
    throw new CliError(`no local database under ${persistDir} (${d1Dir} does not exist). Start the broker once with \`npm start\`, or give the right --persist-to.`);
  }
  // Miniflare must match the workerd and config converter of the pinned wrangler, so take wrangler's own.
  const fromWrangler = createRequire(path.join(PROJECT_ROOT, 'node_modules', 'wrangler', 'package.json'));
  const wrangler = await import('wrangler');
  const { Miniflare, convertV4MiniflareOptions } = fromWrangler('miniflare') as typeof import('miniflare');
  const { compatibilityDate, d1Databases } = wrangler.unstable_getMiniflareWorkerOptions(CONFIG_PATH).workerOptions as Pick<V4WorkerOptions, 'compatibilityDate' | 'd1Databases'>;
  const mf = new Miniflare(
    convertV4MiniflareOptions({
      resourcePersistencePath: path.join(persistDir, 'v3'),
      workers: [
        {
          name: 'edgemq-cli',
          modules: true,
          script: 'export default {}',
          compatibilityDate,
          d1Databases,
        },
      ],
    }),
  );
  try {
    const db: D1Database = await mf.getD1Database('DB');
    await assertMigrated(db, persistDir);
    return { db, dispose: () => mf.dispose() };
  } catch (err) {
    await mf.dispose();
    throw err;
  }
}

/** The route handlers expect the current schema: refuse a database that lacks a migration rather than fail halfway. */
async function assertMigrated(db: D1Database, persistDir: string): Promise<void> {
  const expected = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort();
  let applied: string[] = [];
  try {
    applied = (await db.prepare('SELECT name FROM d1_migrations').all<{ name: string }>()).results.map((r) => r.name);
  } catch {
    // No d1_migrations table: nothing was ever applied.
  }
  const missing = expected.filter((f) => !applied.includes(f));
  if (missing.length > 0) {
    throw new CliError(`the local database under ${persistDir} lacks the migrations ${missing.join(', ')}. Run \`npm start\` once, or: ${migrateCommand(persistDir)}`);
  }
}
