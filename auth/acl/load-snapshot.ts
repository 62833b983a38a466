import type { aclRules, credentials } from '../../db/schema';
import { ConfigError } from '../../protocol/config';
import type { TopicRules } from '../provider';
import type { AclPolicy, AclRuleRecord, AclSnapshot, CnTopicRules, CredentialRules } from './evaluator';

export type AclRuleRow = typeof aclRules.$inferSelect;
export type CredentialRow = typeof credentials.$inferSelect;

/** The columns of an `acl_rules` row that evaluation reads. */
export type EvaluatedAclRuleRow = Pick<AclRuleRow, 'id' | 'kind' | 'principalType' | 'username' | 'access' | 'topic' | 'position'>;

/** Exactly what the evaluator reads of a rule, so a snapshot holds no comments or dates. */
export function toAclRuleRecord(r: EvaluatedAclRuleRow): AclRuleRecord {
  return {
    id: r.id,
    kind: r.kind,
    principalType: r.principalType,
    username: r.username,
    access: r.access,
    topic: r.topic,
    position: r.position,
  };
}

export interface AclSnapshotRows {
  /** Every `acl_rules` row (any order; evaluation follows `position`). */
  aclRules: readonly EvaluatedAclRuleRow[];
  /** Credentials with rules; rows whose `rules` and `cnRules` are both null may be included or left out. */
  credentials: readonly Pick<CredentialRow, 'id' | 'rules' | 'cnRules'>[];
  /** `config_version`, so a snapshot can be told apart from the one before. */
  version: number;
  defaultPolicy: AclPolicy;
}

/**
 * D1 rows to the evaluator's snapshot, with no I/O, so the Durable Object
 * only queries and calls this. JSON columns are checked here: rules that do
 * not have the expected shape deny everything rather than falling back to
 * rules that might grant more.
 */
export function loadAclSnapshot(rows: AclSnapshotRows): AclSnapshot {
  const aclRules = rows.aclRules.map(toAclRuleRecord);
  const credentialRules = new Map<string, CredentialRules>();
  for (const c of rows.credentials) {
    if (c.rules == null && c.cnRules == null) continue;
    credentialRules.set(c.id, {
      rules: c.rules == null ? null : topicRulesOrDenyAll(c.rules),
      cnRules: c.cnRules == null ? null : cnRulesOrDenyAll(c.cnRules),
    });
  }
  return { aclRules, credentialRules, defaultPolicy: rows.defaultPolicy, version: rows.version };
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function topicRulesOrDenyAll(value: unknown): TopicRules {
  const v = value as Partial<TopicRules> | null;
  if (v && typeof v === 'object' && isStringArray(v.publish) && isStringArray(v.subscribe)) return { publish: v.publish, subscribe: v.subscribe };
  return { publish: [], subscribe: [] };
}

function cnRulesOrDenyAll(value: unknown): CnTopicRules[] {
  if (!Array.isArray(value)) return [];
  const out: CnTopicRules[] = [];
  for (const entry of value as Partial<CnTopicRules>[]) {
    // An entry without a pattern matches every CN and grants nothing, so no later entry can grant what it might have limited.
    if (!entry || typeof entry.cnPattern !== 'string') {
      out.push({ cnPattern: '.*', publish: [], subscribe: [] });
      continue;
    }
    out.push({ cnPattern: entry.cnPattern, ...topicRulesOrDenyAll(entry) });
  }
  return out;
}

/** `ACL_DEFAULT_POLICY`: `deny` unless set to `allow`; anything else is a configuration error. */
export function parseAclDefaultPolicy(vars: Record<string, unknown>): AclPolicy {
  const raw = vars.ACL_DEFAULT_POLICY;
  if (raw === undefined || raw === null || raw === '') return 'deny';
  const value = String(raw).trim().toLowerCase();
  if (value === 'allow' || value === 'deny') return value;
  throw new ConfigError(`invalid broker configuration: ACL_DEFAULT_POLICY must be allow or deny, not '${String(raw)}'`);
}
