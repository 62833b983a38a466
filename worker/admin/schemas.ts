import { z } from '@hono/zod-openapi';
import { MAX_PAGE_SIZE } from './contract/page';

/** Shapes shared by several resources. Times are ISO-8601 strings in every response. */

export const DEFAULT_PAGE_SIZE = 50;

export const pageParams = {
  page: z.coerce.number().int().min(0).default(0).openapi({ description: 'Page number, from 0', example: 0 }),
  pageSize: z.coerce
    .number()
    .int()
    .min(1)
    .max(MAX_PAGE_SIZE)
    .default(DEFAULT_PAGE_SIZE)
    .openapi({ description: `Rows per page (1-${MAX_PAGE_SIZE})`, example: DEFAULT_PAGE_SIZE }),
};

export function pageSchema<T extends z.ZodTypeAny>(item: T, name: string) {
  return z
    .object({
      data: z.array(item),
      page: z.number().int(),
      pageSize: z.number().int(),
      totalElements: z.number().int(),
      totalPages: z.number().int(),
      hasNext: z.boolean(),
    })
    .openapi(name);
}

export const isoTime = z.string().openapi({ format: 'date-time', example: '2026-11-20T10:15:00.000Z' });

/** Accepts ISO-8601 (`2026-11-20T10:15:00Z`) or epoch milliseconds. */
export const timeParam = z
  .string()
  .refine((s) => parseTime(s) !== null, 'must be an ISO-8601 date-time or epoch milliseconds')
  .transform((s) => parseTime(s)!)
  .openapi({ type: 'string', format: 'date-time', example: '2026-11-20T10:15:00Z' });

export function parseTime(s: string): Date | null {
  if (/^\d{1,16}$/.test(s)) return new Date(Number(s));
  // Only full date-times or dates: Date.parse alone accepts too much.
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(s)) return null;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/** `true`, `false`, or `true,false`. */
export const booleanList = z
  .string()
  .regex(/^(true|false)(,(true|false))*$/, 'must be a comma-separated list of true/false')
  .transform((s) => s.split(',').map((v) => v === 'true'))
  .openapi({ type: 'string', example: 'true,false' });

export const booleanParam = z
  .enum(['true', 'false'])
  .transform((v) => v === 'true')
  .openapi({ type: 'string', enum: ['true', 'false'] });

export const sortOrder = z.enum(['asc', 'desc']).openapi({ description: 'Sort order' });

/** `sort` and `order` of a list whose sort keys the contract names, with that list's default order. */
export function sortParams<K extends string>(keys: readonly [K, ...K[]], sort: NoInfer<K>, order: 'asc' | 'desc') {
  return { sort: z.enum(keys).default(sort), order: sortOrder.default(order) };
}

/** Path ids are bounded so a huge path never reaches D1. */
export const idParam = z.object({ id: z.string().min(1).max(128).openapi({ param: { name: 'id', in: 'path' }, example: '3f6c1a9e-8f0e-4d55-9d0b-2d7b1b1f2f61' }) });

export const OkSchema = z.object({ deleted: z.number().int() }).openapi('DeletedCount');
