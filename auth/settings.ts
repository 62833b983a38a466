import { z } from 'zod';
import { DEFAULT_IP_MAX_DISTINCT } from './failure-tracker';
import { PROVIDER_TYPES, type ProviderType } from './provider';

/**
 * Authentication settings: the shape stored in D1 (auth_providers.config and
 * broker_settings), validated the same way by the broker, the admin API and
 * the CLI. Defaults come from wrangler.toml vars, so a fresh deployment works
 * before anyone touches the API; D1 rows override them.
 */

const regexSource = z
  .string()
  .min(1)
  .max(1024)
  .refine((s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  }, 'must be a valid regular expression');

export const topicRulesSchema = z.object({
  publish: z.array(regexSource).max(1000),
  subscribe: z.array(regexSource).max(1000),
});

export const anonymousSettingsSchema = z.object({}).strict();

export const basicSettingsSchema = z
  .object({
    /** Which CONNECT fields select the credential. */
    matchBy: z.enum(['username', 'clientId', 'both']).default('username'),
    /**
     * How long a successful verification is remembered after the client was
     * last seen connected, so the reconnect storm after a deploy skips PBKDF2.
     * Any credential change empties the cache. 0 disables it.
     */
    verifiedCacheSeconds: z.number().int().min(0).max(86_400).default(900),
  })
  .strict();

export const x509SettingsSchema = z
  .object({
    /** mosquitto require_certificate: refuse clients without a verified certificate instead of asking the next provider. */
    requireCertificate: z.boolean().default(false),
    /** mosquitto use_identity_as_username: the leaf CN becomes the username. */
    useIdentityAsUsername: z.boolean().default(false),
    /** Proxies (IPs or CIDRs) whose RFC 9440 Client-Cert / Client-Cert-Chain headers are believed. */
    trustedProxies: z.array(z.string().min(1).max(64)).max(100).default([]),
  })
  .strict();

export const jwtSettingsSchema = z
  .object({
    keySource: z.enum(['hmac', 'pem', 'jwks']).default('hmac'),
    /** Write-only through the API. */
    hmacSecret: z.string().max(4096).optional(),
    publicKeyPem: z.string().max(16_384).optional(),
    jwksUrl: z.string().url().max(2048).optional(),
    jwksCacheSeconds: z.number().int().min(0).max(86_400).default(600),
    algorithms: z.array(z.string().min(2).max(16)).min(1).max(10).default(['HS256']),
    issuer: z.string().max(1024).optional(),
    audience: z.string().max(1024).optional(),
    clockToleranceSeconds: z.number().int().min(0).max(3600).default(30),
    /** Claims that must equal these values; `${clientId}` and `${username}` are substituted. */
    requiredClaims: z.record(z.string().max(128), z.string().max(1024)).default({}),
    publishClaim: z.string().max(128).optional(),
    subscribeClaim: z.string().max(128).optional(),
    usernameClaim: z.string().max(128).optional(),
    /** Let the next provider try when the password is not a JWT. */
    skipWhenNoToken: z.boolean().default(true),
  })
  .strict();

export const scramSettingsSchema = z
  .object({
    mechanisms: z.array(z.enum(['SCRAM-SHA-256', 'SCRAM-SHA-512'])).min(1).default(['SCRAM-SHA-256', 'SCRAM-SHA-512']),
  })
  .strict();

export const providerSettingsSchemas = {
  anonymous: anonymousSettingsSchema,
  basic: basicSettingsSchema,
  x509: x509SettingsSchema,
  jwt: jwtSettingsSchema,
  scram: scramSettingsSchema,
} as const;

export type ProviderSettings = {
  anonymous: z.infer<typeof anonymousSettingsSchema>;
  basic: z.infer<typeof basicSettingsSchema>;
  x509: z.infer<typeof x509SettingsSchema>;
  jwt: z.infer<typeof jwtSettingsSchema>;
  scram: z.infer<typeof scramSettingsSchema>;
};

/** Settings fields that are secrets: never returned by the API, only whether they are set. */
export const SECRET_SETTINGS: Partial<Record<ProviderType, string[]>> = { jwt: ['hmacSecret'] };

export interface ProviderEntry<T extends ProviderType = ProviderType> {
  type: T;
  enabled: boolean;
  priority: number;
  settings: ProviderSettings[T];
}

export const brokerSettingsSchema = z
  .object({
    /** Only client ids starting with one of these may connect (mosquitto clientid_prefixes); empty allows all. */
    clientIdPrefixes: z.array(z.string().min(1).max(128)).max(100).default([]),
    /** Close refused connections without any CONNACK (MQTT-293 advice for sensitive deployments). */
    silentRefusal: z.boolean().default(false),
    autoBan: z
      .object({
        enabled: z.boolean().default(true),
        /** Failures of one client id from one IP within the window that ban that client id from that IP (and nobody else). */
        maxFailures: z.number().int().min(1).max(10_000).default(10),
        windowSeconds: z.number().int().min(1).max(86_400).default(60),
        banSeconds: z.number().int().min(1).max(30 * 86_400).default(300),
        /**
         * Different client ids, or different usernames, failing from one IP within the window
         * that ban the IP. Thousands of devices share an IP behind carrier-grade NAT: a few
         * broken ones are a few identities however often they retry, an attacker rotating
         * identities is many (docs/authentication.md).
         */
        ipMaxDistinct: z.number().int().min(2).max(10_000).default(DEFAULT_IP_MAX_DISTINCT),
        /** Which bans are made: `clientId` (per device), `ip` (IP-wide, by distinct identities), or both. */
        scope: z.array(z.enum(['ip', 'clientId'])).min(1).default(['ip', 'clientId']),
      })
      .strict()
      .default({ enabled: true, maxFailures: 10, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: DEFAULT_IP_MAX_DISTINCT, scope: ['ip', 'clientId'] }),
    /** Unauthorized Clients rows older than this are removed by the cron trigger. */
    unauthorizedRetentionDays: z.number().int().min(1).max(365).default(3),
    /**
     * Disconnect a client after this many denied publishes on one connection
     * (0 = never). Left out, MQTT_ACL_DENIALS_BEFORE_DISCONNECT decides: a
     * default here would be stored by every settings save and silently
     * override what the operator deployed.
     */
    aclDenialsBeforeDisconnect: z.number().int().min(0).max(1_000_000).optional(),
    /**
     * What topic ACLs answer when no rule decided. Left out, ACL_DEFAULT_POLICY
     * decides. Importing a mosquitto acl_file stores `deny`: with an acl_file,
     * mosquitto denies everything the file does not grant, and the imported
     * rules keep that meaning even where the var says `allow` (npm start).
     */
    aclDefaultPolicy: z.enum(['allow', 'deny']).optional(),
  })
  .strict();

export type BrokerSettings = z.infer<typeof brokerSettingsSchema>;

/** Default provider chain from vars: AUTH_PROVIDERS lists enabled providers in priority order; ALLOW_ANONYMOUS adds anonymous last. */
export function defaultProviderEntries(vars: Record<string, unknown>): ProviderEntry[] {
  const listed = String(vars.AUTH_PROVIDERS ?? 'basic')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s): s is ProviderType => (PROVIDER_TYPES as readonly string[]).includes(s));
  const allowAnonymous = ['true', '1', 'yes', 'on'].includes(String(vars.ALLOW_ANONYMOUS ?? 'false').trim().toLowerCase());
  const enabled = new Set<ProviderType>(listed);
  if (allowAnonymous) enabled.add('anonymous');
  const order: ProviderType[] = [...listed, ...PROVIDER_TYPES.filter((t) => !listed.includes(t))];
  return order.map((type, i) => ({
    type,
    enabled: enabled.has(type),
    priority: (i + 1) * 10,
    settings: providerSettingsSchemas[type].parse({}) as ProviderSettings[typeof type],
  }));
}

export const defaultBrokerSettings: BrokerSettings = brokerSettingsSchema.parse({});

/** Parses one provider's stored settings, falling back to defaults for fields that are missing. */
export function parseProviderSettings<T extends ProviderType>(type: T, raw: unknown): ProviderSettings[T] {
  return providerSettingsSchemas[type].parse(raw ?? {}) as ProviderSettings[T];
}
