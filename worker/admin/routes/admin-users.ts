import { createRoute, z } from '@hono/zod-openapi';
import { hashPassword } from '../../../auth/passwords/password-hash';
import { countAdmins, deleteAdminUser, findAdminUserByName, getAdminUser, insertAdminUser, listAdminUsers, toAdminUserView, updateAdminUser } from '../../../db/queries/admin-users';
import { MIN_ADMIN_PASSWORD_LENGTH } from '../bootstrap';
import { auditFor } from '../context';
import { conflict, errorResponses, notFound } from '../errors';
import { newRouter } from '../router';
import { idParam, isoTime } from '../schemas';

const AdminUserSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    role: z.enum(['admin', 'viewer']),
    createdAt: isoTime,
    updatedAt: isoTime,
    lastLoginAt: isoTime.nullable(),
  })
  .openapi('AdminUser');

const password = z.string().min(MIN_ADMIN_PASSWORD_LENGTH).max(1024);

const CreateSchema = z
  .object({
    username: z
      .string()
      .min(1)
      .max(128)
      .regex(/^[^\s:]+$/, 'must not contain spaces or colons'),
    password,
    role: z.enum(['admin', 'viewer']),
  })
  .openapi('AdminUserCreate');

const UpdateSchema = z
  .object({ password: password.optional(), role: z.enum(['admin', 'viewer']).optional() })
  .refine((v) => v.password !== undefined || v.role !== undefined, { message: 'give password and/or role', path: ['role'] })
  .openapi('AdminUserUpdate');

const tags = ['Admin users'];

const list = createRoute({
  method: 'get',
  path: '/admin-users',
  tags,
  summary: 'List admin and viewer accounts',
  responses: { 200: { description: 'Accounts', content: { 'application/json': { schema: z.object({ data: z.array(AdminUserSchema) }) } } }, ...errorResponses(401) },
});
const create = createRoute({
  method: 'post',
  path: '/admin-users',
  tags,
  summary: 'Create an account',
  request: { body: { required: true, content: { 'application/json': { schema: CreateSchema } } } },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: AdminUserSchema } } }, ...errorResponses(400, 401, 403, 409) },
});
const update = createRoute({
  method: 'put',
  path: '/admin-users/{id}',
  tags,
  summary: "Change an account's password and/or role",
  request: { params: idParam, body: { required: true, content: { 'application/json': { schema: UpdateSchema } } } },
  responses: { 200: { description: 'Updated', content: { 'application/json': { schema: AdminUserSchema } } }, ...errorResponses(400, 401, 403, 404, 409) },
});
const remove = createRoute({
  method: 'delete',
  path: '/admin-users/{id}',
  tags,
  summary: 'Delete an account (its tokens stop working at once)',
  request: { params: idParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404, 409) },
});

export const adminUserRoutes = newRouter()
  .openapi(list, async function listAdminUsersRoute(c) {
    return c.json({ data: await listAdminUsers(c.var.db) }, 200);
  })
  .openapi(create, async function createAdminUser(c) {
    const body = c.req.valid('json');
    if (await findAdminUserByName(c.var.db, body.username)) throw conflict('An account with this username exists', 'username');
    const row = await insertAdminUser(
      c.var.db,
      { username: body.username, role: body.role, passwordHash: await hashPassword(body.password) },
      auditFor(c.var.caller, 'create', 'admin-users', null, { username: body.username, role: body.role }),
    );
    return c.json(toAdminUserView(row), 201);
  })
  .openapi(update, async function updateAdminUserRoute(c) {
    const { id } = c.req.valid('param');
    const body = c.req.valid('json');
    const existing = await getAdminUser(c.var.db, id);
    if (!existing) throw notFound('Account');
    if (existing.role === 'admin' && body.role === 'viewer' && (await countAdmins(c.var.db)) <= 1) {
      throw conflict('The last admin cannot become a viewer', 'role');
    }
    const row = await updateAdminUser(
      c.var.db,
      id,
      { role: body.role, passwordHash: body.password === undefined ? undefined : await hashPassword(body.password) },
      auditFor(c.var.caller, 'update', 'admin-users', id, { username: existing.username, role: body.role ?? existing.role, passwordChanged: body.password !== undefined }),
    );
    if (!row) throw notFound('Account');
    return c.json(toAdminUserView(row), 200);
  })
  .openapi(remove, async function deleteAdminUserRoute(c) {
    const { id } = c.req.valid('param');
    const existing = await getAdminUser(c.var.db, id);
    if (!existing) throw notFound('Account');
    if (existing.role === 'admin' && (await countAdmins(c.var.db)) <= 1) throw conflict('The last admin cannot be deleted');
    if (!(await deleteAdminUser(c.var.db, id, auditFor(c.var.caller, 'delete', 'admin-users', id, { username: existing.username })))) throw notFound('Account');
    return c.body(null, 204);
  });
