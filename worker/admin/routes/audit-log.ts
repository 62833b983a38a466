import { createRoute, z } from '@hono/zod-openapi';
import { listAuditLog } from '../../../db/queries/audit-log';
import { errorResponses } from '../errors';
import { newRouter } from '../router';
import { isoTime, pageParams, pageSchema, timeParam } from '../schemas';

const AuditEntrySchema = z
  .object({
    id: z.number().int(),
    at: isoTime,
    actor: z.string().openapi({ example: 'user:admin' }),
    action: z.string().openapi({ example: 'update' }),
    resource: z.string().openapi({ example: 'credentials' }),
    resourceId: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()).nullable(),
  })
  .openapi('AuditEntry');

const list = createRoute({
  method: 'get',
  path: '/audit-log',
  tags: ['Audit log'],
  summary: 'Every admin change, newest first',
  request: {
    query: z.object({
      actor: z.string().max(256).optional().openapi({ description: 'Substring of the actor (`user:<name>` or `api-key:<name>`)' }),
      resource: z.string().max(64).optional(),
      action: z.string().max(64).optional(),
      resourceId: z.string().max(512).optional(),
      from: timeParam.optional(),
      to: timeParam.optional(),
      ...pageParams,
    }),
  },
  responses: { 200: { description: 'A page of entries', content: { 'application/json': { schema: pageSchema(AuditEntrySchema, 'AuditLogPage') } } }, ...errorResponses(400, 401) },
});

export const auditLogRoutes = newRouter().openapi(list, async function listAuditLogRoute(c) {
  return c.json(await listAuditLog(c.var.db, c.req.valid('query')), 200);
});
