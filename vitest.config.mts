import { cloudflareTest } from '@cloudflare/vitest-plugin';
import { defineConfig } from 'vitest/config';

/**
 * Three projects, one command:
 * - unit:    platform-free code (protocol/, auth/) in Node.
 * - workers: code that needs workerd (Durable Object SQLite, D1, the Worker) via the
 *            Workers Vitest integration, with real bindings from wrangler.toml.
 * - e2e:     the real local runtime (workerd via scripts/local-runtime.mjs, local D1, Durable Objects)
 *            driven over ws:// by MQTT.js and Debian's python3-paho-mqtt.
 */
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
              bindings: { ALLOW_ANONYMOUS: 'true', MQTT_CONNECT_TIMEOUT_SECONDS: '2' },
            },
          }),
        ],
        test: {
          name: 'workers',
          sequence: { groupOrder: 1 },
          include: ['test/workers/**/*.test.ts', 'durable-objects/**/*.test.ts'],
          deps: { optimizer: { ssr: { enabled: true, include: ['mqtt-packet'] } } },
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node',
          // After the fast suites; each file starts its own broker.
          sequence: { groupOrder: 2 },
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Each file starts its own broker; two at a time fit a 2-core machine.
          maxWorkers: 2,
        },
      },
    ],
  },
});
