import type { ClusterStore, OutboxEntry } from './cluster-store';
import type { ClusterEntry } from './messages';

/** ClusterStore in memory, for unit tests. Entries are cloned, as storage would. */
export class MemoryClusterStore implements ClusterStore {
  private readonly routes = new Set<string>();
  private readonly outbox = new Map<number, OutboxEntry[]>();
  private readonly appended = new Map<number, number>();
  private readonly applied = new Map<number, number>();

  loadRoutes(): Array<{ shard: number; key: string }> {
    return [...this.routes].map((r) => {
      const i = r.indexOf(' ');
      return { shard: Number(r.slice(0, i)), key: r.slice(i + 1) };
    });
  }
  addRoute(shard: number, key: string): void {
    this.routes.add(`${shard} ${key}`);
  }
  removeRoute(shard: number, key: string): void {
    this.routes.delete(`${shard} ${key}`);
  }

  appendOutbox(dest: number, entry: ClusterEntry): number {
    const seq = (this.appended.get(dest) ?? 0) + 1;
    this.appended.set(dest, seq);
    const list = this.outbox.get(dest) ?? [];
    list.push({ seq, entry: structuredClone(entry) });
    this.outbox.set(dest, list);
    return seq;
  }
  peekOutbox(dest: number, afterSeq: number, limit: number): OutboxEntry[] {
    return (this.outbox.get(dest) ?? []).filter((e) => e.seq > afterSeq).slice(0, limit).map((e) => structuredClone(e));
  }
  deleteOutboxThrough(dest: number, seq: number): void {
    this.outbox.set(dest, (this.outbox.get(dest) ?? []).filter((e) => e.seq > seq));
  }
  loadLinks(): Array<{ dest: number; lastAppended: number; oldestUnconfirmed: number | null }> {
    return [...this.appended].map(([dest, lastAppended]) => ({ dest, lastAppended, oldestUnconfirmed: this.outbox.get(dest)?.[0]?.seq ?? null }));
  }

  lastApplied(origin: number): number {
    return this.applied.get(origin) ?? 0;
  }
  setLastApplied(origin: number, seq: number): void {
    this.applied.set(origin, seq);
  }

  /** For tests: entries waiting on the link to `dest`. */
  pending(dest: number): number {
    return this.outbox.get(dest)?.length ?? 0;
  }
}
