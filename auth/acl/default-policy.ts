import { brokerSettingsSchema } from '../settings';
import type { AclPolicy } from './evaluator';

const policySchema = brokerSettingsSchema.shape.aclDefaultPolicy;

/**
 * What topic ACLs answer when no rule decided: the `aclDefaultPolicy` broker
 * setting when D1 holds one (an imported acl_file stores `deny`), else the
 * ACL_DEFAULT_POLICY var. A stored value that does not validate counts as
 * `deny`: a broken row must not open every topic.
 */
export function aclDefaultPolicy(storedSettings: readonly { key: string; value: unknown }[], fromVars: AclPolicy): AclPolicy {
  const row = storedSettings.find((r) => r.key === 'aclDefaultPolicy');
  if (!row || row.value === undefined || row.value === null) return fromVars;
  const parsed = policySchema.safeParse(row.value);
  return parsed.success ? (parsed.data ?? fromVars) : 'deny';
}
