import type { AuthRequest } from '../protocol/ports';
import type { RefusalCode } from './reasons';

/** The providers, in the names used by configuration, the API and the dashboard. */
export const PROVIDER_TYPES = ['anonymous', 'basic', 'x509', 'jwt', 'scram'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/** Topic rules carried by a credential (TBMQ style): regex patterns matched against the whole topic. */
export interface TopicRules {
  publish: string[];
  subscribe: string[];
}

/**
 * Everything a provider may look at for one CONNECT: the engine's request
 * (authenticationMethod and authenticationData are MQTT 5 enhanced
 * authentication) without clientIdAssigned, which only the chain reads.
 */
export type ConnectAttempt = Omit<AuthRequest, 'clientIdAssigned'>;

/** Who the client turned out to be. Feeds the ACL evaluation. */
export interface AuthenticatedIdentity {
  provider: ProviderType;
  /** D1 id of the credential that matched, when one did. */
  credentialId: string | null;
  /** The username the session runs as (may come from the certificate CN). */
  username: string | null;
  /** Leaf certificate CN, for `${cn}` substitution. */
  cn: string | null;
  /** Per-credential rules; null means "no rules from the credential" (ACL rules alone decide). */
  rules: TopicRules | null;
}

export interface Refusal {
  code: RefusalCode;
  /** Detailed text for operators; never includes secrets. */
  detail: string;
}

/**
 * A provider's answer, as in mosquitto's security chain: accepted, refused
 * with a reason, or "not mine, ask the next". SCRAM needs several round trips,
 * so it may also answer "continue" with data for an AUTH packet and a function
 * that takes the client's next AUTH data.
 */
export type ProviderAnswer =
  | { kind: 'accept'; identity: AuthenticatedIdentity; authenticationData?: Uint8Array }
  | { kind: 'refuse'; refusal: Refusal }
  | { kind: 'skip' }
  | { kind: 'continue'; authenticationData: Uint8Array; next(data: Uint8Array | null): Promise<ProviderAnswer> };

export interface AuthProvider {
  readonly type: ProviderType;
  authenticate(attempt: ConnectAttempt): Promise<ProviderAnswer>;
}
