import { createRoute, z } from '@hono/zod-openapi';
import {
  deleteAllUnauthorizedClients,
  deleteUnauthorizedClient,
  getUnauthorizedClient,
  listUnauthorizedClients,
  summarizeUnauthorizedClients,
} from '../../../db/queries/unauthorized-clients';
import { auditFor } from '../context';
import { errorResponses, notFound } from '../errors';
import { newRouter } from '../router';
import { booleanList, OkSchema, pageParams, pageSchema, sortParams, timeParam } from '../schemas';
import { UNAUTHORIZED_SORT_KEYS, UnauthorizedClientSchema, UnauthorizedSummarySchema } from '../contract/security';

const text = (description: string) => z.string().max(512).optional().openapi({ description });

const ListQuery = z.object({
  clientId: text('Substring of the client id, case-insensitive'),
  username: text('Substring of the username, case-insensitive'),
  ip: text('Substring of the IP address'),
  reason: text('Substring of the reason code or text, case-insensitive'),
  passwordProvided: booleanList.optional(),
  tlsUsed: booleanList.optional(),
  from: timeParam.optional().openapi({ description: 'lastUpdate at or after (ISO-8601 or epoch ms)' }),
  to: timeParam.optional().openapi({ description: 'lastUpdate at or before (ISO-8601 or epoch ms)' }),
  ...sortParams(UNAUTHORIZED_SORT_KEYS, 'lastUpdate', 'desc'),
  ...pageParams,
});

const ClientIdParam = z.object({ clientId: z.string().min(1).max(65535).openapi({ param: { name: 'clientId', in: 'path' }, example: 'sensor-17' }) });

const tags = ['Unauthorized clients'];

const list = createRoute({
  method: 'get',
  path: '/unauthorized-clients',
  tags,
  summary: 'Refused connections, one row per client id',
  request: { query: ListQuery },
  responses: {
    200: { description: 'A page of refused clients', content: { 'application/json': { schema: pageSchema(UnauthorizedClientSchema, 'UnauthorizedClientPage') } } },
    ...errorResponses(400, 401),
  },
});
const summary = createRoute({
  method: 'get',
  path: '/unauthorized-clients/summary',
  tags,
  summary: 'The whole log counted by IP and by refusal reason, largest first',
  request: {
    query: z.object({
      limit: z.coerce.number().int().min(1).max(100).default(8).openapi({ description: 'How many IPs and how many reasons to return' }),
    }),
  },
  responses: { 200: { description: 'The counts', content: { 'application/json': { schema: UnauthorizedSummarySchema } } }, ...errorResponses(400, 401) },
});
const getOne = createRoute({
  method: 'get',
  path: '/unauthorized-clients/{clientId}',
  tags,
  summary: 'One refused client',
  request: { params: ClientIdParam },
  responses: { 200: { description: 'The row', content: { 'application/json': { schema: UnauthorizedClientSchema } } }, ...errorResponses(401, 404) },
});
const deleteOne = createRoute({
  method: 'delete',
  path: '/unauthorized-clients/{clientId}',
  tags,
  summary: 'Forget one refused client',
  request: { params: ClientIdParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404) },
});
const deleteAll = createRoute({
  method: 'delete',
  path: '/unauthorized-clients',
  tags,
  summary: 'Forget every refused client',
  responses: { 200: { description: 'How many rows were removed', content: { 'application/json': { schema: OkSchema } } }, ...errorResponses(401, 403) },
});

export const unauthorizedClientRoutes = newRouter()
  .openapi(list, async function listUnauthorized(c) {
    return c.json(await listUnauthorizedClients(c.var.db, c.req.valid('query')), 200);
  })
  // Before /{clientId}, which would otherwise take "summary" for a client id.
  .openapi(summary, async function summarizeUnauthorized(c) {
    return c.json(await summarizeUnauthorizedClients(c.var.db, c.req.valid('query').limit), 200);
  })
  .openapi(getOne, async function getUnauthorized(c) {
    const row = await getUnauthorizedClient(c.var.db, c.req.valid('param').clientId);
    if (!row) throw notFound('Unauthorized client');
    return c.json(row, 200);
  })
  .openapi(deleteOne, async function deleteUnauthorized(c) {
    const { clientId } = c.req.valid('param');
    if (!(await deleteUnauthorizedClient(c.var.db, clientId, auditFor(c.var.caller, 'delete', 'unauthorized-clients', clientId)))) {
      throw notFound('Unauthorized client');
    }
    return c.body(null, 204);
  })
  .openapi(deleteAll, async function deleteAllUnauthorized(c) {
    const deleted = await deleteAllUnauthorizedClients(c.var.db, auditFor(c.var.caller, 'delete-all', 'unauthorized-clients'));
    return c.json({ deleted }, 200);
  });
