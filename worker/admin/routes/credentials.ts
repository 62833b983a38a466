import { createRoute, z } from '@hono/zod-openapi';
import { hashPassword } from '../../../auth/passwords/password-hash';
import {
  BLANK_CREDENTIAL_FIELDS,
  deleteCredential,
  findScramCredentialId,
  getCredential,
  insertCredential,
  listCredentials,
  toCredentialView,
  updateCredential,
  type CredentialRow,
  type CredentialValues,
} from '../../../db/queries/credentials';
import { auditFor } from '../context';
import { conflict, errorResponses, invalid, notFound } from '../errors';
import { deriveScramKeys } from '../scram-keys';
import { newRouter } from '../router';
import { idParam, pageParams, pageSchema, sortParams } from '../schemas';
import { CREDENTIAL_SORT_KEYS, CredentialInput, CredentialSchema } from '../contract/security';

type Input = z.infer<typeof CredentialInput>;

const ListQuery = z.object({
  type: z.enum(['basic', 'x509', 'scram']).optional(),
  clientId: z.string().max(256).optional().openapi({ description: 'Substring of the client id' }),
  username: z.string().max(256).optional().openapi({ description: 'Substring of the username' }),
  cn: z.string().max(256).optional().openapi({ description: 'Substring of the CN pattern or of a per-CN rule' }),
  search: z.string().max(256).optional().openapi({ description: 'Substring of the name, username, client id or CN pattern, case-insensitive' }),
  ...sortParams(CREDENTIAL_SORT_KEYS, 'name', 'asc'),
  ...pageParams,
});

const tags = ['Credentials'];
const body = { required: true, content: { 'application/json': { schema: CredentialInput } } };
const one = { content: { 'application/json': { schema: CredentialSchema } } };

const list = createRoute({
  method: 'get',
  path: '/credentials',
  tags,
  summary: 'List credentials (secrets only as hasPassword / hasScramKeys)',
  request: { query: ListQuery },
  responses: { 200: { description: 'A page of credentials', content: { 'application/json': { schema: pageSchema(CredentialSchema, 'CredentialPage') } } }, ...errorResponses(400, 401) },
});
const getOne = createRoute({
  method: 'get',
  path: '/credentials/{id}',
  tags,
  summary: 'One credential',
  request: { params: idParam },
  responses: { 200: { description: 'The credential', ...one }, ...errorResponses(401, 404) },
});
const create = createRoute({
  method: 'post',
  path: '/credentials',
  tags,
  summary: 'Create a basic, X.509 or SCRAM credential',
  request: { body },
  responses: { 201: { description: 'Created', ...one }, ...errorResponses(400, 401, 403, 409) },
});
const update = createRoute({
  method: 'put',
  path: '/credentials/{id}',
  tags,
  summary: 'Replace a credential (its type cannot change; an omitted password keeps the current one)',
  request: { params: idParam, body },
  responses: { 200: { description: 'Updated', ...one }, ...errorResponses(400, 401, 403, 404, 409) },
});
const remove = createRoute({
  method: 'delete',
  path: '/credentials/{id}',
  tags,
  summary: 'Delete a credential',
  request: { params: idParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404) },
});

/** Turns API input into stored values: passwords become hashes or SCRAM keys here and go no further. */
async function toValues(input: Input, existing: CredentialRow | null): Promise<CredentialValues> {
  const base = { ...BLANK_CREDENTIAL_FIELDS, type: input.type, name: input.name, allowedClientIds: input.allowedClientIds ?? null };
  switch (input.type) {
    case 'basic': {
      let passwordHash = existing?.passwordHash ?? null;
      if (input.password === null) passwordHash = null;
      else if (input.password !== undefined) passwordHash = await hashPassword(input.password);
      return { ...base, clientId: input.clientId ?? null, username: input.username ?? null, passwordHash, rules: input.rules ?? null };
    }
    case 'x509':
      return { ...base, cnPattern: input.cnPattern, cnIsRegex: input.cnIsRegex, cnRules: input.cnRules ?? null };
    case 'scram': {
      const values = { ...base, username: input.username, rules: input.rules ?? null, scramMechanism: input.scramMechanism };
      if (input.password !== undefined) {
        return { ...values, ...(await deriveScramKeys(input.password, input.scramMechanism, input.scramIterations)) };
      }
      if (!existing || existing.scramMechanism !== input.scramMechanism || existing.scramSalt === null) {
        throw invalid('password', existing ? 'a new password is needed to derive keys for another scramMechanismSchema' : 'required for a new SCRAM credential');
      }
      if (input.scramIterations !== undefined && input.scramIterations !== existing.scramIterations) {
        throw invalid('password', 'a new password is needed to derive keys with other iterations');
      }
      return {
        ...values,
        scramSalt: existing.scramSalt,
        scramIterations: existing.scramIterations,
        scramStoredKey: existing.scramStoredKey,
        scramServerKey: existing.scramServerKey,
      };
    }
  }
}

function auditDetail(v: CredentialValues): Record<string, unknown> {
  return { type: v.type, name: v.name, clientId: v.clientId, username: v.username, cnPattern: v.cnPattern };
}

export const credentialRoutes = newRouter()
  .openapi(list, async function listCredentialsRoute(c) {
    return c.json(await listCredentials(c.var.db, c.req.valid('query')), 200);
  })
  .openapi(getOne, async function getCredentialRoute(c) {
    const row = await getCredential(c.var.db, c.req.valid('param').id);
    if (!row) throw notFound('Credential');
    return c.json(toCredentialView(row), 200);
  })
  .openapi(create, async function createCredential(c) {
    const input = c.req.valid('json');
    if (input.type === 'scram' && (await findScramCredentialId(c.var.db, input.username, input.scramMechanism))) {
      throw conflict(`A ${input.scramMechanism} credential for this username exists`, 'username');
    }
    const values = await toValues(input, null);
    const row = await insertCredential(c.var.db, values, auditFor(c.var.caller, 'create', 'credentials', null, auditDetail(values)));
    await c.var.configChanged();
    return c.json(toCredentialView(row), 201);
  })
  .openapi(update, async function updateCredentialRoute(c) {
    const { id } = c.req.valid('param');
    const input = c.req.valid('json');
    const existing = await getCredential(c.var.db, id);
    if (!existing) throw notFound('Credential');
    if (existing.type !== input.type) throw invalid('type', `is ${existing.type} and cannot change; create a new credential instead`);
    if (input.type === 'scram' && (await findScramCredentialId(c.var.db, input.username, input.scramMechanism, id))) {
      throw conflict(`A ${input.scramMechanism} credential for this username exists`, 'username');
    }
    const values = await toValues(input, existing);
    const row = await updateCredential(c.var.db, id, values, auditFor(c.var.caller, 'update', 'credentials', id, auditDetail(values)));
    if (!row) throw notFound('Credential');
    await c.var.configChanged();
    return c.json(toCredentialView(row), 200);
  })
  .openapi(remove, async function deleteCredentialRoute(c) {
    const { id } = c.req.valid('param');
    if (!(await deleteCredential(c.var.db, id, auditFor(c.var.caller, 'delete', 'credentials', id)))) throw notFound('Credential');
    await c.var.configChanged();
    return c.body(null, 204);
  });
