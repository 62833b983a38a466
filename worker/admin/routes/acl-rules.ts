import { createRoute, z } from '@hono/zod-openapi';
import { deleteAclRule, getAclRule, insertAclRule, listAclRules, nextAclPosition, toAclRuleView, updateAclRule, type AclRuleValues } from '../../../db/queries/acl-rules';
import { explainAccess } from '../acl-test';
import { auditFor } from '../context';
import { errorResponses, notFound } from '../errors';
import { newRouter } from '../router';
import { idParam, pageParams, pageSchema, sortParams } from '../schemas';
import { ACL_RULE_SORT_KEYS, AclRuleInput, AclRuleSchema, AclTestInput, AclTestResultSchema } from '../contract/security';

const tags = ['ACL rules'];
const one = { content: { 'application/json': { schema: AclRuleSchema } } };
const body = { required: true, content: { 'application/json': { schema: AclRuleInput } } };

const list = createRoute({
  method: 'get',
  path: '/acl-rules',
  tags,
  summary: 'List topic ACL rules in evaluation order',
  request: {
    query: z.object({
      username: z.string().max(256).optional(),
      principalType: z.enum(['anonymous', 'user', 'all']).optional(),
      kind: z.enum(['topic', 'pattern']).optional(),
      topic: z.string().max(1024).optional().openapi({ description: 'Substring of the topic' }),
      ...sortParams(ACL_RULE_SORT_KEYS, 'position', 'asc'),
      ...pageParams,
    }),
  },
  responses: { 200: { description: 'A page of rules', content: { 'application/json': { schema: pageSchema(AclRuleSchema, 'AclRulePage') } } }, ...errorResponses(400, 401) },
});
const getOne = createRoute({
  method: 'get',
  path: '/acl-rules/{id}',
  tags,
  summary: 'One rule',
  request: { params: idParam },
  responses: { 200: { description: 'The rule', ...one }, ...errorResponses(401, 404) },
});
const create = createRoute({
  method: 'post',
  path: '/acl-rules',
  tags,
  summary: 'Create a rule',
  request: { body },
  responses: { 201: { description: 'Created', ...one }, ...errorResponses(400, 401, 403) },
});
const update = createRoute({
  method: 'put',
  path: '/acl-rules/{id}',
  tags,
  summary: 'Replace a rule',
  request: { params: idParam, body },
  responses: { 200: { description: 'Updated', ...one }, ...errorResponses(400, 401, 403, 404) },
});
const remove = createRoute({
  method: 'delete',
  path: '/acl-rules/{id}',
  tags,
  summary: 'Delete a rule',
  request: { params: idParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404) },
});
const test = createRoute({
  method: 'post',
  path: '/acl-rules/test',
  tags,
  summary: 'Would this client be allowed to publish or subscribe to this topic?',
  description: 'Evaluates the stored configuration exactly as the broker does (credential rules, ACL rules, default policy). Viewers may call it.',
  request: { body: { required: true, content: { 'application/json': { schema: AclTestInput } } } },
  responses: { 200: { description: 'The decision', content: { 'application/json': { schema: AclTestResultSchema } } }, ...errorResponses(400, 401) },
});

function toValues(input: z.infer<typeof AclRuleInput>, position: number): AclRuleValues {
  return {
    kind: input.kind,
    principalType: input.principalType,
    username: input.principalType === 'user' ? (input.username ?? null) : null,
    access: input.access,
    topic: input.topic,
    position,
    comment: input.comment ?? null,
  };
}

export const aclRuleRoutes = newRouter()
  .openapi(list, async function listAclRulesRoute(c) {
    return c.json(await listAclRules(c.var.db, c.req.valid('query')), 200);
  })
  .openapi(test, async function testAcl(c) {
    const input = c.req.valid('json');
    return c.json(await explainAccess(c.var.db, c.env, { ...input, username: input.username ?? null }), 200);
  })
  .openapi(getOne, async function getAclRuleRoute(c) {
    const row = await getAclRule(c.var.db, c.req.valid('param').id);
    if (!row) throw notFound('ACL rule');
    return c.json(toAclRuleView(row), 200);
  })
  .openapi(create, async function createAclRule(c) {
    const input = c.req.valid('json');
    const values = toValues(input, input.position ?? (await nextAclPosition(c.var.db)));
    const row = await insertAclRule(c.var.db, values, auditFor(c.var.caller, 'create', 'acl-rules', null, { ...values }));
    await c.var.configChanged();
    return c.json(toAclRuleView(row), 201);
  })
  .openapi(update, async function updateAclRuleRoute(c) {
    const { id } = c.req.valid('param');
    const input = c.req.valid('json');
    const existing = await getAclRule(c.var.db, id);
    if (!existing) throw notFound('ACL rule');
    const values = toValues(input, input.position ?? existing.position);
    const row = await updateAclRule(c.var.db, id, values, auditFor(c.var.caller, 'update', 'acl-rules', id, { ...values }));
    if (!row) throw notFound('ACL rule');
    await c.var.configChanged();
    return c.json(toAclRuleView(row), 200);
  })
  .openapi(remove, async function deleteAclRuleRoute(c) {
    const { id } = c.req.valid('param');
    if (!(await deleteAclRule(c.var.db, id, auditFor(c.var.caller, 'delete', 'acl-rules', id)))) throw notFound('ACL rule');
    await c.var.configChanged();
    return c.body(null, 204);
  });
