import { createRoute } from '@hono/zod-openapi';
import { brokerSettingsSchema } from '../../../auth/settings';
import { readBrokerSettings, writeBrokerSettings } from '../../../db/queries/broker-settings';
import { auditFor } from '../context';
import { errorResponses } from '../errors';
import { newRouter } from '../router';

const Settings = brokerSettingsSchema.openapi('BrokerSettings');

const tags = ['Broker settings'];
const one = { content: { 'application/json': { schema: Settings } } };

const get = createRoute({
  method: 'get',
  path: '/settings',
  tags,
  summary: 'Broker-wide settings (client id prefixes, silent refusal, automatic bans, retention)',
  responses: { 200: { description: 'Settings', ...one }, ...errorResponses(401) },
});
const put = createRoute({
  method: 'put',
  path: '/settings',
  tags,
  summary: 'Replace the broker settings; omitted keys take their defaults',
  request: { body: { required: true, content: { 'application/json': { schema: Settings } } } },
  responses: { 200: { description: 'The stored settings', ...one }, ...errorResponses(400, 401, 403) },
});

export const settingsRoutes = newRouter()
  .openapi(get, async function getSettings(c) {
    return c.json(await readBrokerSettings(c.var.db), 200);
  })
  .openapi(put, async function putSettings(c) {
    const settings = c.req.valid('json');
    await writeBrokerSettings(c.var.db, settings, auditFor(c.var.caller, 'update', 'settings', null, { ...settings }));
    await c.var.configChanged();
    return c.json(settings, 200);
  });
