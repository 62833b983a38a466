import type { RefusalCode } from './reasons';

/**
 * Collects refused CONNECTs for the Unauthorized Clients log and hands them
 * to a sink in batches. Entries are coalesced per client id (one row per
 * client id, as in TBMQ), attacker-controlled strings are cut to fixed
 * lengths, and the number of distinct pending ids is bounded, so a flood of
 * bad CONNECTs costs one bounded write per flush rather than one per attempt.
 */
export interface RefusalEntry {
  clientId: string;
  username: string | null;
  passwordProvided: boolean;
  tlsUsed: boolean;
  ip: string;
  reasonCode: RefusalCode;
  reason: string;
  at: number;
  /** Attempts folded into this entry since the last flush. */
  attempts: number;
}

export interface RefusalBatch {
  refusals: RefusalEntry[];
  /** Client ids that logged in successfully: their rows are removed. */
  cleared: string[];
}

export const LIMITS = { clientId: 256, username: 256, ip: 64, reason: 2048, pendingIds: 1000 } as const;

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/** The client id as the log stores it (cut to a fixed length). */
export const loggedClientId = (clientId: string) => cut(clientId, LIMITS.clientId);

export class RefusalRecorder {
  private pending = new Map<string, RefusalEntry>();
  private cleared = new Set<string>();
  private flushing: Promise<void> | null = null;
  /** Refusals dropped because the pending set was full. */
  dropped = 0;

  constructor(private readonly sink: (batch: RefusalBatch) => Promise<void>) {}

  record(entry: Omit<RefusalEntry, 'attempts'>): void {
    const clientId = cut(entry.clientId, LIMITS.clientId);
    this.cleared.delete(clientId);
    const existing = this.pending.get(clientId);
    if (!existing && this.pending.size >= LIMITS.pendingIds) {
      this.dropped++;
      return;
    }
    this.pending.set(clientId, {
      ...entry,
      clientId,
      username: entry.username === null ? null : cut(entry.username, LIMITS.username),
      ip: cut(entry.ip, LIMITS.ip),
      reason: cut(entry.reason, LIMITS.reason),
      attempts: (existing?.attempts ?? 0) + 1,
    });
    this.kick();
  }

  /** A refusal of this client id is waiting for the next flush. */
  isPending(clientId: string): boolean {
    return this.pending.has(loggedClientId(clientId));
  }

  succeeded(clientId: string): void {
    const id = loggedClientId(clientId);
    this.pending.delete(id);
    if (this.cleared.size < LIMITS.pendingIds) this.cleared.add(id);
    this.kick();
  }

  /** Resolves once everything recorded so far has reached the sink (or failed to). */
  async drain(): Promise<void> {
    while (this.flushing || this.pending.size > 0 || this.cleared.size > 0) {
      if (!this.flushing) this.kick();
      await this.flushing;
    }
  }

  pendingCount(): number {
    return this.pending.size + this.cleared.size;
  }

  /** One flush at a time; whatever arrives meanwhile waits for the next one, which is how batches form. */
  private kick(): void {
    if (this.flushing) return;
    this.flushing = (async () => {
      try {
        while (this.pending.size > 0 || this.cleared.size > 0) {
          const batch: RefusalBatch = { refusals: [...this.pending.values()], cleared: [...this.cleared] };
          this.pending = new Map();
          this.cleared = new Set();
          try {
            await this.sink(batch);
          } catch (err) {
            // The log is best effort: a failed write must never block or crash authentication.
            console.error('unauthorized clients log write failed', err);
            return;
          }
        }
      } finally {
        this.flushing = null;
      }
    })();
  }
}
