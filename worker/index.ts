import { Hono } from 'hono';
import type { Env } from './env';
import { mqttUpgradeRoute } from './routes/mqtt-upgrade';
import { ADMIN_BASE_PATH, createAdminApp } from './admin/app';
import { runRetention } from './cron';
import { handleError, handleNotFound } from './errors';

export { BrokerShard } from '../durable-objects/broker-shard';
export { BanCounter } from '../durable-objects/ban-counter';

const app = new Hono<{ Bindings: Env }>();

app.route('/', mqttUpgradeRoute);
app.route(ADMIN_BASE_PATH, createAdminApp());
app.get('/health', (c) => c.json({ status: 'ok' }));

// One error shape for the whole Worker (see errors.ts).
app.notFound(handleNotFound);
app.onError(handleError);

export default {
  fetch: app.fetch,
  /** The cron trigger in wrangler.toml: retention of the Unauthorized Clients log and expired automatic bans. */
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(
      runRetention(env, controller.scheduledTime).then((removed) => console.log('retention', JSON.stringify(removed))),
    );
  },
} satisfies ExportedHandler<Env>;
