import { and, asc, desc, sql, type AnyColumn, type SQL } from 'drizzle-orm';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import { pageOf, type Page } from '../../worker/admin/contract/page';
import type { Db } from './db';

export { MAX_PAGE_SIZE, pageOf, type Page } from '../../worker/admin/contract/page';

/** LIKE treats % and _ as wildcards; user text must match literally. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/**
 * Case-insensitive substring match with user text taken literally. SQLite's
 * LIKE already ignores ASCII case; lower() on both sides covers the rest of
 * what SQLite folds.
 */
export function contains(column: AnyColumn | SQL, text: string): SQL {
  return sql`lower(${column}) LIKE lower(${`%${escapeLike(text)}%`}) ESCAPE '\\'`;
}

/** Filters as a list where unset ones are undefined; all that are set must hold. */
export function allOf(conditions: Array<SQL | undefined>): SQL | undefined {
  const set = conditions.filter((c): c is SQL => c !== undefined);
  return set.length > 0 ? and(...set) : undefined;
}

/**
 * The ORDER BY of a sorted list: the chosen column or expression in the
 * chosen direction, then a unique column so paging never repeats or skips a row.
 */
export function sortedBy<K extends string>(columns: Record<K, AnyColumn | SQL>, sort: K, order: 'asc' | 'desc', unique: AnyColumn): SQL[] {
  return [order === 'asc' ? asc(columns[sort]) : desc(columns[sort]), asc(unique)];
}

/**
 * One page of a table and the total count, in one D1 round trip. The order
 * must end with a unique column so paging never repeats or skips a row.
 */
export async function listPage<T extends SQLiteTable, V>(
  db: Db,
  table: T,
  q: { where: SQL | undefined; orderBy: SQL[]; page: number; pageSize: number },
  view: (row: T['$inferSelect']) => V,
): Promise<Page<V>> {
  // Drizzle's builders cannot infer row types through a generic table; the select below returns T's rows.
  const t = table as SQLiteTable;
  const [count, rows] = await db.batch([
    db.select({ n: sql<number>`count(*)` }).from(t).where(q.where),
    db
      .select()
      .from(t)
      .where(q.where)
      .orderBy(...q.orderBy)
      .limit(q.pageSize)
      .offset(q.page * q.pageSize),
  ]);
  return pageOf((rows as T['$inferSelect'][]).map(view), count[0]?.n ?? 0, q.page, q.pageSize);
}
