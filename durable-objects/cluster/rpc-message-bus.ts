import type { MessageBus } from '../../protocol/cluster/message-bus';
import type { ClusterBatch, ClusterReceipt } from '../../protocol/cluster/messages';
import type { BrokerMessage } from '../../protocol/store/records';
import { shardIdOf } from '../../worker/gateway/shard-picker';

/** What a shard offers the other shards over RPC (BrokerShard implements it). */
export interface ClusterPeer extends Rpc.DurableObjectBranded {
  clusterDeliver(batch: ClusterBatch): ClusterReceipt | Promise<ClusterReceipt>;
  clusterReleased(from: number, seqs: number[]): void;
  clusterStillHeld(from: number, seqs: number[]): number[];
  clusterRetained(filters: string[]): BrokerMessage[];
}

/**
 * The message bus over Durable Object RPC: one call per batch, to the shard's
 * stub by name. A call that throws (the other shard restarting, a deploy, an
 * overloaded object) is retried by the caller's link; the receiver drops what
 * it already applied.
 */
export function rpcMessageBus<Peer extends ClusterPeer>(namespace: DurableObjectNamespace<Peer>): MessageBus {
  const stubs = new Map<number, DurableObjectStub<Peer>>();
  const peer = (index: number) => {
    let stub = stubs.get(index);
    if (!stub) {
      stub = namespace.get(shardIdOf(namespace, index));
      stubs.set(index, stub);
    }
    return stub;
  };
  /** A stub whose object was reset stays broken: the next attempt gets a new one. */
  const call = async <T>(index: number, work: (stub: DurableObjectStub<Peer>) => Promise<T>): Promise<T> => {
    try {
      return await work(peer(index));
    } catch (err) {
      stubs.delete(index);
      throw err;
    }
  };
  return {
    deliver: (batch) => call(batch.to, (stub) => stub.clusterDeliver(batch)),
    released: (to, from, seqs) => call(to, async (stub) => void (await stub.clusterReleased(from, seqs))),
    stillHeld: (to, from, seqs) => call(to, (stub) => stub.clusterStillHeld(from, seqs)),
    retained: (to, filters) => call(to, (stub) => stub.clusterRetained(filters)),
  };
}
