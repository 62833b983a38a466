import { createMiddleware } from 'hono/factory';
import { createBrokerRouter, type ShardStub } from '../broker-router';
import type { Env } from '../env';
import type { AdminEnv } from './context';
import { ApiError } from './errors';

export type { ShardStub };

export function shards(env: Env): ShardStub[] {
  return createBrokerRouter(env).allShards();
}

/** An unreachable broker is a 503, not a 500. */
async function reaching<T>(work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (err) {
    console.error('broker RPC failed', err);
    throw new ApiError(503, 'broker_unavailable', 'The broker could not be reached; try again');
  }
}

/** Runs an RPC on every shard at once; the answers come back in shard order, so answer i is shard i's. */
export function onEveryShard<T>(env: Env, call: (shard: ShardStub, index: number) => Promise<T>): Promise<T[]> {
  return reaching(Promise.all(shards(env).map(call)));
}

/** Runs an RPC on the one shard that holds a client id's session (FNV-1a(client id) mod BROKER_SHARDS). */
export async function onShardOfClient<T>(env: Env, clientId: string, call: (shard: ShardStub) => Promise<T>): Promise<{ shard: number; result: T }> {
  const router = createBrokerRouter(env);
  const result = await reaching(call(router.shardForClient(clientId)));
  return { shard: router.shardIndexForClient(clientId), result };
}

/**
 * Tells every shard to reload its security configuration now. The change is
 * already in D1 and shards also re-check config_version on their own, so a
 * shard that cannot be told is logged, not reported as a failed change.
 */
export async function notifyConfigChanged(env: Env): Promise<void> {
  const results = await Promise.allSettled(shards(env).map((s) => s.configChanged()));
  for (const r of results) if (r.status === 'rejected') console.error('configChanged failed', r.reason);
}

/** Routes tell the broker about a configuration change through c.var.configChanged. */
export const brokerNotifier = createMiddleware<AdminEnv>(async function brokerNotifier(c, next) {
  c.set('configChanged', () => notifyConfigChanged(c.env));
  await next();
});
