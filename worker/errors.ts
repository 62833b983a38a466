import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/**
 * Every error the Worker answers has one JSON shape, {error: {code, message, field?}}:
 * the admin API, the /mqtt upgrade route and unknown paths alike, so a client
 * (the dashboard, the CLI, a device's HTTP stack) reads every refusal the same way.
 * Routes throw ApiError (a hono HTTPException with a code); app.onError(handleError)
 * turns everything into that shape.
 */
export class ApiError extends HTTPException {
  constructor(
    status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
    readonly headers?: Record<string, string>,
  ) {
    super(status, { message });
    this.name = 'ApiError';
  }
}

export function errorBody(code: string, message: string, field?: string) {
  return { error: field === undefined ? { code, message } : { code, message, field } };
}

export function handleError(err: Error, c: Context): Response {
  if (err instanceof ApiError) {
    return c.json(errorBody(err.code, err.message, err.field), err.status as ContentfulStatusCode, err.headers);
  }
  if (err instanceof HTTPException) {
    // Hono's own: malformed JSON bodies and the like.
    const status = err.status as ContentfulStatusCode;
    const code = status === 400 ? 'bad_request' : status === 401 ? 'unauthorized' : `http_${status}`;
    return c.json(errorBody(code, err.message || 'request failed', status === 400 ? 'body' : undefined), status);
  }
  console.error('unhandled error', err);
  return c.json(errorBody('internal_error', 'internal error'), 500);
}

/** app.notFound: an unknown path, in the same shape. */
export function handleNotFound(c: Context): Response {
  return c.json(errorBody('not_found', 'not found'), 404);
}
