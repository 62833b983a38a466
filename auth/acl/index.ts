export { AclAuthorizer, type AclAuthorizerOptions, type BoundPrincipal, type ExplainPrincipal } from './acl-authorizer';
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
export { loadAclSnapshot, parseAclDefaultPolicy, type AclSnapshotRows } from './load-snapshot';
