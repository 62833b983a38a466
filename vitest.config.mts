import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { configDefaults, defineConfig } from 'vitest/config';
import { readFile } from 'node:fs/promises';
import type { Plugin } from 'vite';

/**
 * Seven projects, one command:
 * - unit:    platform-free code (protocol/, auth/) in Node.
 * - workers: code that needs workerd (Durable Object SQLite, D1, the Worker) via the
 *            Workers Vitest integration, with real bindings from wrangler.toml;
 *            workers-cluster runs test/workers/cluster/ the same way with BROKER_SHARDS=4.
 * - e2e:     the real local runtime (workerd via scripts/local-runtime.mjs, local D1, Durable Objects)
 *            driven over ws:// by MQTT.js and Debian's python3-paho-mqtt, once with one
 *            broker shard and once with four (e2e-4-shards); the wire-level suites once more
 *            with the client sockets in the shard (e2e-direct, BROKER_GATEWAY=direct).
 * - browser: the dashboard in Debian's headless Chromium against the real local runtime.
 */
// The real D1 migrations, applied to each workers test's local D1 by test/workers/apply-migrations.ts.
const d1Migrations = await readD1Migrations('./migrations');

/**
 * wrangler imports Swagger UI's files as text through the [[rules]] in
 * wrangler.toml; Vite, which loads the Worker in the workers project, does not
 * read those rules, so this gives the same modules the same meaning there.
 */
function textModules(): Plugin {
  const TEXT_MODULES = /[\\/]swagger-ui-dist[\\/](swagger-ui-bundle\.js|swagger-ui\.css)$/;
  return {
    name: 'edgemq-text-modules',
    enforce: 'pre',
    async load(id) {
      const path = id.split('?')[0];
      if (!TEXT_MODULES.test(path)) return null;
      return `export default ${JSON.stringify(await readFile(path, 'utf8'))};`;
    },
  };
}

/** Tests about the cluster itself: they start four shards whatever the project. */
const CLUSTER_TESTS = 'test/e2e/**/*-cluster-*.test.ts';
/** Tests of BROKER_GATEWAY=direct itself: only the e2e-direct project runs them. */
const DIRECT_TESTS = 'test/e2e/**/*-direct-*.test.ts';
/**
 * With BROKER_GATEWAY=direct the client's socket ends in the shard, so the
 * engine frames, times and judges every byte itself: the suites about the
 * wire, sessions, flow control and authentication run that way too. The
 * gateway's own tests (15-edge-gateway) and the admin, ACL and dashboard
 * suites, which do not depend on where the socket ends, run once.
 */
const DIRECT_SUITES = [
  '00-transport',
  '00-transport-tls',
  '01-connect',
  '02-publish-subscribe',
  '04-retain',
  '05-sessions',
  '07-will',
  '13-malformed',
  '15-flow-control',
  '16-direct-to-shard',
  '20-paho',
  '30-auth-basic',
  '31-auth-x509',
].map((file) => `test/e2e/${file}.test.ts`);

/**
 * The end-to-end suite against the local runtime with `shards` broker shards
 * (BROKER_SHARDS, read by test/support/broker-process.ts).
 */
function e2e({ name, shards, groupOrder, include, exclude, env }: { name: string; shards: number; groupOrder: number; include?: string[]; exclude?: string[]; env?: Record<string, string> }) {
  return {
    test: {
      name,
      environment: 'node',
      // After the fast suites; each file starts its own broker.
      sequence: { groupOrder },
      include: include ?? ['test/e2e/**/*.test.ts'],
      exclude: [...(shards === 1 ? [CLUSTER_TESTS] : []), ...(exclude ?? [DIRECT_TESTS])],
      env: { EDGEMQ_TEST_SHARDS: String(shards), ...env },
      // A guard against hangs, not a speed check: tests that read D1 start a
      // wrangler process per query, and two brokers share a 2-core machine.
      testTimeout: 180_000,
      hookTimeout: 180_000,
      // Each file starts its own broker; two at a time fit a 2-core machine.
      maxWorkers: 2,
    },
  };
}

/** Code that needs workerd (Durable Object SQLite, D1, the Worker), with real bindings from wrangler.toml. */
function workersProject(options: { name: string; include: string[]; exclude?: string[]; bindings?: Record<string, string> }) {
  return {
    plugins: [
      textModules(),
      cloudflareTest({
        wrangler: { configPath: './wrangler.toml' },
        miniflare: {
          bindings: {
            ALLOW_ANONYMOUS: 'true',
            ACL_DEFAULT_POLICY: 'allow',
            MQTT_CONNECT_TIMEOUT_SECONDS: '2',
            TEST_MIGRATIONS: d1Migrations,
            // Admin API secrets for tests only; deployments set them with `wrangler secret put`.
            ADMIN_JWT_SECRET: 'test-only-admin-jwt-secret-0123456789abcdef',
            ADMIN_USERNAME: 'admin',
            ADMIN_PASSWORD: 'test-admin-password',
            // One shard unless the project says otherwise (wrangler.toml's default is a deployment's).
            BROKER_SHARDS: '1',
            ...options.bindings,
          },
        },
      }),
    ],
    test: {
      name: options.name,
      sequence: { groupOrder: 1 },
      // Sign-in tests run real PBKDF2 (100,000 iterations) many times; this guards against hangs, not speed.
      testTimeout: 30_000,
      include: options.include,
      exclude: [...configDefaults.exclude, ...(options.exclude ?? [])],
      setupFiles: ['./test/workers/apply-migrations.ts'],
      deps: { optimizer: { ssr: { enabled: true, include: ['mqtt-packet'] } } },
    },
  };
}

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          environment: 'node',
          sequence: { groupOrder: 0 },
          include: ['protocol/**/*.test.ts', 'auth/**/*.test.ts', 'worker/**/*.unit.test.ts', 'cli/**/*.test.ts'],
        },
      },
      workersProject({
        name: 'workers',
        include: ['test/workers/**/*.test.ts', 'durable-objects/**/*.test.ts'],
        exclude: ['test/workers/cluster/**'],
      }),
      // The same, with the broker spread over four shards: the admin API's view of
      // every shard and the ban counters the shards share.
      workersProject({ name: 'workers-cluster', include: ['test/workers/cluster/**/*.test.ts'], bindings: { BROKER_SHARDS: '4' } }),
      e2e({ name: 'e2e', shards: 1, groupOrder: 2 }),
      // The same suite against a cluster of four shards, plus the tests about the cluster itself.
      e2e({ name: 'e2e-4-shards', shards: 4, groupOrder: 3 }),
      // One shard holding the clients' sockets itself (BROKER_GATEWAY=direct, read by test/support/broker-process.ts).
      e2e({ name: 'e2e-direct', shards: 1, groupOrder: 4, include: DIRECT_SUITES, exclude: [], env: { EDGEMQ_TEST_GATEWAY: 'direct' } }),
      {
        test: {
          name: 'browser',
          environment: 'node',
          // The dashboard in Debian's headless Chromium (playwright-core) against
          // wrangler dev, after everything else; needs `npm run build:dashboard`.
          sequence: { groupOrder: 5 },
          include: ['test/browser/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Chromium and wrangler dev together fill a 2-core machine.
          maxWorkers: 1,
        },
      },
    ],
  },
});
