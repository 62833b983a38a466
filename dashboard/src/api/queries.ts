import { useQuery } from '@tanstack/react-query';
import { api } from './client';
import { queryKeys } from './query-keys';
import type { ReasonCatalogue } from './types';

/** The refusal catalogue (auth/reasons.ts) changes only with a deploy. */
export function useReasons() {
  return useQuery({
    queryKey: queryKeys.all('reasons'),
    queryFn: ({ signal }) => api.get<ReasonCatalogue>('/reasons', undefined, signal),
    staleTime: Infinity,
  });
}
