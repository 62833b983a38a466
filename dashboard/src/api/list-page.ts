import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { useCallback, useState } from 'react';
import type { Sort } from '../components/DataTable';
import { useUrlState } from '../lib/url-state';
import { api, type Query } from './client';
import { queryKeys, type Resource } from './query-keys';
import type { Page } from './types';

export const DEFAULT_PAGE_SIZE = 25;

export interface ListPageOptions<F extends string> {
  /** The list's path under /api/v1, also the root of its query keys. */
  resource: Resource;
  /** The filters and their defaults; they live in the address bar with the sort and the page. */
  filters: Record<F, string>;
  /** The order the list opens in; null for a list the API keeps in one fixed order. */
  sort: Sort | null;
  /** The API's parameters for the filters, when they are not the same. */
  toQuery?: (filters: Record<F, string>) => Query;
  refetchInterval?: number | false;
}

/**
 * One server-side list: filters, sort and page in the address bar, the page
 * from the API (sorted and cut there), the row a confirmed action is about,
 * and a refresh of everything cached about the resource after a change.
 */
export function useListPage<T, F extends string = never>(options: ListPageOptions<F>) {
  const { resource, sort: defaultSort } = options;
  const defaults: Record<string, string> = {
    ...options.filters,
    sort: defaultSort?.id ?? '',
    order: defaultSort ? (defaultSort.desc ? 'desc' : 'asc') : '',
    page: '0',
    pageSize: String(DEFAULT_PAGE_SIZE),
  };
  const [state, setState] = useUrlState(defaults);
  const filters = Object.fromEntries(Object.keys(options.filters).map((k) => [k, state[k]])) as Record<F, string>;
  const page = Math.max(0, Number(state.page) || 0);
  const pageSize = Number(state.pageSize) || DEFAULT_PAGE_SIZE;
  const sort: Sort | null = defaultSort && state.sort ? { id: state.sort, desc: state.order === 'desc' } : null;
  const query: Query = {
    ...(options.toQuery ? options.toQuery(filters) : filters),
    ...(sort ? { sort: sort.id, order: sort.desc ? 'desc' : 'asc' } : {}),
    page,
    pageSize,
  };

  const setFilters = (changes: Partial<Record<F, string>>) => setState({ ...changes, page: '0' });

  const queryClient = useQueryClient();
  const list = useQuery({
    queryKey: queryKeys.list(resource, query),
    queryFn: ({ signal }) => api.get<Page<T>>(`/${resource}`, query, signal),
    placeholderData: keepPreviousData,
    refetchInterval: options.refetchInterval ?? false,
  });
  const [confirming, setConfirming] = useState<{ action: string; row: T } | null>(null);
  // Stable, so the pages' column definitions that call them are built once.
  const refresh = useCallback(() => queryClient.invalidateQueries({ queryKey: queryKeys.all(resource) }), [queryClient, resource]);
  const confirm = useCallback((action: string, row: T) => setConfirming({ action, row }), []);

  return {
    resource,
    list,
    filters,
    /** Changing a filter starts again at the first page. */
    setFilters,
    /** The props that wire a filter's field to the list: its name, value and changes. */
    filterField(key: F) {
      return { name: key, value: filters[key], onChange: (value: string) => setFilters({ [key]: value } as Partial<Record<F, string>>) };
    },
    sort,
    setSort: (next: Sort | null) => setState({ sort: next?.id ?? '', order: next?.desc ? 'desc' : 'asc', page: '0' }),
    setPage: (next: number) => setState({ page: String(next) }, { replace: false }),
    setPageSize: (next: number) => setState({ pageSize: String(next), page: '0' }),
    refresh,
    /** Opens the confirmation of one of the list's row actions (CrudList's `actions`). */
    confirm,
    confirming,
    closeConfirmation: () => setConfirming(null),
  };
}

export type ListPage<T> = ReturnType<typeof useListPage<T, string>>;
