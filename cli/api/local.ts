/**
 * `--local`: the admin API's own route handlers, run in this process against
 * the local D1. Validation, error messages, the audit entry and the
 * config_version bump are therefore exactly those of the deployed API; only
 * the transport and the caller differ.
 */
import os from 'node:os';
import { OpenAPIHono } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import type { AdminEnv, Caller } from '../../worker/admin/context';
import { handleError, validationHook } from '../../worker/admin/errors';
import { database } from '../../worker/admin/middleware/database';
import { adminUserRoutes } from '../../worker/admin/routes/admin-users';
import { configurationRoutes } from '../../worker/admin/routes/configuration';
import { mosquittoImportRoutes } from '../../worker/admin/routes/import-mosquitto';
import type { Env } from '../../worker/env';
import { readAnswer, type AdminApi } from './admin-api';
import { openLocalD1 } from './local-d1';

/**
 * Whoever can open the database file is its administrator. The name holds a
 * space, which account names may not, so the audit log never confuses it
 * with an account.
 */
function localCaller(): Caller {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the audit log still says it was local.
  }
  return { kind: 'user', id: 'local-cli', name: `edgemq --local (${user})`, role: 'admin' };
}

/** The admin routes the CLI uses, mounted at the paths the Worker serves them at (below /api/v1), behind the same database middleware and error handler. */
function localAdminApp(caller: Caller): OpenAPIHono<AdminEnv> {
  const app = new OpenAPIHono<AdminEnv>({ defaultHook: validationHook });
  app.use('*', database);
  app.use(
    '*',
    createMiddleware<AdminEnv>(async function localContext(c, next) {
      c.set('caller', caller);
      // A broker started by `npm start` runs in its own workerd that this process
      // cannot reach; it notices the config_version bump within CONFIG_RECHECK_SECONDS.
      c.set('configChanged', async () => {});
      await next();
    }),
  );
  app.route('/', adminUserRoutes);
  app.route('/', configurationRoutes);
  app.route('/', mosquittoImportRoutes);
  app.onError(handleError);
  return app;
}

export async function localApi(persistDir: string): Promise<AdminApi> {
  const d1 = await openLocalD1(persistDir);
  const app = localAdminApp(localCaller());
  // Only D1: the routes reach the broker through c.var.configChanged alone.
  const env: Pick<Env, 'DB'> = { DB: d1.db };
  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const init: RequestInit = body === undefined ? { method } : { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
      return readAnswer<T>(await app.request(path, init, env), 'the local database');
    },
    close: () => d1.dispose(),
  };
}
