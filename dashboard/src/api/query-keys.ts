import type { Query } from './client';

/** The API's resources the dashboard caches, by their path under /api/v1. */
export type Resource =
  | 'sessions'
  | 'subscriptions'
  | 'retained'
  | 'credentials'
  | 'acl-rules'
  | 'blocked-clients'
  | 'unauthorized-clients'
  | 'auth-providers'
  | 'stats'
  | 'reasons'
  | 'health';

/**
 * Every query key the dashboard uses. Each starts with its resource, so
 * invalidating `all(resource)` after a change refreshes every page, item and
 * summary of it at once.
 */
export const queryKeys = {
  all: (resource: Resource) => [resource] as const,
  /** One page of a list, with the exact query it was asked with. */
  list: (resource: Resource, query: Query) => [resource, 'list', query] as const,
  one: (resource: Resource, id: string | null) => [resource, 'one', id] as const,
  unauthorizedSummary: (limit: number) => ['unauthorized-clients', 'summary', limit] as const,
  statsNow: () => ['stats', 'now'] as const,
  statsHistory: () => ['stats', 'history'] as const,
};
