import { Hono } from 'hono';
import type { Env } from './env';
import { acceptMqttUpgrade, isMqttPath, mqttUpgradeRoute, readMqttUpgrade } from './routes/mqtt-upgrade';
import { ADMIN_BASE_PATH, createAdminApp } from './admin/app';
import { runRetention } from './cron';
import { ApiError, handleError, handleNotFound } from './errors';

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
  fetch(request: Request, env: Env, ctx: ExecutionContext) {
    // Every device connection is an upgrade to /mqtt, and a deploy reconnects them all at once:
    // a valid one goes straight to the gateway. The router's match and dispatch were about 8%
    // of the connect path's CPU (docs/benchmarks.md); anything else, errors included, takes the app.
    if (isMqttPath(request.url)) {
      const upgrade = readMqttUpgrade(request);
      if (!(upgrade instanceof ApiError)) return acceptMqttUpgrade(request, env, upgrade.subprotocol);
    }
    return app.fetch(request, env, ctx);
  },
  /** The cron trigger in wrangler.toml: retention of the Unauthorized Clients log and expired automatic bans. */
  async scheduled(controller, env, ctx) {
    ctx.waitUntil(
      runRetention(env, controller.scheduledTime).then((removed) => console.log('retention', JSON.stringify(removed))),
    );
  },
} satisfies ExportedHandler<Env>;
