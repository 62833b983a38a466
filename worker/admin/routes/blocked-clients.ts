import { createRoute, z } from '@hono/zod-openapi';
import { blockIpProblem, isValidBlockValue } from '../../../auth/blocklist';
import {
  deleteBlockedClient,
  findBlockId,
  getBlockedClient,
  insertBlockedClient,
  listBlockedClients,
  toBlockView,
  updateBlockedClient,
  type BlockValues,
} from '../../../db/queries/blocked-clients';
import { auditFor } from '../context';
import { conflict, errorResponses, notFound } from '../errors';
import { newRouter } from '../router';
import { idParam, pageParams, pageSchema, parseTime, sortParams } from '../schemas';
import { BLOCK_KINDS, BLOCKED_CLIENT_SORT_KEYS, BlockedClientSchema } from '../contract/security';

const BlockInput = z
  .object({
    kind: z.enum(BLOCK_KINDS),
    value: z.string().trim().min(1).max(256),
    ip: z
      .string()
      .trim()
      .max(64)
      .nullable()
      .optional()
      .openapi({
        description: 'clientId only: block the client id from this IP address or CIDR range (an IPv6 /64: `2001:db8:1:2::/64`) alone; null or absent blocks it from every IP',
        example: '198.51.100.66',
      }),
    description: z.string().max(512).nullable().optional(),
    expiresAt: z
      .string()
      .nullable()
      .optional()
      .refine((s) => s === null || s === undefined || parseTime(s) !== null, 'must be an ISO-8601 date-time or null')
      .openapi({ format: 'date-time', description: 'When the block stops applying; null or absent blocks until removed' }),
  })
  .superRefine((v, ctx) => {
    if (!isValidBlockValue(v.kind, v.value)) {
      const what = v.kind === 'ip' ? 'an IP address' : v.kind === 'cidr' ? 'a CIDR range' : v.kind.endsWith('Regex') ? 'a valid regular expression' : 'a value';
      ctx.addIssue({ code: 'custom', path: ['value'], message: `must be ${what}` });
    }
    const ipProblem = blockIpProblem(v.kind, v.ip);
    if (ipProblem) ctx.addIssue({ code: 'custom', path: ['ip'], message: ipProblem });
  })
  .openapi('BlockedClientInput');

const tags = ['Blocked clients'];
const one = { content: { 'application/json': { schema: BlockedClientSchema } } };
const body = { required: true, content: { 'application/json': { schema: BlockInput } } };

const list = createRoute({
  method: 'get',
  path: '/blocked-clients',
  tags,
  summary: 'List blocked clients and temporary bans',
  request: {
    query: z.object({
      kind: z.enum(BLOCK_KINDS).optional(),
      value: z.string().max(256).optional().openapi({ description: 'Substring of the value' }),
      source: z.enum(['manual', 'auto']).optional(),
      status: z.enum(['active', 'expired']).optional(),
      ...sortParams(BLOCKED_CLIENT_SORT_KEYS, 'createdAt', 'desc'),
      ...pageParams,
    }),
  },
  responses: { 200: { description: 'A page of entries', content: { 'application/json': { schema: pageSchema(BlockedClientSchema, 'BlockedClientPage') } } }, ...errorResponses(400, 401) },
});
const getOne = createRoute({
  method: 'get',
  path: '/blocked-clients/{id}',
  tags,
  summary: 'One entry',
  request: { params: idParam },
  responses: { 200: { description: 'The entry', ...one }, ...errorResponses(401, 404) },
});
const create = createRoute({
  method: 'post',
  path: '/blocked-clients',
  tags,
  summary: 'Block a client id (everywhere or from one IP), username, IP, CIDR range or id/username pattern',
  request: { body },
  responses: { 201: { description: 'Created', ...one }, ...errorResponses(400, 401, 403, 409) },
});
const update = createRoute({
  method: 'put',
  path: '/blocked-clients/{id}',
  tags,
  summary: 'Replace an entry (an edited automatic ban becomes manual)',
  request: { params: idParam, body },
  responses: { 200: { description: 'Updated', ...one }, ...errorResponses(400, 401, 403, 404, 409) },
});
const remove = createRoute({
  method: 'delete',
  path: '/blocked-clients/{id}',
  tags,
  summary: 'Unblock',
  request: { params: idParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404) },
});

function toValues(input: z.infer<typeof BlockInput>): BlockValues {
  return { kind: input.kind, value: input.value, ip: input.ip || null, description: input.description ?? null, expiresAt: input.expiresAt ? parseTime(input.expiresAt) : null };
}

function detail(v: BlockValues): Record<string, unknown> {
  return { kind: v.kind, value: v.value, ip: v.ip, expiresAt: v.expiresAt?.toISOString() ?? null };
}

/** What is already blocked, in words for a 409. */
function blocked(v: BlockValues): string {
  return v.ip === null ? `This ${v.kind} is already blocked` : `This ${v.kind} is already blocked from ${v.ip}`;
}

export const blockedClientRoutes = newRouter()
  .openapi(list, async function listBlocked(c) {
    return c.json(await listBlockedClients(c.var.db, c.req.valid('query')), 200);
  })
  .openapi(getOne, async function getBlocked(c) {
    const row = await getBlockedClient(c.var.db, c.req.valid('param').id);
    if (!row) throw notFound('Blocked client');
    return c.json(toBlockView(row, new Date()), 200);
  })
  .openapi(create, async function createBlocked(c) {
    const values = toValues(c.req.valid('json'));
    if (await findBlockId(c.var.db, values.kind, values.value, values.ip)) throw conflict(blocked(values), 'value');
    const row = await insertBlockedClient(c.var.db, values, auditFor(c.var.caller, 'create', 'blocked-clients', null, detail(values)));
    await c.var.configChanged();
    return c.json(toBlockView(row, new Date()), 201);
  })
  .openapi(update, async function updateBlocked(c) {
    const { id } = c.req.valid('param');
    const values = toValues(c.req.valid('json'));
    if (!(await getBlockedClient(c.var.db, id))) throw notFound('Blocked client');
    if (await findBlockId(c.var.db, values.kind, values.value, values.ip, id)) throw conflict(`${blocked(values)} by another entry`, 'value');
    const row = await updateBlockedClient(c.var.db, id, values, auditFor(c.var.caller, 'update', 'blocked-clients', id, detail(values)));
    if (!row) throw notFound('Blocked client');
    await c.var.configChanged();
    return c.json(toBlockView(row, new Date()), 200);
  })
  .openapi(remove, async function deleteBlocked(c) {
    const { id } = c.req.valid('param');
    if (!(await deleteBlockedClient(c.var.db, id, auditFor(c.var.caller, 'delete', 'blocked-clients', id)))) throw notFound('Blocked client');
    await c.var.configChanged();
    return c.body(null, 204);
  });
