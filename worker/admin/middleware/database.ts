import { createMiddleware } from 'hono/factory';
import { openDb } from '../../../db/queries/db';
import type { AdminEnv } from '../context';

export const database = createMiddleware<AdminEnv>(async function database(c, next) {
  c.set('db', openDb(c.env.DB));
  await next();
});
