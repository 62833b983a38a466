import type { z } from 'zod';
import type { brokerConfigSchema } from '../protocol/config';
import type { BanCounter } from '../durable-objects/ban-counter';
import type { ShardPeer } from '../durable-objects/shard-peer';

/** Vars arrive as strings (wrangler.toml [vars], .dev.vars, secrets); each reader parses and bounds its own. */
type Vars<Name extends string> = { [K in Name]?: string };

/** The broker's MQTT limits, named once by protocol/config.ts. */
type BrokerVars = Vars<keyof z.input<typeof brokerConfigSchema>>;

/** Authentication, ACL and admin vars (see docs/configuration.md), and the secrets. */
type SecurityVars = Vars<
  | 'ALLOW_ANONYMOUS'
  | 'AUTH_PROVIDERS'
  | 'ACL_DEFAULT_POLICY'
  | 'CONFIG_RECHECK_SECONDS'
  | 'UNAUTHORIZED_CLIENTS_MAX_ROWS'
  | 'UNAUTHORIZED_CLIENTS_TTL_DAYS'
  | 'ADMIN_CORS_ORIGINS'
  | 'ADMIN_USERNAME'
  | 'ADMIN_PASSWORD'
  | 'ADMIN_JWT_SECRET'
  | 'AUTH_CACHE_SECRET'
  | 'JWT_HMAC_SECRET'
>;

/** How many broker shards client ids are spread over (worker/gateway/shard-count.ts), and where client sockets end (gateway-mode.ts). */
type ClusterVars = Vars<'BROKER_SHARDS' | 'BROKER_GATEWAY'>;

/**
 * What a broker shard reads of the environment: D1, the other shards (as
 * peers, not as the class), the shared ban counters, and the vars.
 */
export type ShardEnv = {
  DB: D1Database;
  BROKER: DurableObjectNamespace<ShardPeer>;
  /** Per-IP failure counts shared by the shards (automatic bans). */
  BAN_COUNTER: DurableObjectNamespace<BanCounter>;
} & BrokerVars &
  SecurityVars &
  ClusterVars;
