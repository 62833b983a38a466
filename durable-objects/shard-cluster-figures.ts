import type { ClusterFigures, ShardFigures } from '../protocol/engine/cluster-figures';
import type { Clock } from '../protocol/ports';
import type { ShardIdentityStore } from './shard-identity';

/** How long a $SYS tick waits for the other shards before it publishes with what it has. */
const TICK_WAIT_MS = 1_000;

/** What this needs of another shard: its own $SYS figures (BrokerShard.sysFigures over RPC). */
export interface PeerShard {
  sysFigures(): Promise<ShardFigures>;
}

/**
 * The ClusterFigures port of the $SYS topics, filled by asking the other
 * shards. The engine reads `latest()` only while it publishes $SYS, which it
 * does only while a $SYS subscriber is connected; a read that finds the
 * figures older than one $SYS interval starts a new round in the background
 * and is answered with what is there. So a shard without $SYS subscribers
 * never asks anyone, and the one that has them asks each other shard once
 * per interval. A shard that does not answer is left out of that round.
 */
export class ShardClusterFigures implements ClusterFigures {
  private figures: Array<ShardFigures | null> | null = null;
  private fetchedAt = Number.NEGATIVE_INFINITY;
  private round: Promise<void> | null = null;

  constructor(
    private readonly identity: ShardIdentityStore,
    private readonly peer: (index: number) => PeerShard,
    private readonly clock: Clock,
    private readonly maxAgeMs: () => number,
  ) {}

  place(): { index: number; count: number } {
    return this.identity.currentOrSingle();
  }

  latest(): ReadonlyArray<ShardFigures | null> | null {
    if (this.stale()) void this.refresh();
    return this.figures;
  }

  /**
   * Before a $SYS tick: a shard that hibernated between ticks lost what it
   * fetched, so it fetches first (waiting at most TICK_WAIT_MS) rather than
   * publish its own figures as the cluster's.
   */
  async beforeTick(): Promise<void> {
    if (!this.stale()) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.refresh(), new Promise<void>((resolve) => (timer = setTimeout(resolve, TICK_WAIT_MS)))]);
    clearTimeout(timer);
  }

  /** The round in flight, if any: the shard's alarm waits for it so it is not cut short. */
  settled(): Promise<void> {
    return this.round ?? Promise.resolve();
  }

  private stale(): boolean {
    return this.place().count > 1 && this.clock.now() - this.fetchedAt >= this.maxAgeMs();
  }

  private refresh(): Promise<void> {
    if (this.round) return this.round;
    const { index, count } = this.place();
    this.fetchedAt = this.clock.now();
    const asked = Array.from({ length: count }, (_, i) => (i === index ? Promise.resolve(null) : this.peer(i).sysFigures()));
    this.round = Promise.allSettled(asked)
      .then((results) => {
        this.figures = results.map((r) => (r.status === 'fulfilled' ? r.value : null));
      })
      .finally(() => {
        this.round = null;
      });
    return this.round;
  }
}
