/** Shapes of the admin REST API (/api/v1) as the dashboard uses them. Times are ISO strings or epoch milliseconds. */

export type Timestamp = string | number;
export type Role = 'admin' | 'viewer';

export interface LoginResponse {
  token: string;
  expiresAt: Timestamp;
  role: Role;
  username?: string;
}

export interface Me {
  username: string;
  role: Role;
  expiresAt?: Timestamp;
}

export interface Page<T> {
  data: T[];
  page: number;
  pageSize: number;
  totalElements: number;
  totalPages: number;
  hasNext: boolean;
}

export interface UnauthorizedClient {
  clientId: string;
  username: string | null;
  passwordProvided: boolean;
  tlsUsed: boolean;
  ip: string;
  reasonCode: string;
  reason: string;
  lastUpdate: Timestamp;
  firstSeen: Timestamp;
  attempts: number;
}

export interface RefusalReason {
  title: string;
  explanation: string;
  solution: string;
  mqtt5: number;
  mqtt3: number;
}

export type ReasonCatalogue = Record<string, RefusalReason>;

export type CredentialType = 'basic' | 'x509' | 'scram';

export interface TopicRules {
  publish: string[];
  subscribe: string[];
}

export interface CnRule extends TopicRules {
  cnPattern: string;
}

export interface Credential {
  id: string;
  type: CredentialType;
  name: string;
  clientId: string | null;
  username: string | null;
  hasPassword?: boolean;
  hasScramKeys?: boolean;
  scramIterations?: number | null;
  cnPattern: string | null;
  cnIsRegex: boolean;
  scramMechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | null;
  allowedClientIds: string[] | null;
  rules: TopicRules | null;
  cnRules: CnRule[] | null;
  createdAt: Timestamp;
  updatedAt: Timestamp;
}

/** What the dashboard sends on create/update; `password` is write-only. */
export interface CredentialInput {
  type: CredentialType;
  name: string;
  clientId?: string | null;
  username?: string | null;
  password?: string | null;
  cnPattern?: string | null;
  cnIsRegex?: boolean;
  scramMechanism?: 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | null;
  allowedClientIds?: string[] | null;
  rules?: TopicRules | null;
  cnRules?: CnRule[] | null;
}

export type AclAccess = 'read' | 'write' | 'readwrite' | 'deny';
export type AclPrincipal = 'anonymous' | 'user' | 'all';

export interface AclRule {
  id: string;
  kind: 'topic' | 'pattern';
  principalType: AclPrincipal;
  username: string | null;
  access: AclAccess;
  topic: string;
  position: number;
  comment: string | null;
  createdAt?: Timestamp;
  updatedAt?: Timestamp;
}

export type AclRuleInput = Omit<AclRule, 'id' | 'createdAt' | 'updatedAt'>;

export interface AclTestRequest {
  clientId: string;
  username: string | null;
  action: 'publish' | 'subscribe';
  topic: string;
}

export interface AclTestResult {
  allowed: boolean;
  /** Which rule or default decided; shape varies, shown as text. */
  decidedBy: unknown;
}

export type BlockKind = 'clientId' | 'username' | 'ip' | 'cidr' | 'clientIdRegex' | 'usernameRegex';

export interface BlockedClient {
  id: string;
  kind: BlockKind;
  value: string;
  description: string | null;
  source: 'manual' | 'auto';
  expiresAt: Timestamp | null;
  createdAt: Timestamp;
  status?: 'active' | 'expired' | string;
}

export type ProviderType = 'anonymous' | 'basic' | 'x509' | 'jwt' | 'scram';

export interface AuthProviderEntry {
  type: ProviderType;
  enabled: boolean;
  priority: number;
  settings: Record<string, unknown>;
  /** Secret settings that have a value; their values are never returned. */
  secretsSet?: string[];
  /** False when the stored settings no longer validate; the broker keeps the provider disabled. */
  valid?: boolean;
}

export interface SessionSummary {
  clientId: string;
  connected: boolean;
  username?: string | null;
  ip?: string | null;
  protocolVersion?: number;
  cleanStart?: boolean;
  keepAlive?: number | null;
  droppedMessages?: number;
  createdAt?: Timestamp;
  sessionExpiryInterval?: number;
  subscriptions?: number;
  queueDepth?: number;
  inflight?: number;
  connectedAt?: Timestamp | null;
  disconnectedAt?: Timestamp | null;
  expiresAt?: Timestamp | null;
  [extra: string]: unknown;
}

export interface SubscriptionEntry {
  clientId: string;
  topicFilter: string;
  qos: number;
  shareGroup?: string | null;
  noLocal?: boolean;
  retainAsPublished?: boolean;
  retainHandling?: number;
  subscriptionIdentifier?: number | null;
  [extra: string]: unknown;
}

export interface SessionDetail extends SessionSummary {
  subscriptionList: SubscriptionEntry[];
  willPending?: boolean;
}

export interface RetainedMessage {
  topic: string;
  qos: number;
  /** UTF-8 text, or null when the payload is not text. */
  payload: string | null;
  payloadBase64: string;
  payloadSize: number;
  /** Lists carry at most the first 1024 bytes. */
  payloadTruncated: boolean;
  contentType: string | null;
  createdAt: Timestamp;
  expiresAt: Timestamp | null;
}

export interface LiveEvent {
  type: 'connected' | 'disconnected' | 'auth-failure' | string;
  at: Timestamp;
  clientId: string;
  username?: string | null;
  ip?: string | null;
  reasonCode?: string;
}
