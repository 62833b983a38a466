import { z } from '@hono/zod-openapi';
import { PROVIDER_TYPES } from '../../../auth/provider';
import { SCRAM_MECHANISMS } from '../../../auth/scram/scram-crypto';
import { topicRulesSchema } from '../../../auth/settings';
import { validateTopicFilter } from '../../../protocol/topics/validate';
import { isoTime } from '../schemas';

/**
 * What the admin API returns about the security configuration kept in D1
 * (credentials, ACL rules, blocks, providers), the Unauthorized Clients log,
 * the refusal reasons and the caller's own token. The routes document and
 * validate with these schemas; the dashboard imports their types.
 */

export const UnauthorizedClientSchema = z
  .object({
    clientId: z.string(),
    username: z.string().nullable(),
    passwordProvided: z.boolean(),
    tlsUsed: z.boolean(),
    ip: z.string(),
    reasonCode: z.string().openapi({ description: 'Key into GET /reasons', example: 'PASSWORD_DOES_NOT_MATCH' }),
    reason: z.string(),
    lastUpdate: isoTime,
    firstSeen: isoTime,
    attempts: z.number().int(),
  })
  .openapi('UnauthorizedClient');

/** What GET /unauthorized-clients/summary counts: attempts and clients per IP or per reason, largest first. */
const RefusalCount = {
  attempts: z.number().int().openapi({ description: 'Refused attempts, summed over the rows' }),
  clients: z.number().int().openapi({ description: 'Rows (client ids)' }),
};
export const UnauthorizedSummarySchema = z
  .object({
    clients: z.number().int().openapi({ description: 'Rows in the log' }),
    attempts: z.number().int().openapi({ description: 'Refused attempts over every row' }),
    byIp: z.array(z.object({ ip: z.string(), ...RefusalCount })),
    byReason: z.array(z.object({ reasonCode: z.string(), ...RefusalCount })),
  })
  .openapi('UnauthorizedClientSummary');

export const BLOCK_KINDS = ['clientId', 'username', 'ip', 'cidr', 'clientIdRegex', 'usernameRegex'] as const;

export const BlockedClientSchema = z
  .object({
    id: z.string(),
    kind: z.enum(BLOCK_KINDS),
    value: z.string(),
    ip: z.string().nullable().openapi({
      description:
        'clientId entries only: the IP address or CIDR range the block applies to; null blocks the client id from every IP. Automatic bans of a client id always name where its failures came from: the IPv4 address, or the IPv6 /64 (`2001:db8:1:2::/64`)',
      example: '198.51.100.66',
    }),
    description: z.string().nullable(),
    source: z.enum(['manual', 'auto']).openapi({ description: '`auto` for temporary bans after repeated failures' }),
    expiresAt: isoTime.nullable(),
    createdAt: isoTime,
    status: z.enum(['active', 'expired']),
  })
  .openapi('BlockedClient');

export const AclRuleSchema = z
  .object({
    id: z.string(),
    kind: z.enum(['topic', 'pattern']),
    principalType: z.enum(['anonymous', 'user', 'all']),
    username: z.string().nullable(),
    access: z.enum(['read', 'write', 'readwrite', 'deny']),
    topic: z.string(),
    position: z.number().int(),
    comment: z.string().nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .openapi('AclRule');

export const AclTestInput = z
  .object({
    clientId: z.string().min(1).max(65_535),
    username: z.string().max(65_535).nullable().optional(),
    action: z.enum(['publish', 'subscribe']),
    topic: z.string().min(1).max(65_535),
  })
  .openapi('AclTest');

export const AclTestResultSchema = z
  .object({
    allowed: z.boolean(),
    decidedBy: z
      .object({
        source: z.enum(['sys', 'broad-filter', 'acl-rule', 'identity-rules', 'default-policy']),
        ruleId: z.string().optional().openapi({ description: 'acl-rule: the rule id; identity-rules: the credential id' }),
        pattern: z.string().optional().openapi({ description: 'The rule topic or credential pattern as written' }),
        reason: z.string(),
      })
      .openapi({ description: 'What decided: $SYS protection, the broad-filter guard, an ACL rule, a credential rule set, or the default policy' }),
  })
  .openapi('AclTestResult');

export const isRegex = (s: string) => {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
};

export const TopicRulesSchema = topicRulesSchema.openapi('TopicRulesSchema', {
  description: 'Regular expressions: a publish is allowed when its topic matches one of `publish`, a subscription when its filter matches one of `subscribe`',
});
export const CnRuleSchema = z
  .object({
    cnPattern: z.string().min(1).max(1024).refine(isRegex, 'must be a valid regular expression'),
    publish: topicRulesSchema.shape.publish,
    subscribe: topicRulesSchema.shape.subscribe,
  })
  .openapi('CnRuleSchema');

export const scramMechanismSchema = z.enum(SCRAM_MECHANISMS);

export const CredentialSchema = z
  .object({
    id: z.string(),
    type: z.enum(['basic', 'x509', 'scram']),
    name: z.string(),
    clientId: z.string().nullable(),
    username: z.string().nullable(),
    hasPassword: z.boolean(),
    cnPattern: z.string().nullable(),
    cnIsRegex: z.boolean(),
    scramMechanism: scramMechanismSchema.nullable(),
    scramIterations: z.number().int().nullable(),
    hasScramKeys: z.boolean(),
    allowedClientIds: z.array(z.string()).nullable(),
    rules: TopicRulesSchema.nullable(),
    cnRules: z.array(CnRuleSchema).nullable(),
    createdAt: isoTime,
    updatedAt: isoTime,
  })
  .openapi('Credential');

export const ProviderTypeSchema = z.enum(PROVIDER_TYPES);

export const AuthProviderSchema = z
  .object({
    type: ProviderTypeSchema,
    enabled: z.boolean(),
    priority: z.number().int().openapi({ description: 'Providers are tried in ascending priority' }),
    settings: z.record(z.string(), z.unknown()).openapi({ description: "The provider's settings, without secrets" }),
    secretsSet: z.array(z.string()).openapi({ description: 'Secret settings that have a value (e.g. `hmacSecret` for jwt)' }),
    valid: z.boolean().openapi({ description: 'False when stored settings no longer validate; the broker keeps such a provider disabled' }),
    updatedAt: isoTime.nullable(),
  })
  .openapi('AuthProvider');

export const ReasonSchema = z
  .object({
    title: z.string(),
    mqtt5: z.number().int().openapi({ description: 'MQTT 5 CONNACK reason code' }),
    mqtt3: z.number().int().openapi({ description: 'MQTT 3.1.1 CONNACK return code' }),
    explanation: z.string(),
    solution: z.string(),
  })
  .openapi('RefusalReason');

export const RoleSchema = z.enum(['admin', 'viewer']);

export const TokenSchema = z
  .object({
    token: z.string().openapi({ description: 'HS256 JWT; send as `Authorization: Bearer <token>`' }),
    expiresAt: isoTime,
    role: RoleSchema,
    username: z.string(),
  })
  .openapi('Token');

export const MeSchema = z
  .object({
    kind: z.enum(['user', 'api-key']),
    id: z.string(),
    username: z.string().openapi({ description: 'The user name, or the API key name' }),
    role: RoleSchema,
  })
  .openapi('Me');

/** ACL topics may be long and deep; the broker's own topic limits apply to clients, not to rules. */
const RULE_TOPIC_LIMITS = { maxLength: 65_535, maxLevels: 1024 };

/** mosquitto acl_file semantics, checked for API input and for imports alike. */
export function aclRuleProblems(v: { kind: string; principalType: string; username?: string | null; topic: string }): Array<{ field: string; message: string }> {
  const problems: Array<{ field: string; message: string }> = [];
  if (v.kind === 'pattern' && v.principalType !== 'all') problems.push({ field: 'principalType', message: 'pattern rules apply to all clients' });
  if (v.kind === 'topic' && v.principalType === 'all') problems.push({ field: 'principalType', message: 'topic rules are for anonymous clients or one user' });
  if (v.principalType === 'user' && !v.username) problems.push({ field: 'username', message: 'required for a user rule' });
  if (v.principalType !== 'user' && v.username) problems.push({ field: 'username', message: 'only user rules name a username' });
  // %c and %u stand for one whole level once substituted.
  const filter = v.kind === 'pattern' ? v.topic.replace(/%[cu]/g, 'x') : v.topic;
  const problem = validateTopicFilter(filter, RULE_TOPIC_LIMITS);
  if (problem) problems.push({ field: 'topic', message: `not a valid topic filter: ${problem}` });
  return problems;
}

export const AclRuleInput = z
  .object({
    kind: z.enum(['topic', 'pattern']).openapi({ description: '`topic` lines (anonymous or a user section) or `pattern` lines (everyone, with %c / %u substitution)' }),
    principalType: z.enum(['anonymous', 'user', 'all']),
    username: z.string().min(1).max(256).nullable().optional(),
    access: z.enum(['read', 'write', 'readwrite', 'deny']),
    topic: z.string().min(1).max(65_535),
    position: z.number().int().min(-1_000_000_000).max(1_000_000_000).optional().openapi({ description: 'Evaluation order, ascending; new rules go last by default' }),
    comment: z.string().max(1024).nullable().optional(),
  })
  .superRefine((v, ctx) => {
    for (const p of aclRuleProblems(v)) ctx.addIssue({ code: 'custom', path: [p.field], message: p.message });
  })
  .openapi('AclRuleInput');

const shortText = z.string().min(1).max(256);

const common = {
  name: z.string().trim().min(1).max(256),
  allowedClientIds: z.array(shortText).max(1000).nullable().optional().openapi({ description: 'Client ids this credential may use; null or absent means any' }),
};

const BasicInput = z
  .object({
    type: z.literal('basic'),
    ...common,
    clientId: shortText.nullable().optional(),
    username: shortText.nullable().optional(),
    password: z.string().min(1).max(1024).nullable().optional().openapi({ description: 'Write-only. Stored as a PBKDF2 hash. Omit to keep the current one, null to require none.' }),
    rules: TopicRulesSchema.nullable().optional(),
  })
  .refine((v) => Boolean(v.clientId) || Boolean(v.username), { message: 'give a clientId and/or a username', path: ['username'] })
  .openapi('BasicCredentialInput');

const X509Input = z
  .object({
    type: z.literal('x509'),
    ...common,
    cnPattern: z.string().min(1).max(1024),
    cnIsRegex: z.boolean().default(false),
    cnRules: z.array(CnRuleSchema).max(1000).nullable().optional(),
  })
  .refine((v) => !v.cnIsRegex || isRegex(v.cnPattern), { message: 'must be a valid regular expression', path: ['cnPattern'] })
  .openapi('X509CredentialInput');

const ScramInput = z
  .object({
    type: z.literal('scram'),
    ...common,
    username: shortText,
    password: z.string().min(1).max(1024).optional().openapi({ description: 'Write-only. Only the derived SCRAM keys are stored. Required on create and when the scramMechanismSchema changes.' }),
    scramMechanism: scramMechanismSchema.default('SCRAM-SHA-256'),
    scramIterations: z.number().int().min(4096).max(100_000).optional().openapi({ description: 'PBKDF2 iterations for the derived keys' }),
    rules: TopicRulesSchema.nullable().optional(),
  })
  .openapi('ScramCredentialInput');

export const CredentialInput = z.discriminatedUnion('type', [BasicInput, X509Input, ScramInput]).openapi('CredentialInput');

/**
 * What each D1 list sorts by (its `sort` parameter): the columns of its view,
 * computed ones included. The queries in db/queries map every key to a
 * column or an SQL expression.
 */
export const UNAUTHORIZED_SORT_KEYS = ['clientId', 'username', 'passwordProvided', 'tlsUsed', 'ip', 'reasonCode', 'reason', 'lastUpdate', 'firstSeen', 'attempts'] as const;
export const BLOCKED_CLIENT_SORT_KEYS = ['kind', 'value', 'status', 'source', 'expiresAt', 'description', 'createdAt'] as const;
export const CREDENTIAL_SORT_KEYS = ['name', 'type', 'username', 'clientId', 'cnPattern', 'hasPassword', 'updatedAt'] as const;
export const ACL_RULE_SORT_KEYS = ['position', 'kind', 'principal', 'access', 'topic', 'comment'] as const;

export type UnauthorizedSort = (typeof UNAUTHORIZED_SORT_KEYS)[number];
export type BlockedClientSort = (typeof BLOCKED_CLIENT_SORT_KEYS)[number];
export type CredentialSort = (typeof CREDENTIAL_SORT_KEYS)[number];
export type AclRuleSort = (typeof ACL_RULE_SORT_KEYS)[number];

export type UnauthorizedClient = z.infer<typeof UnauthorizedClientSchema>;
export type UnauthorizedSummary = z.infer<typeof UnauthorizedSummarySchema>;
export type BlockedClient = z.infer<typeof BlockedClientSchema>;
export type BlockKind = (typeof BLOCK_KINDS)[number];
export type AclRule = z.infer<typeof AclRuleSchema>;
export type AclTestRequest = z.input<typeof AclTestInput>;
export type AclTestResult = z.infer<typeof AclTestResultSchema>;
export type Credential = z.infer<typeof CredentialSchema>;
export type CnRuleShape = z.infer<typeof CnRuleSchema>;
export type AuthProvider = z.infer<typeof AuthProviderSchema>;
export type RefusalReasonView = z.infer<typeof ReasonSchema>;
export type Token = z.infer<typeof TokenSchema>;
export type Me = z.infer<typeof MeSchema>;
export type Role = z.infer<typeof RoleSchema>;
