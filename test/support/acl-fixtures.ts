
/**
 * SQL and secrets for topic ACL suites, in the shape of security-fixtures.ts:
 * rows written straight into the local D1 as an operator's tooling would.
 */

const lit = (v: string | number | null): string => (v === null ? 'NULL' : typeof v === 'number' ? String(v) : `'${v.replaceAll("'", "''")}'`);

export interface AclRuleRow {
  id: string;
  kind?: 'topic' | 'pattern';
  principalType: 'anonymous' | 'user' | 'all';
  username?: string | null;
  access: 'read' | 'write' | 'readwrite' | 'deny';
  topic: string;
  position: number;
}

export function aclRuleSql(r: AclRuleRow): string {
  const now = Date.now();
  const kind = r.kind ?? (r.principalType === 'all' ? 'pattern' : 'topic');
  return `INSERT INTO acl_rules (id, kind, principal_type, username, access, topic, position, comment, created_at, updated_at)
    VALUES (${lit(r.id)}, ${lit(kind)}, ${lit(r.principalType)}, ${lit(r.username ?? null)}, ${lit(r.access)}, ${lit(r.topic)}, ${r.position}, NULL, ${now}, ${now})`;
}

/** acl_file lines as rows: `user` sections and anonymous `topic` lines, in the order given. */
export function userRule(id: string, username: string, access: AclRuleRow['access'], topic: string, position: number): string {
  return aclRuleSql({ id, principalType: 'user', username, access, topic, position });
}

