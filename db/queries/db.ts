import { drizzle, type DrizzleD1Database } from 'drizzle-orm/d1';
import type { BatchItem } from 'drizzle-orm/batch';

/** The D1 database as every query sees it: drizzle without a relational schema. */
export type Db = DrizzleD1Database<Record<string, never>>;

export function openDb(d1: D1Database): Db {
  return drizzle(d1);
}

/** One statement of a D1 batch. */
export type Statement = BatchItem<'sqlite'>;
