import { z } from 'zod';

/**
 * Every tunable of the broker, parsed once from Worker vars (strings) into a
 * validated object. Unknown or malformed values fail loudly at start-up rather
 * than silently falling back, so a typo in wrangler.toml cannot weaken limits.
 */
const intVar = (def: number, min: number, max: number) =>
  z
    .union([z.string(), z.number()])
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      const n = typeof v === 'number' ? v : Number(v.trim());
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be an integer from ${min} to ${max}` });
        return z.NEVER;
      }
      return n;
    });

const boolVar = (def: boolean) =>
  z
    .union([z.string(), z.boolean()])
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return def;
      if (typeof v === 'boolean') return v;
      const s = v.trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(s)) return true;
      if (['false', '0', 'no', 'off'].includes(s)) return false;
      ctx.addIssue({ code: 'custom', message: 'must be true or false' });
      return z.NEVER;
    });

const enumVar = <T extends string>(values: readonly [T, ...T[]], def: T) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const s = v.trim().toLowerCase();
      if ((values as readonly string[]).includes(s)) return s as T;
      ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}` });
      return z.NEVER;
    });

/** Half the platform's hibernation grace period, so the alarm comes well before the shard may hibernate. */
const HIBERNATION_GUARD_MS = 5_000;

export const SHARED_SUBSCRIPTION_POLICIES = ['prefer_local', 'round_robin'] as const;
export type SharedSubscriptionPolicy = (typeof SHARED_SUBSCRIPTION_POLICIES)[number];

export const brokerConfigSchema = z.object({
  ALLOW_ANONYMOUS: boolVar(false),
  // Password verifications at full strength (PBKDF2, 100,000 iterations) one shard may run per second, and back to back.
  // About 50 ms of CPU each, so the default keeps hashing near a quarter of the shard's one thread (docs/configuration.md).
  AUTH_MAX_HASHES_PER_SECOND: intVar(5, 0, 10_000),
  AUTH_HASH_BURST: intVar(20, 1, 100_000),
  MQTT_MAX_PACKET_SIZE: intVar(262_144, 64, 268_435_455),
  MQTT_CONNECT_TIMEOUT_SECONDS: intVar(10, 1, 600),
  MQTT_MAX_KEEPALIVE_SECONDS: intVar(0, 0, 65_535),
  MQTT_RECEIVE_MAXIMUM: intVar(100, 1, 65_535),
  MQTT_MAX_INFLIGHT_OUT: intVar(100, 1, 65_535),
  MQTT_MAX_QUEUED_MESSAGES: intVar(1000, 0, 1_000_000),
  // Per session, next to the count: what a stuck subscriber can make the shard hold (SQLite, or memory for non-persistent sessions).
  MQTT_MAX_QUEUED_BYTES: intVar(1_048_576, 0, 1_073_741_824),
  // A subscriber whose window stays full this long without one acknowledgement no longer holds publishers back.
  MQTT_STUCK_SUBSCRIBER_SECONDS: intVar(5, 1, 3600),
  MQTT_TOPIC_ALIAS_MAXIMUM: intVar(10, 0, 65_535),
  MQTT_MAX_TOPIC_LENGTH: intVar(4096, 1, 65_535),
  MQTT_MAX_TOPIC_LEVELS: intVar(128, 1, 65_535),
  MQTT_MAX_CLIENT_ID_LENGTH: intVar(256, 23, 65_535),
  MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT: intVar(1000, 1, 1_000_000),
  MQTT_MAX_RETAINED_MESSAGES: intVar(100_000, 0, 10_000_000),
  MQTT_MAX_SESSION_EXPIRY_SECONDS: intVar(604_800, 0, 0xffffffff),
  MQTT_SYS_INTERVAL_SECONDS: intVar(10, 1, 3600),
  MQTT_ACL_DENIALS_BEFORE_DISCONNECT: intVar(0, 0, 1_000_000),
  // Bounded by default: one shard handles every connection's packets in turn, so one runaway publisher would delay everyone.
  MQTT_MAX_PUBLISH_RATE: intVar(1000, 0, 1_000_000),
  MQTT_MAX_PENDING_BYTES: intVar(1_048_576, 1024, 268_435_455),
  // Over all connections not yet accepted, per shard: partial packets and packets waiting behind authentication.
  MQTT_MAX_CONNECTING_BYTES: intVar(16_777_216, 65_536, 1_073_741_824),
  // Which member of a shared subscription group gets a message when members sit on several shards.
  MQTT_SHARED_SUBSCRIPTION_POLICY: enumVar(SHARED_SUBSCRIPTION_POLICIES, 'prefer_local'),
});

export interface BrokerConfig {
  maxPacketSize: number;
  connectTimeoutMs: number;
  /** 0 means clients may choose any keepalive, including none. */
  maxKeepaliveSeconds: number;
  receiveMaximum: number;
  maxInflightOut: number;
  maxQueuedMessages: number;
  /** Per-session queue bound in bytes (topic characters + payload bytes of each queued message). */
  maxQueuedBytes: number;
  /** A recipient whose window is full and who acknowledged nothing for this long is stuck: it stops withholding publishers' acks. */
  stuckSubscriberMs: number;
  /**
   * How long state that only memory holds may wait before the alarm acts on
   * it: unacknowledged messages of a session that ends with its connection
   * move to the store (SessionDelivery.spillIfWaiting), and withheld
   * acknowledgements keep the shard awake (flow-control.ts). Not a setting:
   * it must stay well under the ten seconds without events after which the
   * platform may hibernate a Durable Object, keeping its sockets but not its
   * memory.
   */
  hibernationGuardMs: number;
  topicAliasMaximum: number;
  maxTopicLength: number;
  maxTopicLevels: number;
  maxClientIdLength: number;
  maxSubscriptionsPerClient: number;
  maxRetainedMessages: number;
  maxSessionExpirySeconds: number;
  sysIntervalMs: number;
  /** Denied PUBLISHes on one connection before it is disconnected; 0 = never. */
  aclDenialsBeforeDisconnect: number;
  /** PUBLISH packets per second one connection may send, with a one-second burst; 0 = no limit. */
  maxPublishRate: number;
  /** Bytes of packets held for a connection while its CONNECT is still being authenticated. */
  maxPendingBytes: number;
  /** Bytes held for every connection not yet accepted together (protocol/engine/connecting-bytes.ts). */
  maxConnectingBytes: number;
  /**
   * `prefer_local`: a connected member on the publisher's shard takes the
   * message when there is one, so no call to another shard is made (as
   * VerneMQ's default and EMQX's `local`); otherwise, and with `round_robin`,
   * the shards with members take turns.
   */
  sharedSubscriptionPolicy: SharedSubscriptionPolicy;
  /**
   * How much password hashing (PBKDF2 after a verified-cache miss) the shard
   * may do, in verifications at the default strength: `perSecond` refills a
   * bucket of `burst`; a perSecond of 0 means no budget. Read by the shard's
   * security, not by the engine.
   */
  passwordHashBudget: { perSecond: number; burst: number };
}

export class ConfigError extends Error {}

export function parseBrokerConfig(vars: Record<string, unknown>): BrokerConfig {
  const parsed = brokerConfigSchema.safeParse(vars);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid broker configuration: ${detail}`);
  }
  const v = parsed.data;
  return {
    maxPacketSize: v.MQTT_MAX_PACKET_SIZE,
    connectTimeoutMs: v.MQTT_CONNECT_TIMEOUT_SECONDS * 1000,
    maxKeepaliveSeconds: v.MQTT_MAX_KEEPALIVE_SECONDS,
    receiveMaximum: v.MQTT_RECEIVE_MAXIMUM,
    maxInflightOut: v.MQTT_MAX_INFLIGHT_OUT,
    maxQueuedMessages: v.MQTT_MAX_QUEUED_MESSAGES,
    maxQueuedBytes: v.MQTT_MAX_QUEUED_BYTES,
    stuckSubscriberMs: v.MQTT_STUCK_SUBSCRIBER_SECONDS * 1000,
    hibernationGuardMs: HIBERNATION_GUARD_MS,
    topicAliasMaximum: v.MQTT_TOPIC_ALIAS_MAXIMUM,
    maxTopicLength: v.MQTT_MAX_TOPIC_LENGTH,
    maxTopicLevels: v.MQTT_MAX_TOPIC_LEVELS,
    maxClientIdLength: v.MQTT_MAX_CLIENT_ID_LENGTH,
    maxSubscriptionsPerClient: v.MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT,
    maxRetainedMessages: v.MQTT_MAX_RETAINED_MESSAGES,
    maxSessionExpirySeconds: v.MQTT_MAX_SESSION_EXPIRY_SECONDS,
    sysIntervalMs: v.MQTT_SYS_INTERVAL_SECONDS * 1000,
    aclDenialsBeforeDisconnect: v.MQTT_ACL_DENIALS_BEFORE_DISCONNECT,
    maxPublishRate: v.MQTT_MAX_PUBLISH_RATE,
    maxPendingBytes: v.MQTT_MAX_PENDING_BYTES,
    maxConnectingBytes: v.MQTT_MAX_CONNECTING_BYTES,
    sharedSubscriptionPolicy: v.MQTT_SHARED_SUBSCRIPTION_POLICY,
    passwordHashBudget: { perSecond: v.AUTH_MAX_HASHES_PER_SECOND, burst: v.AUTH_HASH_BURST },
  };
}

export const defaultBrokerConfig: BrokerConfig = parseBrokerConfig({});
