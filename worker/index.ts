import { Hono } from 'hono';
import type { Env } from './env';
import { mqttUpgradeRoute } from './routes/mqtt-upgrade';

export { BrokerShard } from '../durable-objects/broker-shard';

const app = new Hono<{ Bindings: Env }>();

app.route('/', mqttUpgradeRoute);
app.get('/health', (c) => c.json({ status: 'ok' }));

app.notFound((c) => c.json({ error: 'not found' }, 404));
app.onError((err, c) => {
  console.error('unhandled error', err);
  return c.json({ error: 'internal error' }, 500);
});

export default app;
