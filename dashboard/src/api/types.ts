/**
 * Shapes of the admin REST API (/api/v1) as the dashboard uses them. They are
 * the API's own zod schemas (worker/admin/contract), imported as types only:
 * nothing of the server reaches the bundle, and a change to a response shape
 * shows up here as a type error.
 */
import type { z } from '@hono/zod-openapi';
import type { AclRuleInput as AclRuleInputSchema, CredentialInput as CredentialInputSchema } from '../../../worker/admin/contract/security';

export type { Page } from '../../../worker/admin/contract/page';
export type {
  LiveEvent,
  RetainedView as RetainedMessage,
  SessionDetail,
  SessionView as SessionSummary,
  StatsCounters,
  StatsSample as StatsSampleView,
  StatsView as StatsSnapshot,
  SubscriptionView as SubscriptionEntry,
} from '../../../worker/admin/contract/broker';
export type {
  AclRule,
  AclTestRequest,
  AclTestResult,
  AuthProvider as AuthProviderEntry,
  BlockedClient,
  BlockKind,
  CnRuleShape as CnRule,
  Credential,
  Me,
  RefusalReasonView as RefusalReason,
  Role,
  Token as LoginResponse,
  UnauthorizedClient,
  UnauthorizedSummary,
} from '../../../worker/admin/contract/security';

/** Times arrive as ISO strings; charts also hold epoch milliseconds. */
export type Timestamp = string | number;

export type ReasonCatalogue = Record<string, import('../../../worker/admin/contract/security').RefusalReasonView>;
export type CredentialType = import('../../../worker/admin/contract/security').Credential['type'];
export type ProviderType = import('../../../worker/admin/contract/security').AuthProvider['type'];
export type AclAccess = import('../../../worker/admin/contract/security').AclRule['access'];
export type AclPrincipal = import('../../../worker/admin/contract/security').AclRule['principalType'];

/** What the dashboard sends on create/update; `password` is write-only. */
export type CredentialInput = z.input<typeof CredentialInputSchema>;
export type AclRuleInput = z.input<typeof AclRuleInputSchema>;
