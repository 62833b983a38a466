/**
 * The client ids this shard has put in the Unauthorized Clients log, in its
 * own SQLite. A client that later connects is removed from the log, and only
 * an id found here costs a D1 write: the other successful CONNECTs, nearly
 * all of them on a healthy fleet, cost at most one read of local storage
 * (none while this shard has logged no one) instead of a D1 delete each.
 * That keeps a reconnect storm after a deploy off D1, and locally the delete batches of four shards cost the runtime about 17 KiB of
 * memory per idle connection (docs/reliability.md).
 *
 * One client id always lands on the same shard, so this shard is the only
 * one that logs or clears it. The list is bounded like the log itself: past
 * `maxRows` the oldest are forgotten, and those rows have left the log too
 * (it keeps the newest) or are trimmed next.
 */
export class LoggedRefusals {
  private notedSinceTrim = 0;
  /**
   * Whether the table may hold a row. On a healthy fleet it is empty, and an
   * accepted CONNECT then costs no read at all: the look-up was the largest
   * SQLite cost of a connection in the benchmark's profile.
   */
  private mayHoldRows: boolean;

  constructor(
    private readonly sql: SqlStorage,
    private readonly maxRows: number,
    private readonly trimEvery = 500,
  ) {
    sql.exec(`CREATE TABLE IF NOT EXISTS logged_refusals (client_id TEXT PRIMARY KEY, at INTEGER NOT NULL)`);
    sql.exec(`CREATE INDEX IF NOT EXISTS logged_refusals_at ON logged_refusals (at)`);
    this.mayHoldRows = this.holdsAny();
  }

  /** Refusals of these client ids are on their way to the log. */
  noteAll(clientIds: string[], at: number): void {
    if (clientIds.length > 0) this.mayHoldRows = true;
    for (const clientId of clientIds) {
      this.sql.exec(
        `INSERT INTO logged_refusals (client_id, at) VALUES (?, ?) ON CONFLICT (client_id) DO UPDATE SET at = excluded.at`,
        clientId,
        at,
      );
    }
    this.notedSinceTrim += clientIds.length;
    if (this.notedSinceTrim >= this.trimEvery) {
      this.notedSinceTrim = 0;
      this.trim();
    }
  }

  /** True (and forgotten here) when `clientId` is in the log; a read only when it is not, and none while nothing is. */
  take(clientId: string): boolean {
    if (!this.mayHoldRows) return false;
    if (this.sql.exec(`SELECT 1 FROM logged_refusals WHERE client_id = ?`, clientId).toArray().length === 0) return false;
    this.sql.exec(`DELETE FROM logged_refusals WHERE client_id = ?`, clientId);
    // The last one gone: later CONNECTs skip the read again.
    if (!this.holdsAny()) this.mayHoldRows = false;
    return true;
  }

  /** Keeps the newest `maxRows` (and any as old as the last of them), through the index on `at`. */
  trim(): void {
    this.sql.exec(
      `DELETE FROM logged_refusals WHERE at < (SELECT at FROM logged_refusals ORDER BY at DESC LIMIT 1 OFFSET ?)`,
      this.maxRows - 1,
    );
  }

  /** One row read at most, however many there are (COUNT would read them all, on every wake). */
  private holdsAny(): boolean {
    return this.sql.exec(`SELECT 1 FROM logged_refusals LIMIT 1`).toArray().length > 0;
  }

  size(): number {
    return Number(this.sql.exec(`SELECT COUNT(*) AS n FROM logged_refusals`).one().n);
  }
}
