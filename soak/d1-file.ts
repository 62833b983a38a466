import { readdirSync } from 'node:fs';
import path from 'node:path';
import { DatabaseSync } from 'node:sqlite';

/**
 * Reads the local D1 database file directly, read-only, while the broker
 * runs: a `wrangler d1 execute` per poll would cost the shared CPU more than
 * the thing being measured.
 */
export function openD1File(persistDir: string): DatabaseSync {
  const dir = path.join(persistDir, 'v3', 'd1', 'miniflare-D1DatabaseObject');
  const file = readdirSync(dir).find((f) => f.endsWith('.sqlite') && f !== 'metadata.sqlite');
  if (!file) throw new Error(`no D1 database file in ${dir}`);
  return new DatabaseSync(path.join(dir, file), { readOnly: true });
}

export function scalar(db: DatabaseSync, sql: string): number {
  const row = db.prepare(sql).get() as Record<string, unknown> | undefined;
  return Number(row ? Object.values(row)[0] : 0);
}

/**
 * Counts every row write to one table with triggers, as D1 itself sees them:
 * inserts, upserts that update, and deletes (the row bound's trims).
 */
export function writeCounterSql(table: string): string {
  return [
    `CREATE TABLE IF NOT EXISTS soak_row_writes (op TEXT PRIMARY KEY, n INTEGER NOT NULL)`,
    `INSERT OR IGNORE INTO soak_row_writes VALUES ('insert', 0), ('update', 0), ('delete', 0)`,
    ...['insert', 'update', 'delete'].map(
      (op) => `CREATE TRIGGER IF NOT EXISTS soak_count_${op} AFTER ${op.toUpperCase()} ON ${table} BEGIN UPDATE soak_row_writes SET n = n + 1 WHERE op = '${op}'; END`,
    ),
  ].join(';\n');
}
