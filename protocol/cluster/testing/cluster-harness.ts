import { EngineHarness, ManualClock, type HarnessOptions } from '../../engine/testing/engine-harness';
import { MemorySessionStore } from '../../store/memory-session-store';
import { ClusterNode } from '../cluster-node';
import type { MessageBus } from '../message-bus';
import type { ClusterBatch, ClusterReceipt } from '../messages';
import { MemoryClusterStore } from '../memory-cluster-store';
import { shardIndexFor } from '../shard-hash';

/**
 * N engines, each with its own stores, joined by an in-memory message bus
 * that behaves like RPC between Durable Objects: asynchronous, and able to
 * fail (a shard that is down, a receipt lost after the batch was applied).
 * The engines share one manual clock.
 */
export class ClusterHarness {
  readonly clock = new ManualClock();
  readonly shards: EngineHarness[] = [];
  readonly clusterStores: MemoryClusterStore[] = [];
  /** Shards whose incoming calls fail before anything is applied. */
  readonly down = new Set<number>();
  /** Shards that apply a batch and then lose the receipt (the caller sees a failure). */
  readonly loseReceipts = new Set<number>();
  /** Shards whose receipts wait, after the batch was applied, until releaseReceipts(): calls that cross on the way. */
  readonly delayReceipts = new Set<number>();
  private readonly delayedReceipts: Array<() => void> = [];
  /** Shards whose answers to retained look-ups wait until releaseRetained(): a slow answer. */
  readonly delayRetained = new Set<number>();
  private readonly delayedRetained: Array<() => void> = [];
  /** Batches delivered, per receiving shard. */
  readonly batches: ClusterBatch[] = [];

  constructor(
    readonly shardCount: number,
    options: HarnessOptions = {},
  ) {
    for (let i = 0; i < shardCount; i++) {
      const store = new MemoryClusterStore();
      this.clusterStores.push(store);
      const bus = this.bus();
      this.shards.push(
        new EngineHarness({
          ...options,
          clock: this.clock,
          store: new MemorySessionStore(),
          cluster: () => new ClusterNode({ self: i, shardCount, store, bus, clock: this.clock }),
        }),
      );
    }
  }

  private bus(): MessageBus {
    return {
      deliver: async (batch: ClusterBatch): Promise<ClusterReceipt> => {
        await Promise.resolve();
        if (this.down.has(batch.to)) throw new Error(`shard ${batch.to} is down`);
        assertCloneable(batch);
        this.batches.push(structuredClone(batch));
        const receipt = await this.shards[batch.to].engine.cluster.receive(structuredClone(batch));
        if (this.loseReceipts.has(batch.to)) throw new Error(`receipt from shard ${batch.to} lost`);
        if (this.delayReceipts.has(batch.to)) await new Promise<void>((resolve) => this.delayedReceipts.push(resolve));
        return receipt;
      },
      released: async (to, from, seqs) => {
        await Promise.resolve();
        if (this.down.has(to)) throw new Error(`shard ${to} is down`);
        this.shards[to].engine.cluster.entriesReleased(from, structuredClone(seqs));
      },
      stillHeld: async (to, from, seqs) => {
        await Promise.resolve();
        if (this.down.has(to)) throw new Error(`shard ${to} is down`);
        return this.shards[to].engine.cluster.stillHeld(from, structuredClone(seqs));
      },
      retained: async (to, filters) => {
        await Promise.resolve();
        if (this.down.has(to)) throw new Error(`shard ${to} is down`);
        const answer = structuredClone(this.shards[to].engine.retainedMatching(filters, this.clock.now()));
        if (this.delayRetained.has(to)) await new Promise<void>((resolve) => this.delayedRetained.push(resolve));
        return answer;
      },
    };
  }

  /** Receipts waiting for releaseReceipts(). */
  get delayedReceiptCount(): number {
    return this.delayedReceipts.length;
  }

  /** Lets the receipts delayed so far reach their senders. */
  releaseReceipts(): void {
    for (const resolve of this.delayedReceipts.splice(0)) resolve();
  }

  /** Lets the retained answers delayed so far reach the shards that asked. */
  releaseRetained(): void {
    for (const resolve of this.delayedRetained.splice(0)) resolve();
  }

  /** The shard a client id lands on. */
  shardOf(clientId: string): number {
    return shardIndexFor(clientId, this.shardCount);
  }

  /** A client id that lands on shard `index`. */
  clientIdOn(index: number, prefix = 'c'): string {
    for (let i = 0; ; i++) {
      const id = `${prefix}-${i}`;
      if (this.shardOf(id) === index) return id;
    }
  }

  /** A topic whose retained home is shard `index`. */
  topicHomedOn(index: number, prefix = 't'): string {
    for (let i = 0; ; i++) {
      const topic = `${prefix}/${i}`;
      if (shardIndexFor(topic, this.shardCount) === index) return topic;
    }
  }

  /** Lets every pending call and retry run until nothing moves. */
  async settle(rounds = 50): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      for (let j = 0; j < 20; j++) await Promise.resolve();
      for (const shard of this.shards) {
        const due = shard.engine.nextWakeAt();
        if (due !== null && due <= this.clock.now()) shard.engine.onTimer();
      }
    }
  }

  /** Advances the shared clock and runs what became due. */
  async tick(ms: number): Promise<void> {
    this.clock.advance(ms);
    await this.settle();
  }
}

/**
 * Durable Object RPC clones only plain objects, arrays and binary data; a
 * prototype-less object (as a decoder may make) fails there with a
 * DataCloneError, while Node's structuredClone would accept it.
 */
function assertCloneable(value: unknown, path = 'batch'): void {
  if (value === null || typeof value !== 'object') return;
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
  if (Array.isArray(value)) {
    value.forEach((v, i) => assertCloneable(v, `${path}[${i}]`));
    return;
  }
  if (Object.getPrototypeOf(value) !== Object.prototype) throw new Error(`${path} is not a plain object, so RPC cannot clone it`);
  for (const [k, v] of Object.entries(value)) assertCloneable(v, `${path}.${k}`);
}
