import { createRoute, z } from '@hono/zod-openapi';
import { insertApiKey, listApiKeys, revokeApiKey, toApiKeyView } from '../../../db/queries/api-keys';
import { generateApiKey, hashApiKey } from '../api-key-format';
import { actorOf, auditFor } from '../context';
import { errorResponses, notFound } from '../errors';
import { newRouter } from '../router';
import { idParam, isoTime } from '../schemas';

const ApiKeySchema = z
  .object({
    id: z.string(),
    name: z.string(),
    prefix: z.string().openapi({ description: 'The first characters of the key, to tell keys apart', example: 'emq_Q2hhbmdl' }),
    role: z.enum(['admin', 'viewer']),
    createdBy: z.string(),
    createdAt: isoTime,
    lastUsedAt: isoTime.nullable(),
    revokedAt: isoTime.nullable(),
  })
  .openapi('ApiKey');

const CreatedSchema = ApiKeySchema.extend({
  key: z.string().openapi({ description: 'The key itself. Shown only in this response; store it now.' }),
}).openapi('ApiKeyCreated');

const CreateSchema = z.object({ name: z.string().trim().min(1).max(128), role: z.enum(['admin', 'viewer']).default('viewer') }).openapi('ApiKeyCreate');

const tags = ['API keys'];

const list = createRoute({
  method: 'get',
  path: '/api-keys',
  tags,
  summary: 'List API keys (never the keys themselves)',
  responses: { 200: { description: 'Keys', content: { 'application/json': { schema: z.object({ data: z.array(ApiKeySchema) }) } } }, ...errorResponses(401) },
});
const create = createRoute({
  method: 'post',
  path: '/api-keys',
  tags,
  summary: 'Create an API key; the response holds the key, once',
  description: 'Send it as `Authorization: Bearer emq_...`. Only its SHA-256 is stored.',
  request: { body: { required: true, content: { 'application/json': { schema: CreateSchema } } } },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: CreatedSchema } } }, ...errorResponses(400, 401, 403) },
});
const revoke = createRoute({
  method: 'delete',
  path: '/api-keys/{id}',
  tags,
  summary: 'Revoke an API key',
  request: { params: idParam },
  responses: { 200: { description: 'Revoked', content: { 'application/json': { schema: ApiKeySchema } } }, ...errorResponses(401, 403, 404) },
});

export const apiKeyRoutes = newRouter()
  .openapi(list, async function listApiKeysRoute(c) {
    return c.json({ data: await listApiKeys(c.var.db) }, 200);
  })
  .openapi(create, async function createApiKey(c) {
    const body = c.req.valid('json');
    const { key, prefix } = generateApiKey();
    const row = await insertApiKey(
      c.var.db,
      { name: body.name, role: body.role, prefix, keyHash: await hashApiKey(key), createdBy: actorOf(c.var.caller) },
      auditFor(c.var.caller, 'create', 'api-keys', null, { name: body.name, role: body.role, prefix }),
    );
    return c.json({ ...toApiKeyView(row), key }, 201);
  })
  .openapi(revoke, async function revokeApiKeyRoute(c) {
    const { id } = c.req.valid('param');
    const row = await revokeApiKey(c.var.db, id, auditFor(c.var.caller, 'revoke', 'api-keys', id));
    if (!row) throw notFound('API key');
    return c.json(toApiKeyView(row), 200);
  });
