import type { MiddlewareHandler } from 'hono';
import { cors } from 'hono/cors';
import type { AdminEnv } from '../context';

/**
 * Closed by default: with ADMIN_CORS_ORIGINS empty no CORS header is ever
 * sent, so only same-origin pages (the bundled dashboard) can call the API
 * from a browser. Listed origins (comma-separated, exact match) are allowed.
 */
export function allowedOrigins(env: Record<string, unknown>): string[] {
  return String(env.ADMIN_CORS_ORIGINS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export const adminCors: MiddlewareHandler<AdminEnv> = async function adminCors(c, next) {
  const origins = allowedOrigins(c.env);
  if (origins.length === 0) return next();
  return cors({
    origin: (origin) => (origins.includes(origin) ? origin : null),
    allowMethods: ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowHeaders: ['Authorization', 'Content-Type'],
    exposeHeaders: ['Retry-After'],
    maxAge: 600,
  })(c, next);
};
