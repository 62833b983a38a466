import { sql, type AnyColumn, type SQL } from 'drizzle-orm';

/** The one page shape every admin list returns. */
export interface Page<T> {
  data: T[];
  page: number;
  pageSize: number;
  totalElements: number;
  totalPages: number;
  hasNext: boolean;
}

export const MAX_PAGE_SIZE = 500;

export function pageOf<T>(data: T[], totalElements: number, page: number, pageSize: number): Page<T> {
  const totalPages = Math.ceil(totalElements / pageSize);
  return { data, page, pageSize, totalElements, totalPages, hasNext: (page + 1) * pageSize < totalElements };
}

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
