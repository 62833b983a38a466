export { AclAuthorizer, type AclAuthorizerOptions, type BoundPrincipal, type ExplainPrincipal, type PendingBinding } from './acl-authorizer';
export {
  compileAclSnapshot,
  compilePrincipal,
  evaluate,
  type AclAction,
  type AclDecision,
  type AclPolicy,
  type AclRuleRecord,
  type AclSnapshot,
  type AclSubject,
  type CnTopicRules,
  type CredentialRules,
  type DecidedBy,
  type DecisionSource,
} from './evaluator';
export { aclDefaultPolicy } from './default-policy';
export { aclDenialLimit } from './denial-limit';
export { loadAclSnapshot, parseAclDefaultPolicy, type AclSnapshotRows } from './load-snapshot';
