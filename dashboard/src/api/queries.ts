import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import type { ReasonCatalogue } from './types';

/** The refusal catalogue (auth/reasons.ts) changes only with a deploy. */
export function useReasons() {
  return useQuery({
    queryKey: ['reasons'],
    queryFn: ({ signal }) => api.get<ReasonCatalogue | { data: ReasonCatalogue }>('/reasons', undefined, signal).then(unwrapCatalogue),
    staleTime: Infinity,
  });
}

function unwrapCatalogue(body: ReasonCatalogue | { data: ReasonCatalogue }): ReasonCatalogue {
  if (body && typeof body === 'object' && 'data' in body && body.data && typeof body.data === 'object' && !('title' in body.data)) {
    return body.data as ReasonCatalogue;
  }
  return body as ReasonCatalogue;
}


export interface ListResult<T> {
  rows: T[];
  /** Present when the API pages (and so also sorts) on the server. */
  page: Omit<import('./types').Page<T>, 'data'> | null;
}

/** Accepts a page (`{data, page, ...}`), `{data: [...]}` or a bare array. */
export function readList<T>(body: unknown): ListResult<T> {
  if (Array.isArray(body)) return { rows: body as T[], page: null };
  const b = body as Partial<import('./types').Page<T>> | null;
  const rows = Array.isArray(b?.data) ? b.data : [];
  if (b && typeof b.totalElements === 'number') {
    return {
      rows,
      page: {
        page: b.page ?? 0,
        pageSize: b.pageSize ?? rows.length,
        totalElements: b.totalElements,
        totalPages: b.totalPages ?? 1,
        hasNext: b.hasNext ?? false,
      },
    };
  }
  return { rows, page: null };
}
