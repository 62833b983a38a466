import type { BrokerShard } from '../durable-objects/broker-shard';
import type { Env } from './env';
import { parseShardCount } from './gateway/shard-count';
import { shardIdOf, shardIndexFor, shardName } from './gateway/shard-picker';

export type ShardStub = DurableObjectStub<BrokerShard>;

/**
 * The single place that decides which broker shard serves a client id. The
 * edge gateway (worker/gateway/) asks it once it has read the CONNECT; the
 * admin API asks it for every shard.
 */
export interface BrokerRouter {
  readonly shardCount: number;
  shardIndexForClient(clientId: string): number;
  shardForClient(clientId: string): ShardStub;
  shard(index: number): ShardStub;
  allShards(): ShardStub[];
}

/** The name the one shard has always had; shard 0 of N keeps it. */
export const SINGLE_SHARD_NAME = shardName(0);

export function createBrokerRouter(env: Env): BrokerRouter {
  const shardCount = parseShardCount(env.BROKER_SHARDS);
  const stub = (index: number) => env.BROKER.get(shardIdOf(env.BROKER, index));
  return {
    shardCount,
    shardIndexForClient: (clientId) => shardIndexFor(clientId, shardCount),
    shardForClient: (clientId) => stub(shardIndexFor(clientId, shardCount)),
    shard: stub,
    allShards: () => Array.from({ length: shardCount }, (_, i) => stub(i)),
  };
}
