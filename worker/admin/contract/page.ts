/**
 * The one page shape every admin list returns, and the one way to cut it.
 * Free of platform and database imports, so the shards, the D1 queries and
 * the dashboard share it.
 */
export interface Page<T> {
  data: T[];
  page: number;
  pageSize: number;
  totalElements: number;
  totalPages: number;
  hasNext: boolean;
}

export const MAX_PAGE_SIZE = 500;

/** A page of `data` that is one slice of `totalElements` rows. */
export function pageOf<T>(data: T[], totalElements: number, page: number, pageSize: number): Page<T> {
  const totalPages = Math.ceil(totalElements / pageSize);
  return { data, page, pageSize, totalElements, totalPages, hasNext: (page + 1) * pageSize < totalElements };
}

/** The page of rows already sorted in memory. */
export function pageSlice<T>(rows: T[], page: number, pageSize: number): Page<T> {
  return pageOf(rows.slice(page * pageSize, (page + 1) * pageSize), rows.length, page, pageSize);
}

/** Ascending comparison of plain values; null sorts first. */
export function compareValues(a: string | number | boolean | null, b: string | number | boolean | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
}
