import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { findApiKeyByHash, touchApiKey } from '../../../db/queries/api-keys';
import { getAdminUser } from '../../../db/queries/admin-users';
import { hashApiKey, looksLikeApiKey } from '../api-key-format';
import type { AdminEnv, Caller } from '../context';
import { ApiError } from '../errors';
import { verifyToken } from '../tokens';

/** Reachable without a token: signing in and reading the API description. */
export function isPublic(method: string, path: string): boolean {
  if (method === 'POST' && path === '/auth/login') return true;
  if (method === 'GET' && (path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/'))) return true;
  return false;
}

/** A last-used time to the minute is enough, and saves a write per request. */
const TOUCH_EVERY_MS = 60_000;

const unauthorized = (message: string) => new ApiError(401, 'unauthorized', message, undefined, { 'WWW-Authenticate': 'Bearer' });

/**
 * Browsers cannot set headers on a WebSocket, so the event stream also takes
 * the token as a subprotocol (`bearer.<token>`) or as `?token=`.
 */
function tokenFrom(headers: Headers, url: URL, path: string): string | null {
  const auth = headers.get('authorization');
  if (auth) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(auth);
    return match ? match[1] : null;
  }
  if (path === '/events') {
    const offered = (headers.get('sec-websocket-protocol') ?? '').split(',').map((p) => p.trim());
    const bearer = offered.find((p) => p.startsWith('bearer.'));
    if (bearer) return bearer.slice('bearer.'.length);
    return url.searchParams.get('token');
  }
  return null;
}

export function authenticate(basePath: string) {
  return createMiddleware<AdminEnv>(async function authenticate(c, next) {
    const path = c.req.path.slice(basePath.length) || '/';
    if (isPublic(c.req.method, path)) return next();
    const token = tokenFrom(c.req.raw.headers, new URL(c.req.url), path);
    if (!token) throw unauthorized('Sign in first: send Authorization: Bearer <token>');
    c.set('caller', looksLikeApiKey(token) ? await apiKeyCaller(c, token) : await userCaller(c, token));
    await next();
  });
}

async function userCaller(c: Context<AdminEnv>, token: string): Promise<Caller> {
  const claims = await verifyToken(c.env, token);
  if (!claims) throw unauthorized('The token is invalid or has expired; sign in again');
  // The account is read on every request, so deleting a user or changing a role takes effect at once.
  const user = await getAdminUser(c.var.db, claims.userId);
  if (!user) throw unauthorized('The account no longer exists');
  return { kind: 'user', id: user.id, name: user.username, role: user.role };
}

async function apiKeyCaller(c: Context<AdminEnv>, key: string): Promise<Caller> {
  const row = await findApiKeyByHash(c.var.db, await hashApiKey(key));
  if (!row || row.revokedAt) throw unauthorized('The API key is unknown or revoked');
  const now = new Date();
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > TOUCH_EVERY_MS) {
    const touch = touchApiKey(c.var.db, row.id, now).catch((err) => console.error('could not record API key use', err));
    try {
      c.executionCtx.waitUntil(touch);
    } catch {
      await touch;
    }
  }
  return { kind: 'api-key', id: row.id, name: row.name, role: row.role };
}
