import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { ZodError } from 'zod';
import { ApiError, errorBody } from '../errors';

// The admin API answers errors in the Worker's one shape (see ../errors.ts).
export { ApiError, errorBody, handleError } from '../errors';

export const notFound = (what: string) => new ApiError(404, 'not_found', `${what} not found`);
export const conflict = (message: string, field?: string) => new ApiError(409, 'conflict', message, field);
export const invalid = (field: string, message: string) => new ApiError(400, 'validation_error', `${field}: ${message}`, field);

export const ErrorSchema = z
  .object({
    error: z.object({
      code: z.string().openapi({ example: 'validation_error' }),
      message: z.string().openapi({ example: 'pageSize: Too big: expected number to be <=500' }),
      field: z.string().optional().openapi({ example: 'pageSize' }),
    }),
  })
  .openapi('Error');

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request; `field` names the offending field',
  401: 'Missing, invalid or expired token',
  403: 'The role may not do this (viewers only read)',
  404: 'Not found',
  409: 'Conflicts with an existing entry',
  429: 'Too many failed logins; see Retry-After',
  500: 'Server misconfigured (for example ADMIN_JWT_SECRET missing)',
  503: 'The broker could not be reached',
};

/** OpenAPI response entries for the given error statuses. */
export function errorResponses(...statuses: number[]) {
  const out: Record<number, { description: string; content: { 'application/json': { schema: typeof ErrorSchema } } }> = {};
  for (const status of statuses) out[status] = { description: DESCRIPTIONS[status] ?? 'Error', content: { 'application/json': { schema: ErrorSchema } } };
  return out;
}

function fieldOf(error: ZodError): { field: string; message: string } {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : '';
  return { field, message: issue?.message ?? 'invalid' };
}

/** zod-openapi's hook: a failed validation becomes a 400 naming the first bad field. */
export function validationHook(result: { success: boolean; error?: unknown; target?: string }, c: Context) {
  if (result.success) return;
  const { field, message } = fieldOf(result.error as ZodError);
  const name = field || (result.target === 'json' ? 'body' : (result.target ?? 'request'));
  return c.json(errorBody('validation_error', `${name}: ${message}`, name), 400);
}

export function zodErrorToApiError(error: ZodError, prefix = ''): ApiError {
  const { field, message } = fieldOf(error);
  const name = [prefix, field].filter(Boolean).join('.') || 'body';
  return new ApiError(400, 'validation_error', `${name}: ${message}`, name);
}
