import type { BrokerShard } from '../durable-objects/broker-shard';

/** Bindings and vars the Worker and the broker Durable Object receive (see wrangler.toml). */
export interface Env {
  BROKER: DurableObjectNamespace<BrokerShard>;
  DB: D1Database;
  ASSETS?: Fetcher;
  [variable: string]: unknown;
}
