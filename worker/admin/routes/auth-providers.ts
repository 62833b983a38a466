import { createRoute, z } from '@hono/zod-openapi';
import { PROVIDER_TYPES } from '../../../auth/provider';
import { providerSettingsSchemas } from '../../../auth/settings';
import { upsertAuthProviders } from '../../../db/queries/auth-providers';
import { auditFor } from '../context';
import { errorResponses, invalid, notFound, zodErrorToApiError } from '../errors';
import { currentProviders, isProviderType, providerView, secretFields, toValues } from '../providers';
import { newRouter } from '../router';
import { AuthProviderSchema, ProviderTypeSchema } from '../contract/security';

const ProviderList = z.object({ data: z.array(AuthProviderSchema) }).openapi('AuthProviderList');

const UpdateInput = z
  .object({
    enabled: z.boolean(),
    settings: z.record(z.string(), z.unknown()).default({}).openapi({
      description:
        'Settings of this provider type (see the Provider settings schemas). Secret fields are write-only: omit one to keep it, send null to clear it.',
    }),
  })
  .openapi('AuthProviderUpdate');

const OrderInput = z
  .object({
    order: z
      .array(ProviderTypeSchema)
      .min(1)
      .max(PROVIDER_TYPES.length)
      .refine((a) => new Set(a).size === a.length, 'each provider may appear once'),
  })
  .openapi('AuthProviderOrder', { description: 'Listed providers come first in this order; the others follow in their current order' });

const tags = ['Authentication providers'];
const listResponse = { content: { 'application/json': { schema: ProviderList } } };

const list = createRoute({
  method: 'get',
  path: '/auth-providers',
  tags,
  summary: 'The provider chain, in priority order (settings without secrets)',
  responses: { 200: { description: 'Providers', ...listResponse }, ...errorResponses(401) },
});
const order = createRoute({
  method: 'put',
  path: '/auth-providers/order',
  tags,
  summary: 'Change the order providers are tried in',
  request: { body: { required: true, content: { 'application/json': { schema: OrderInput } } } },
  responses: { 200: { description: 'Providers in the new order', ...listResponse }, ...errorResponses(400, 401, 403) },
});
const update = createRoute({
  method: 'put',
  path: '/auth-providers/{type}',
  tags,
  summary: 'Enable or disable a provider and set its settings',
  request: {
    params: z.object({ type: z.string().max(32).openapi({ param: { name: 'type', in: 'path' }, example: 'basic' }) }),
    body: { required: true, content: { 'application/json': { schema: UpdateInput } } },
  },
  responses: { 200: { description: 'The provider', content: { 'application/json': { schema: AuthProviderSchema } } }, ...errorResponses(400, 401, 403, 404) },
});

export const authProviderRoutes = newRouter()
  .openapi(list, async function listProviders(c) {
    const providers = await currentProviders(c.var.db, c.env);
    return c.json({ data: providers.map(providerView) }, 200);
  })
  .openapi(order, async function orderProviders(c) {
    const { order: listed } = c.req.valid('json');
    const providers = await currentProviders(c.var.db, c.env);
    const ordered = [...listed.map((t) => providers.find((p) => p.type === t)!), ...providers.filter((p) => !listed.includes(p.type))];
    const values = ordered.map((p, i) => ({ ...toValues(p), priority: (i + 1) * 10 }));
    await upsertAuthProviders(c.var.db, values, auditFor(c.var.caller, 'reorder', 'auth-providers', null, { order: ordered.map((p) => p.type) }));
    await c.var.configChanged();
    return c.json({ data: (await currentProviders(c.var.db, c.env)).map(providerView) }, 200);
  })
  .openapi(update, async function updateProvider(c) {
    const { type } = c.req.valid('param');
    if (!isProviderType(type)) throw notFound(`Provider "${type}"`);
    const input = c.req.valid('json');
    const current = (await currentProviders(c.var.db, c.env)).find((p) => p.type === type)!;
    const settings: Record<string, unknown> = { ...input.settings };
    for (const secret of secretFields(type)) {
      if (!(secret in settings)) {
        if (current.config[secret] !== undefined) settings[secret] = current.config[secret];
      } else if (settings[secret] === null) {
        delete settings[secret];
      }
    }
    const parsed = providerSettingsSchemas[type].safeParse(settings);
    if (!parsed.success) throw zodErrorToApiError(parsed.error, 'settings');
    if (input.enabled && type === 'jwt') {
      const jwt = parsed.data as { keySource: string; hmacSecret?: string; publicKeyPem?: string; jwksUrl?: string };
      const needed = jwt.keySource === 'hmac' ? 'hmacSecret' : jwt.keySource === 'pem' ? 'publicKeyPem' : 'jwksUrl';
      if (!jwt[needed as keyof typeof jwt]) throw invalid(`settings.${needed}`, `required to enable jwt with keySource ${jwt.keySource}`);
    }
    const values = { type, enabled: input.enabled, priority: current.priority, config: parsed.data as Record<string, unknown> };
    const changedSecrets = secretFields(type).filter((s) => s in input.settings);
    await upsertAuthProviders(
      c.var.db,
      [values],
      auditFor(c.var.caller, 'update', 'auth-providers', type, { enabled: input.enabled, secretsChanged: changedSecrets }),
    );
    await c.var.configChanged();
    return c.json(providerView({ ...values, valid: true, updatedAt: new Date() }), 200);
  });
