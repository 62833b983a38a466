import { drizzle } from 'drizzle-orm/d1';
import { createMiddleware } from 'hono/factory';
import type { Db } from '../../../db/queries/config-version';
import type { AdminEnv } from '../context';

export const database = createMiddleware<AdminEnv>(async function database(c, next) {
  c.set('db', drizzle(c.env.DB) as unknown as Db);
  await next();
});
