import { createColumnHelper } from '@tanstack/react-table';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { useAuth } from '../api/auth';
import { api, seg } from '../api/client';
import { useLiveEvents, usePollWhileOffline } from '../api/events';
import { useListPage } from '../api/list-page';
import { useReasons } from '../api/queries';
import type { ReasonCatalogue, UnauthorizedClient } from '../api/types';
import { actionsColumn, CrudList, type ConfirmedAction } from '../components/CrudList';
import type { Columns, Features } from '../components/DataTable';
import { ConfirmDialog, Dialog } from '../components/Dialog';
import { BoolBadge, DebouncedInput, SelectField } from '../components/Fields';
import { FilterPanel } from '../components/FilterPanel';
import { PageHeader } from '../components/PageHeader';
import { useToast } from '../components/Toasts';
import { formatAgo, formatNumber, formatTime, isoTime, localInputToIso, toLocalInput, truncate } from '../lib/format';

const FILTERS = {
  clientId: '',
  username: '',
  ip: '',
  reason: '',
  passwordProvided: '',
  tlsUsed: '',
  from: '',
  to: '',
};
type Filter = keyof typeof FILTERS;
const NO_FILTERS = FILTERS;

const BOOL_OPTIONS = [
  { value: '', label: 'Any' },
  { value: 'true', label: 'true' },
  { value: 'false', label: 'false' },
];

const RANGE_PRESETS = [
  { label: 'Last 15 min', ms: 15 * 60_000 },
  { label: 'Last hour', ms: 3600_000 },
  { label: 'Last 24 h', ms: 86_400_000 },
  { label: 'Last 7 days', ms: 7 * 86_400_000 },
];

const REASON_PREVIEW = 48;
/** How long a row that just changed stays highlighted. */
const HIGHLIGHT_MS = 8_000;

const column = createColumnHelper<Features, UnauthorizedClient>();

const ACTIONS: Record<'delete', ConfirmedAction<UnauthorizedClient>> = {
  delete: {
    title: 'Delete this row?',
    message: (row) => (
      <p>
        Remove <strong>{row.clientId}</strong> from the unauthorized clients list? Its next refused attempt will add it again.
      </p>
    ),
    confirmLabel: 'Delete',
    run: async (row) => {
      await api.delete(`/unauthorized-clients/${seg(row.clientId)}`);
      return `Removed ${row.clientId} from the list`;
    },
  },
};

export function UnauthorizedClientsPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const reasons = useReasons();
  const [showing, setShowing] = useState<UnauthorizedClient | null>(null);
  const [deletingAll, setDeletingAll] = useState(false);
  const [fresh, setFresh] = useState<Map<string, number>>(new Map());
  const poll = usePollWhileOffline();
  const refused = useListPage<UnauthorizedClient, Filter>({
    resource: 'unauthorized-clients',
    filters: FILTERS,
    sort: { id: 'lastUpdate', desc: true },
    // The time fields hold the browser's local time; the API takes ISO-8601.
    toQuery: (f) => ({ ...f, from: localInputToIso(f.from), to: localInputToIso(f.to) }),
    refetchInterval: poll,
  });
  const { filters, setFilters, filterField, refresh, confirm } = refused;

  // Refusals often come in bursts; one refetch per second is enough to keep up.
  const pendingRefetch = useRef<ReturnType<typeof setTimeout> | null>(null);
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  const refetchSoon = useCallback(() => {
    if (pendingRefetch.current) return;
    pendingRefetch.current = setTimeout(() => {
      pendingRefetch.current = null;
      void refreshRef.current();
    }, 1000);
  }, []);
  useEffect(() => () => clearTimeout(pendingRefetch.current ?? undefined), []);

  useLiveEvents((event) => {
    if (event.type !== 'auth-failure') return;
    setFresh((map) => new Map(map).set(event.clientId, Date.now()));
    refetchSoon();
  });

  useEffect(() => {
    if (fresh.size === 0) return;
    const timer = setTimeout(() => {
      const now = Date.now();
      setFresh((map) => new Map([...map].filter(([, at]) => now - at < HIGHLIGHT_MS)));
    }, HIGHLIGHT_MS);
    return () => clearTimeout(timer);
  }, [fresh]);

  const catalogue = reasons.data;
  const columns = useMemo(() => buildColumns(catalogue, canWrite, setShowing, (row) => confirm('delete', row)), [catalogue, canWrite, confirm]);

  const activeFilters = (Object.keys(FILTERS) as Filter[]).filter((k) => filters[k] !== '').length;
  const anyFilter = activeFilters > 0;

  const reasonOptions = [
    { value: '', label: 'Any reason' },
    ...Object.entries(catalogue ?? {})
      .map(([code, r]) => ({ value: code, label: r.title }))
      .sort((a, b) => a.label.localeCompare(b.label)),
  ];

  const deleteAll = async () => {
    const result = await api.delete<{ deleted: number } | undefined>('/unauthorized-clients');
    toast(`Removed ${formatNumber(result?.deleted ?? 0)} unauthorized clients`);
    refused.setPage(0);
    await refresh();
  };

  const data = refused.list.data;
  return (
    <section aria-labelledby="page-title">
      <PageHeader
        title="Unauthorized clients"
        description="Clients whose connection was refused, newest first: one row per client id, updated on every new attempt. A successful login removes the row."
      >
        {canWrite && (
          <button type="button" className="btn btn-danger" onClick={() => setDeletingAll(true)} disabled={!data || data.totalElements === 0}>
            Delete all unauthorized clients
          </button>
        )}
      </PageHeader>

      <FilterPanel label="Filter unauthorized clients" active={activeFilters}>
        <DebouncedInput label="Client ID" {...filterField('clientId')} />
        <DebouncedInput label="Username" {...filterField('username')} />
        <DebouncedInput label="Client IP" {...filterField('ip')} />
        <SelectField label="Reason" {...filterField('reason')} options={reasonOptions} />
        <SelectField
          label="Password provided"
          {...filterField('passwordProvided')}
          options={BOOL_OPTIONS}
        />
        <SelectField label="TLS used" {...filterField('tlsUsed')} options={BOOL_OPTIONS} />
        <div className="field">
          <label htmlFor="uc-from">From</label>
          <input id="uc-from" name="from" type="datetime-local" value={filters.from} onChange={(e) => setFilters({ from: e.target.value })} />
        </div>
        <div className="field">
          <label htmlFor="uc-to">To</label>
          <input id="uc-to" name="to" type="datetime-local" value={filters.to} onChange={(e) => setFilters({ to: e.target.value })} />
        </div>
        <div className="filter-presets" role="group" aria-label="Time range">
          {RANGE_PRESETS.map((p) => (
            <button key={p.label} type="button" className="btn btn-small" onClick={() => setFilters({ from: toLocalInput(Date.now() - p.ms), to: '' })}>
              {p.label}
            </button>
          ))}
          {anyFilter && (
            <button
              type="button"
              className="btn btn-small btn-link"
              onClick={() => setFilters(NO_FILTERS)}
            >
              Clear filters
            </button>
          )}
        </div>
      </FilterPanel>

      <CrudList
        page={refused}
        label="Unauthorized clients"
        columns={columns}
        getRowId={(r) => r.clientId}
        actions={ACTIONS}
        rowClassName={(r) => (fresh.has(r.clientId) ? 'row-new' : undefined)}
        empty={
          anyFilter
            ? 'No refused client matches these filters.'
            : 'No refused connections. Clients that fail to authenticate will appear here as it happens.'
        }
      />

      <ReasonDialog row={showing} catalogue={catalogue} onClose={() => setShowing(null)} />
      <ConfirmDialog
        open={deletingAll}
        title="Delete all unauthorized clients?"
        message={<p>This removes all {formatNumber(data?.totalElements)} rows, not only the ones the filters show.</p>}
        confirmLabel="Delete all"
        onConfirm={deleteAll}
        onClose={() => setDeletingAll(false)}
      />
    </section>
  );
}

function buildColumns(
  catalogue: ReasonCatalogue | undefined,
  canWrite: boolean,
  show: (row: UnauthorizedClient) => void,
  remove: (row: UnauthorizedClient) => void,
): Columns<UnauthorizedClient> {
  const columns: Columns<UnauthorizedClient> = [
    column.accessor('lastUpdate', {
      header: 'Last update time',
      cell: (c) => (
        <time dateTime={isoTime(c.getValue())} title={formatAgo(c.getValue())}>
          {formatTime(c.getValue())}
        </time>
      ),
    }),
    column.accessor('clientId', { header: 'Client ID', cell: (c) => <code className="ident">{c.getValue()}</code> }),
    column.accessor('username', { header: 'Username', cell: (c) => c.getValue() ?? <span className="muted">—</span> }),
    column.accessor('passwordProvided', { header: 'Password', cell: (c) => <BoolBadge value={c.getValue()} /> }),
    column.accessor('tlsUsed', { header: 'TLS', cell: (c) => <BoolBadge value={c.getValue()} /> }),
    column.accessor('ip', { header: 'Client IP', cell: (c) => <code className="ident">{c.getValue()}</code> }),
    column.accessor('reason', {
      header: 'Reason',
      cell: (c) => {
        const row = c.row.original;
        const title = catalogue?.[row.reasonCode]?.title;
        // The stored reason usually names the catalogue title already.
        const text = title && !row.reason.includes(title) ? `${title}: ${row.reason}` : row.reason;
        return (
          <span className="reason-cell">
            <span className="reason-preview" title={text}>
              {truncate(text, REASON_PREVIEW)}
            </span>
            <button type="button" className="btn btn-small btn-link" onClick={() => show(row)} aria-label={`Show reason for ${row.clientId}`}>
              Show reason
            </button>
          </span>
        );
      },
    }),
    column.accessor('attempts', { header: 'Attempts', cell: (c) => formatNumber(c.getValue()) }),
    column.accessor('firstSeen', {
      header: 'First seen',
      cell: (c) => <time dateTime={isoTime(c.getValue())}>{formatTime(c.getValue())}</time>,
    }),
  ];
  if (canWrite) {
    columns.push(
      actionsColumn((row) => (
        <button type="button" className="btn btn-small btn-danger-outline" onClick={() => remove(row)} aria-label={`Delete ${row.clientId}`}>
          Delete
        </button>
      )),
    );
  }
  return columns;
}

function ReasonDialog({ row, catalogue, onClose }: { row: UnauthorizedClient | null; catalogue: ReasonCatalogue | undefined; onClose: () => void }) {
  const entry = row ? catalogue?.[row.reasonCode] : undefined;
  return (
    <Dialog
      open={row !== null}
      title={entry?.title ?? row?.reasonCode ?? 'Reason'}
      onClose={onClose}
      wide
      footer={
        <button type="button" className="btn" onClick={onClose}>
          Close
        </button>
      }
    >
      {row && (
        <div className="reason-detail">
          <dl className="facts">
            <dt>Client ID</dt>
            <dd>
              <code>{row.clientId}</code>
            </dd>
            <dt>Username</dt>
            <dd>{row.username ?? '—'}</dd>
            <dt>Client IP</dt>
            <dd>
              <code>{row.ip}</code>
            </dd>
            <dt>Attempts</dt>
            <dd>
              {formatNumber(row.attempts)} (first {formatTime(row.firstSeen)}, last {formatTime(row.lastUpdate)})
            </dd>
            <dt>Reason code</dt>
            <dd>
              <code>{row.reasonCode}</code>
              {entry && (
                <span className="muted">
                  {' '}
                  (CONNACK 0x{entry.mqtt5.toString(16).toUpperCase().padStart(2, '0')} in MQTT 5, return code {entry.mqtt3} in 3.1.1)
                </span>
              )}
            </dd>
          </dl>
          <h3>Full reason</h3>
          <p className="reason-full">{row.reason}</p>
          <h3>What it means</h3>
          <p>{entry?.explanation ?? 'This reason is not in the catalogue of this broker version.'}</p>
          <h3>What to do</h3>
          <p>{entry?.solution ?? 'Check the broker logs for this client.'}</p>
        </div>
      )}
    </Dialog>
  );
}
