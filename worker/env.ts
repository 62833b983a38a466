import type { BanCounter } from '../durable-objects/ban-counter';
import type { BrokerShard } from '../durable-objects/broker-shard';
import type { ShardEnv } from './vars';

/**
 * Bindings and vars the Worker and the broker Durable Object receive (see
 * wrangler.toml). Every var is named (worker/vars.ts), so a misspelled one
 * does not compile.
 */
export type Env = ShardEnv & {
  BROKER: DurableObjectNamespace<BrokerShard>;
  /** Per-IP failure counts shared by the shards (automatic bans). */
  BAN_COUNTER: DurableObjectNamespace<BanCounter>;
  ASSETS?: Fetcher;
};
