/**
 * `--local`: the admin API's own route handlers, run in this process against
 * the local D1. Validation, error messages, the audit entry and the
 * config_version bump are therefore exactly those of the deployed API; only
 * the transport and the caller differ.
 */
import os from 'node:os';
import { OpenAPIHono } from '@hono/zod-openapi';
import { createMiddleware } from 'hono/factory';
import type { AdminEnv, Principal } from '../../worker/admin/context';
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
function localPrincipal(): Principal {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the audit log still says it was local.
  }
  return { kind: 'user', id: 'local-cli', name: `edgemq --local (${user})`, role: 'admin' };
}

/**
 * The routes tell the broker's Durable Objects about a change after it is in
 * D1. A broker started by `npm start` runs in its own workerd that this
 * process cannot reach; it notices the config_version bump instead, within
 * CONFIG_RECHECK_SECONDS.
 */
const BROKER_NOT_REACHABLE = {
  idFromName: (name: string) => name,
  get: () => ({ configChanged: async () => {} }),
} as unknown as Env['BROKER'];
/** The CLI's routes never count refused CONNECTs. */
const BAN_COUNTER_NOT_USED = {} as unknown as Env['BAN_COUNTER'];

/** The admin routes the CLI uses, mounted at the paths the Worker serves them at (below /api/v1), behind the same database middleware and error handler. */
function localAdminApp(principal: Principal): OpenAPIHono<AdminEnv> {
  const app = new OpenAPIHono<AdminEnv>({ defaultHook: validationHook });
  app.use('*', database);
  app.use(
    '*',
    createMiddleware<AdminEnv>(async function localCaller(c, next) {
      c.set('principal', principal);
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
  const app = localAdminApp(localPrincipal());
  const env: Env = { DB: d1.db, BROKER: BROKER_NOT_REACHABLE, BAN_COUNTER: BAN_COUNTER_NOT_USED };
  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      const init: RequestInit = body === undefined ? { method } : { method, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
      return readAnswer<T>(await app.request(path, init, env), 'the local database');
    },
    close: () => d1.dispose(),
  };
}
