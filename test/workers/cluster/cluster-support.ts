import { env, runInDurableObject } from 'cloudflare:test';
import { shardIndexFor, shardName } from '../../../worker/gateway/shard-picker';
import { idsOnShards as idsOnShardsOf } from '../../support/shard-ids';

/** The cluster project runs with BROKER_SHARDS=4 (vitest.config.mts). */
export const SHARDS = 4;

export const shardStub = (index: number) => env.BROKER.get(env.BROKER.idFromName(shardName(index)));

/** The shard a client id's session lives on, by the gateway's own hash. */
export const shardOf = (clientId: string) => shardIndexFor(clientId, SHARDS);

/** Client ids `<prefix><n>` that land on the given shards, in order. */
export const idsOnShards = (prefix: string, shards: number[]) => idsOnShardsOf(prefix, shards, SHARDS);

export async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 250; i++) {
    const value = await read();
    if (ok(value)) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/**
 * Waits until no shard holds a client socket or a batch another shard has
 * not confirmed. A file's environment closes when its last test returns;
 * a shard still announcing a closed client's routes then fails its call,
 * and its log of that failure outlives the environment.
 */
export async function clusterSettled(): Promise<void> {
  const busy = async () => {
    let n = 0;
    for (let i = 0; i < SHARDS; i++) {
      n += await runInDurableObject(shardStub(i), (_instance, state) => {
        const unconfirmed = state.storage.sql.exec(`SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'cluster_outbox'`).one().n
          ? Number(state.storage.sql.exec('SELECT COUNT(*) AS n FROM cluster_outbox').one().n)
          : 0;
        return state.getWebSockets().length + unconfirmed;
      });
    }
    return n;
  };
  await until(busy, (n) => n === 0, 'every shard to have no client and nothing unconfirmed');
}
