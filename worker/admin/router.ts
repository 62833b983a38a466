import { OpenAPIHono } from '@hono/zod-openapi';
import type { AdminEnv } from './context';
import { validationHook } from './errors';

/** Every resource's routes are built on this, so each validates the same way. */
export function newRouter(): OpenAPIHono<AdminEnv> {
  return new OpenAPIHono<AdminEnv>({ defaultHook: validationHook });
}
