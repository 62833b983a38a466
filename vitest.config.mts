import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/**
 * Three projects, one command:
 * - unit:    platform-free code (protocol/, auth/) in Node.
 * - workers: code that needs workerd (Durable Object SQLite, D1, the Worker) via the
 *            Workers Vitest integration, with real bindings from wrangler.toml.
 * - e2e:     the real local runtime (wrangler dev: workerd, local D1, Durable Objects)
 *            driven over ws:// by MQTT.js and Debian's python3-paho-mqtt.
 */
// The real D1 migrations, applied to each workers test's local D1 by test/workers/apply-migrations.ts.
const d1Migrations = await readD1Migrations('./migrations');

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          environment: 'node',
          sequence: { groupOrder: 0 },
          include: ['protocol/**/*.test.ts', 'auth/**/*.test.ts', 'worker/**/*.unit.test.ts'],
        },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: './wrangler.toml' },
            miniflare: {
              bindings: { ALLOW_ANONYMOUS: 'true', ACL_DEFAULT_POLICY: 'allow', MQTT_CONNECT_TIMEOUT_SECONDS: '2', TEST_MIGRATIONS: d1Migrations },
            },
          }),
        ],
        test: {
          name: 'workers',
          sequence: { groupOrder: 1 },
          include: ['test/workers/**/*.test.ts', 'durable-objects/**/*.test.ts'],
          setupFiles: ['./test/workers/apply-migrations.ts'],
          deps: { optimizer: { ssr: { enabled: true, include: ['mqtt-packet'] } } },
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          // After the fast suites; each file starts its own wrangler dev.
          sequence: { groupOrder: 2 },
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each file starts its own wrangler dev; two at a time fit a 2-core machine.
          maxWorkers: 2,
        },
      },
    ],
  },
});
