import { AclAuthorizer } from '../../auth/acl/acl-authorizer';
import { aclDefaultPolicy } from '../../auth/acl/default-policy';
import type { AclPolicy, AclSnapshot, DecidedBy } from '../../auth/acl/evaluator';
import type { AuthenticatedIdentity } from '../../auth/provider';
import { allAclRules } from '../../db/queries/acl-rules';
import { findBasicCredentials, readConfigVersion } from '../../db/queries/broker-security';
import { readBrokerSettingRows } from '../../db/queries/broker-settings';
import type { Db } from '../../db/queries/db';
import { credentialsWithRules } from '../../db/queries/credentials';
import { currentProviders } from './providers';

export interface AclTestQuery {
  clientId: string;
  username: string | null;
  action: 'publish' | 'subscribe';
  topic: string;
}

function policyFromVars(env: Record<string, unknown>): AclPolicy {
  return String(env.ACL_DEFAULT_POLICY ?? 'deny').trim().toLowerCase() === 'allow' ? 'allow' : 'deny';
}

/**
 * The identity a basic login with this client id and username would get:
 * the credential the basic provider would match (by its matchBy setting)
 * carries the topic rules. None matching: the client is judged by its
 * username alone, as ACL rows see it.
 */
async function basicIdentity(db: Db, env: Record<string, unknown>, q: AclTestQuery): Promise<AuthenticatedIdentity | null> {
  const basic = (await currentProviders(db, env)).find((p) => p.type === 'basic');
  if (!basic?.enabled) return null;
  const matchBy = (basic.config.matchBy as 'username' | 'clientId' | 'both' | undefined) ?? 'username';
  const [credential] = await findBasicCredentials(db, { matchBy, clientId: q.clientId, username: q.username });
  if (!credential) return null;
  return { provider: 'basic', credentialId: credential.id, username: q.username, cn: null, rules: credential.rules ?? null };
}

/** Decides as the broker would, from the configuration stored now. */
export async function explainAccess(db: Db, env: Record<string, unknown>, q: AclTestQuery): Promise<{ allowed: boolean; decidedBy: DecidedBy }> {
  const [rules, credentials, version, identity, settings] = await Promise.all([
    allAclRules(db),
    credentialsWithRules(db),
    readConfigVersion(db),
    basicIdentity(db, env, q),
    readBrokerSettingRows(db),
  ]);
  const snapshot: AclSnapshot = {
    aclRules: rules.map((r) => ({ id: r.id, kind: r.kind, principalType: r.principalType, username: r.username, access: r.access, topic: r.topic, position: r.position })),
    credentialRules: new Map(credentials.map((c) => [c.id, { rules: c.rules ?? null, cnRules: c.cnRules ?? null }])),
    defaultPolicy: aclDefaultPolicy(
      Object.entries(settings).map(([key, value]) => ({ key, value })),
      policyFromVars(env),
    ),
    version,
  };
  const decision = new AclAuthorizer(snapshot).explain(q.action, { clientId: q.clientId, username: q.username, identity: identity ?? undefined }, q.topic);
  return { allowed: decision.allowed, decidedBy: { ...decision.decidedBy } };
}
