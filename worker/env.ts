import type { BrokerShard } from '../durable-objects/broker-shard';
import type { ShardEnv } from './vars';

/**
 * Bindings and vars the Worker and the broker Durable Object receive (see
 * wrangler.toml). Every var is named (worker/vars.ts), so a misspelled one
 * does not compile.
 */
export type Env = Omit<ShardEnv, 'BROKER'> & {
  /** The Worker calls the admin RPC as well as what shards call on each other. */
  BROKER: DurableObjectNamespace<BrokerShard>;
  ASSETS?: Fetcher;
};
