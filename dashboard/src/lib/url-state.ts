import { useCallback, useMemo } from 'react';
import { useLocation, useSearch } from 'wouter';

/**
 * Filters, sorting and paging live in the address bar, so a filtered view
 * after an incident can be bookmarked or shared, and Back undoes a change.
 */
export function useUrlState<K extends string>(defaults: Record<K, string>) {
  const search = useSearch();
  const [location, navigate] = useLocation();
  const values = useMemo(() => {
    const params = new URLSearchParams(search);
    const out = { ...defaults };
    for (const key of Object.keys(defaults) as K[]) {
      const v = params.get(key);
      if (v !== null) out[key] = v;
    }
    return out;
    // defaults is a fresh object each render; its content is constant per page
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [search]);

  const update = useCallback(
    (changes: Partial<Record<K, string>>, options: { replace?: boolean } = {}) => {
      const params = new URLSearchParams(search);
      for (const [key, value] of Object.entries(changes) as [K, string | undefined][]) {
        if (value === undefined || value === '' || value === defaults[key]) params.delete(key);
        else params.set(key, value);
      }
      const text = params.toString();
      navigate(text ? `${location}?${text}` : location, { replace: options.replace ?? true });
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [search, location, navigate],
  );
  return [values, update] as const;
}
