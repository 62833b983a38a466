import { createRoute, z } from '@hono/zod-openapi';
import { blockIpProblem, isValidBlockValue } from '../../../auth/blocklist';
import { isPasswordHash } from '../../../auth/passwords/password-hash';
import { PROVIDER_TYPES } from '../../../auth/provider';
import { brokerSettingsSchema, providerSettingsSchemas, topicRulesSchema } from '../../../auth/settings';
import { readConfiguration, replaceConfiguration, type ConfigurationRows } from '../../../db/queries/configuration';
import { recordAudit } from '../audit';
import { isReadableDn, normalizeSerial } from '../crl';
import { auditFor } from '../context';
import { errorResponses, invalid } from '../errors';
import { newRouter } from '../router';
import { parseTime } from '../schemas';
import { aclRuleProblems } from '../contract/security';

export const CONFIG_FORMAT = 'edgemq-config';
export const CONFIG_FORMAT_VERSION = 1;

const id = z.string().min(1).max(128);
const time = z
  .string()
  .refine((s) => parseTime(s) !== null, 'must be an ISO-8601 date-time')
  .openapi({ format: 'date-time' });
const nullableText = (max: number) => z.string().max(max).nullable().default(null);
const hex = z.string().regex(/^[0-9a-fA-F]+$|^[A-Za-z0-9+/=]+$/, 'must be hex or base64');

const CredentialDoc = z
  .object({
    id,
    type: z.enum(['basic', 'x509', 'scram']),
    name: z.string().min(1).max(256),
    clientId: nullableText(256),
    username: nullableText(256),
    passwordHash: z.string().max(1024).nullable().default(null).openapi({ description: 'basic: `$7$` (PBKDF2-SHA512) or mosquitto `$6$` hash' }),
    cnPattern: nullableText(1024),
    cnIsRegex: z.boolean().default(false),
    scramMechanism: z.enum(['SCRAM-SHA-256', 'SCRAM-SHA-512']).nullable().default(null),
    scramSalt: hex.max(1024).nullable().default(null),
    scramIterations: z.number().int().min(1).max(10_000_000).nullable().default(null),
    scramStoredKey: hex.max(1024).nullable().default(null),
    scramServerKey: hex.max(1024).nullable().default(null),
    allowedClientIds: z.array(z.string().min(1).max(256)).max(1000).nullable().default(null),
    rules: topicRulesSchema.nullable().default(null),
    cnRules: z
      .array(z.object({ cnPattern: z.string().min(1).max(1024), publish: topicRulesSchema.shape.publish, subscribe: topicRulesSchema.shape.subscribe }))
      .max(1000)
      .nullable()
      .default(null),
    createdAt: time.optional(),
    updatedAt: time.optional(),
  })
  .superRefine((c, ctx) => {
    const need = (field: keyof typeof c, message: string) => {
      if (c[field] === null || c[field] === undefined) ctx.addIssue({ code: 'custom', path: [field], message });
    };
    if (c.type === 'basic') {
      if (!c.clientId && !c.username) ctx.addIssue({ code: 'custom', path: ['username'], message: 'a basic credential needs a clientId and/or a username' });
      if (c.passwordHash !== null && !isPasswordHash(c.passwordHash)) ctx.addIssue({ code: 'custom', path: ['passwordHash'], message: 'not a $7$ or $6$ password hash' });
    } else if (c.type === 'x509') {
      need('cnPattern', 'required for x509');
    } else {
      for (const f of ['username', 'scramMechanism', 'scramSalt', 'scramIterations', 'scramStoredKey', 'scramServerKey'] as const) need(f, 'required for scram');
    }
  })
  .openapi('ExportedCredential');

const AclRuleDoc = z
  .object({
    id,
    kind: z.enum(['topic', 'pattern']),
    principalType: z.enum(['anonymous', 'user', 'all']),
    username: nullableText(256),
    access: z.enum(['read', 'write', 'readwrite', 'deny']),
    topic: z.string().min(1).max(65_535),
    position: z.number().int(),
    comment: nullableText(1024),
    createdAt: time.optional(),
    updatedAt: time.optional(),
  })
  .superRefine((r, ctx) => {
    for (const p of aclRuleProblems(r)) ctx.addIssue({ code: 'custom', path: [p.field], message: p.message });
  })
  .openapi('ExportedAclRule');

const BlockDoc = z
  .object({
    id,
    kind: z.enum(['clientId', 'username', 'ip', 'cidr', 'clientIdRegex', 'usernameRegex']),
    value: z.string().min(1).max(256),
    ip: z.string().max(64).nullable().default(null).openapi({ description: 'clientId only: the IP address or CIDR range the block applies to; null, every IP' }),
    description: nullableText(512),
    source: z.enum(['manual', 'auto']).default('manual'),
    expiresAt: time.nullable().default(null),
    createdAt: time.optional(),
  })
  .superRefine((b, ctx) => {
    if (!isValidBlockValue(b.kind, b.value)) ctx.addIssue({ code: 'custom', path: ['value'], message: `not a valid ${b.kind}` });
    const ipProblem = blockIpProblem(b.kind, b.ip);
    if (ipProblem) ctx.addIssue({ code: 'custom', path: ['ip'], message: ipProblem });
  })
  .openapi('ExportedBlockedClient');

const RevocationDoc = z
  .object({
    id,
    serial: nullableText(128).refine((s) => s === null || normalizeSerial(s) === s, 'must be upper-case hex without separators or leading zeros'),
    issuerDn: nullableText(1024).refine((s) => s === null || isReadableDn(s), 'must be a distinguished name'),
    fingerprintSha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits')
      .nullable()
      .default(null),
    source: z.enum(['manual', 'crl']).default('manual'),
    crlId: nullableText(128),
    description: nullableText(512),
    createdAt: time.optional(),
  })
  .refine((r) => r.serial !== null || r.fingerprintSha256 !== null, { message: 'give a serial and/or a fingerprintSha256', path: ['serial'] })
  .openapi('ExportedCertificateRevocation');

const ProviderDoc = z
  .object({
    type: z.enum(PROVIDER_TYPES),
    enabled: z.boolean(),
    priority: z.number().int(),
    settings: z.record(z.string(), z.unknown()).openapi({ description: "The provider's settings, secrets included" }),
  })
  .superRefine((p, ctx) => {
    const parsed = providerSettingsSchemas[p.type].safeParse(p.settings);
    if (!parsed.success) for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', path: ['settings', ...issue.path.map(String)], message: issue.message });
  })
  .openapi('ExportedAuthProvider');

const unique = <T>(key: (item: T) => string, what: string) => (items: T[], ctx: z.RefinementCtx) => {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const k = key(item);
    if (seen.has(k)) ctx.addIssue({ code: 'custom', path: [i], message: `duplicate ${what}` });
    seen.add(k);
  });
};

const ConfigDocument = z
  .object({
    format: z.literal(CONFIG_FORMAT),
    version: z.literal(CONFIG_FORMAT_VERSION),
    exportedAt: time.optional(),
    credentials: z
      .array(CredentialDoc)
      .superRefine(unique((c) => c.id, 'id'))
      .superRefine(unique((c) => (c.type === 'scram' ? `${c.username}\u0000${c.scramMechanism}` : c.id), 'SCRAM username and mechanism'))
      .optional(),
    aclRules: z
      .array(AclRuleDoc)
      .superRefine(unique((r) => r.id, 'id'))
      .optional(),
    blockedClients: z
      .array(BlockDoc)
      .superRefine(unique((b) => b.id, 'id'))
      .superRefine(unique((b) => `${b.kind}\u0000${b.value}\u0000${b.ip ?? ''}`, 'kind, value and IP'))
      .optional(),
    certificateRevocations: z
      .array(RevocationDoc)
      .superRefine(unique((r) => r.id, 'id'))
      .optional(),
    authProviders: z
      .array(ProviderDoc)
      .superRefine(unique((p) => p.type, 'provider type'))
      .optional(),
    settings: brokerSettingsSchema.optional(),
  })
  .openapi('ConfigurationDocument', {
    description:
      'The whole security configuration. Credentials keep their password hashes and SCRAM keys, providers their secrets: keep exports safe. Admin accounts and API keys are never included.',
  });

const ImportResult = z
  .object({
    imported: z.object({
      credentials: z.number().int().nullable(),
      aclRules: z.number().int().nullable(),
      blockedClients: z.number().int().nullable(),
      certificateRevocations: z.number().int().nullable(),
      authProviders: z.number().int().nullable(),
      settings: z.boolean(),
    }),
  })
  .openapi('ImportResult', { description: 'Rows written per section; null for sections the document left out (they were not touched)' });

const tags = ['Import and export'];

const exportRoute = createRoute({
  method: 'get',
  path: '/export',
  tags,
  summary: 'Export the whole configuration as JSON (admin only: it holds hashes and secrets)',
  responses: { 200: { description: 'The configuration', content: { 'application/json': { schema: ConfigDocument } } }, ...errorResponses(401, 403) },
});
const importRoute = createRoute({
  method: 'post',
  path: '/import',
  tags,
  summary: 'Import a configuration document: each section it contains replaces the stored one, in one transaction',
  request: { body: { required: true, content: { 'application/json': { schema: ConfigDocument } } } },
  responses: { 200: { description: 'Imported', content: { 'application/json': { schema: ImportResult } } }, ...errorResponses(400, 401, 403) },
});

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
const date = (s: string | undefined | null, fallback: Date) => (s ? parseTime(s)! : fallback);

export const configurationRoutes = newRouter()
  .openapi(exportRoute, async function exportConfiguration(c) {
    const rows = await readConfiguration(c.var.db);
    const doc: z.input<typeof ConfigDocument> = {
      format: CONFIG_FORMAT,
      version: CONFIG_FORMAT_VERSION,
      exportedAt: new Date().toISOString(),
      credentials: rows.credentials.map((r) => ({ ...r, createdAt: iso(r.createdAt)!, updatedAt: iso(r.updatedAt)! })),
      aclRules: rows.aclRules.map((r) => ({ ...r, createdAt: iso(r.createdAt)!, updatedAt: iso(r.updatedAt)! })),
      blockedClients: rows.blockedClients.map((r) => ({ ...r, expiresAt: iso(r.expiresAt), createdAt: iso(r.createdAt)! })),
      certificateRevocations: rows.certificateRevocations.map((r) => ({ ...r, createdAt: iso(r.createdAt)! })),
      authProviders: rows.authProviders.map((p) => ({ type: p.type, enabled: p.enabled, priority: p.priority, settings: p.config })),
      settings: brokerSettingsSchema.parse(rows.settings),
    };
    // Reading secrets out is worth a trace, though it changes nothing.
    await recordAudit(c, 'export', 'configuration');
    return c.json(doc as z.output<typeof ConfigDocument>, 200);
  })
  .openapi(importRoute, async function importConfiguration(c) {
    const doc = c.req.valid('json');
    const now = new Date();
    const rows: ConfigurationRows = {
      credentials: doc.credentials?.map((r) => ({ ...r, createdAt: date(r.createdAt, now), updatedAt: date(r.updatedAt, now) })),
      aclRules: doc.aclRules?.map((r) => ({ ...r, username: r.principalType === 'user' ? r.username : null, createdAt: date(r.createdAt, now), updatedAt: date(r.updatedAt, now) })),
      blockedClients: doc.blockedClients?.map((r) => ({ ...r, expiresAt: r.expiresAt ? parseTime(r.expiresAt) : null, createdAt: date(r.createdAt, now) })),
      certificateRevocations: doc.certificateRevocations?.map((r) => ({ ...r, createdAt: date(r.createdAt, now) })),
      authProviders: doc.authProviders?.map((p) => ({
        type: p.type,
        enabled: p.enabled,
        priority: p.priority,
        config: providerSettingsSchemas[p.type].parse(p.settings) as Record<string, unknown>,
        updatedAt: now,
      })),
      settings: doc.settings,
    };
    if (Object.values(rows).every((v) => v === undefined)) throw invalid('body', 'the document has no section to import');
    const imported = {
      credentials: rows.credentials?.length ?? null,
      aclRules: rows.aclRules?.length ?? null,
      blockedClients: rows.blockedClients?.length ?? null,
      certificateRevocations: rows.certificateRevocations?.length ?? null,
      authProviders: rows.authProviders?.length ?? null,
      settings: rows.settings !== undefined,
    };
    await replaceConfiguration(c.var.db, rows, auditFor(c.var.caller, 'import', 'configuration', null, imported), now);
    await c.var.configChanged();
    return c.json({ imported }, 200);
  });

