import { createRoute, z } from '@hono/zod-openapi';
import { parseAclFile } from '../../../auth/mosquitto/acl-file';
import { formatFileError, type MosquittoFileError } from '../../../auth/mosquitto/file-errors';
import { parsePasswdFile } from '../../../auth/mosquitto/passwd-file';
import { applyMosquittoImport } from '../../../db/queries/configuration';
import { auditFor } from '../context';
import { errorResponses, invalid } from '../errors';
import { newRouter } from '../router';

const Input = z
  .object({
    passwd: z.string().max(4 * 1024 * 1024).optional().openapi({ description: 'A mosquitto password_file: `username:hash` lines ($6$ or $7$ hashes, as mosquitto_passwd writes)' }),
    acl: z.string().max(4 * 1024 * 1024).optional().openapi({ description: 'A mosquitto acl_file (topic, user and pattern lines)' }),
    replaceAclRules: z.boolean().default(false).openapi({ description: 'Replace every stored ACL rule instead of adding the file after them' }),
  })
  .refine((v) => v.passwd !== undefined || v.acl !== undefined, { message: 'give passwd and/or acl', path: ['passwd'] })
  .openapi('MosquittoImport');

const Result = z
  .object({
    credentials: z.object({ created: z.number().int(), updated: z.number().int() }),
    aclRules: z.object({ created: z.number().int(), removed: z.number().int() }),
    aclDefaultPolicy: z
      .enum(['deny'])
      .nullable()
      .openapi({ description: 'Set to deny when an acl_file was imported: what it does not grant is denied, as in mosquitto (stored as the aclDefaultPolicy setting)' }),
  })
  .openapi('MosquittoImportResult');

const route = createRoute({
  method: 'post',
  path: '/import/mosquitto',
  tags: ['Import and export'],
  summary: 'Import a mosquitto password file and/or acl_file',
  description:
    'Each passwd user updates the password of the basic credentials with that username, or becomes a new basic credential. ACL rules are added after the stored ones, in file order (or replace them). Importing an acl_file also sets the aclDefaultPolicy setting to deny: as in mosquitto, whatever the file does not grant is denied, for every client, anonymous ones included. A file with any error is refused as a whole, with every error and its line number in the message.',
  request: { body: { required: true, content: { 'application/json': { schema: Input } } } },
  responses: { 200: { description: 'Imported', content: { 'application/json': { schema: Result } } }, ...errorResponses(400, 401, 403) },
});

/** A whole file is refused at its first problems, listed as `passwd:3: ...` so the operator can fix them all. */
function refuse(field: 'passwd' | 'acl', errors: MosquittoFileError[]): never {
  const shown = errors.slice(0, 10).map((e) => formatFileError(field, e));
  const more = errors.length > shown.length ? ` (and ${errors.length - shown.length} more)` : '';
  throw invalid(field, `${shown.join('; ')}${more}`);
}

export const mosquittoImportRoutes = newRouter().openapi(route, async function importMosquitto(c) {
  const input = c.req.valid('json');
  const passwd = input.passwd === undefined ? null : parsePasswdFile(input.passwd);
  if (passwd && passwd.errors.length > 0) refuse('passwd', passwd.errors);
  const acl = input.acl === undefined ? null : parseAclFile(input.acl);
  if (acl && acl.errors.length > 0) refuse('acl', acl.errors);
  const result = await applyMosquittoImport(
    c.var.db,
    {
      users: passwd?.entries.map((e) => ({ username: e.username, passwordHash: e.hash })) ?? [],
      rules:
        acl?.rules.map((r) => ({
          kind: r.kind,
          principalType: r.principal.type,
          username: r.principal.type === 'user' ? r.principal.username : null,
          access: r.access,
          topic: r.topic,
          comment: `acl_file line ${r.line}`,
        })) ?? [],
      replaceAclRules: input.replaceAclRules,
      aclFile: acl !== null,
    },
    auditFor(c.var.caller, 'import-mosquitto', 'configuration', null, {
      users: passwd?.entries.length ?? 0,
      aclRules: acl?.rules.length ?? 0,
      replaceAclRules: input.replaceAclRules,
    }),
  );
  await c.var.configChanged();
  return c.json(result, 200);
});
