import { createMiddleware } from 'hono/factory';
import type { AdminEnv } from '../context';
import { ApiError } from '../errors';

/** POSTs a viewer may make: they change nothing. The endpoint matrix test reads this list too. */
export const VIEWER_POSTS: ReadonlySet<string> = new Set(['/auth/refresh', '/acl-rules/test']);
const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Reads that hand out secrets (password hashes, provider secrets). */
const ADMIN_ONLY_READS = new Set(['/export']);

/** Viewers read; every change needs the admin role. */
export function authorize(basePath: string) {
  return createMiddleware<AdminEnv>(async function authorize(c, next) {
    const caller = c.get('caller');
    if (!caller || caller.role === 'admin') return next();
    const path = c.req.path.slice(basePath.length);
    if (READS.has(c.req.method) && !ADMIN_ONLY_READS.has(path)) return next();
    if (c.req.method === 'POST' && VIEWER_POSTS.has(path)) return next();
    throw new ApiError(403, 'forbidden', 'The viewer role may only read; an admin must make this change');
  });
}
