import { useState, type ReactNode } from 'react';

/**
 * Filters in a disclosure: open on wide screens, folded on phones so the
 * table is not pushed below the fold.
 */
export function FilterPanel({ label, active, children }: { label: string; active: number; children: ReactNode }) {
  const [open, setOpen] = useState(() => window.matchMedia('(min-width: 641px)').matches || active > 0);
  return (
    <details className="filter-panel" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>
        Filters{active > 0 ? ` (${active} active)` : ''}
      </summary>
      <FilterForm label={label}>{children}</FilterForm>
    </details>
  );
}

/** A row of filters that apply as they change, so there is nothing to submit. */
export function FilterForm({ label, children }: { label: string; children: ReactNode }) {
  return (
    <form className="filters" role="search" aria-label={label} onSubmit={(e) => e.preventDefault()}>
      {children}
    </form>
  );
}
