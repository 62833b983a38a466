import type { BrokerShard } from '../durable-objects/broker-shard';
import type { Env } from './env';

export type ShardStub = DurableObjectStub<BrokerShard>;

/**
 * The single place that decides which broker shard serves a connection or a
 * publish. Today every client lands on one shard; splitting later (by client
 * id hash, by tenant) changes only this module, not the engine.
 */
export interface BrokerRouter {
  shardForConnection(request: Request): ShardStub;
  allShards(): ShardStub[];
}

export const SINGLE_SHARD_NAME = 'shard-0';

export function createBrokerRouter(env: Env): BrokerRouter {
  const stub = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));
  return {
    shardForConnection: () => stub(),
    allShards: () => [stub()],
  };
}
