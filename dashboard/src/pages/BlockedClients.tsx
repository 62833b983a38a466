import { useQuery, useQueryClient } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState, type FormEvent } from 'react';
import { useAuth } from '../api/auth';
import { api, ApiError, seg } from '../api/client';
import { readList } from '../api/queries';
import type { BlockedClient, BlockKind } from '../api/types';
import { DataTable, type Columns, type Features, type Sort } from '../components/DataTable';
import { ConfirmDialog, Dialog, FormError, FormFooter } from '../components/Dialog';
import { SelectField, TextField } from '../components/Fields';
import { PageHeader } from '../components/PageHeader';
import { useToast } from '../components/Toasts';
import { formatAgo, formatTime, isoTime, localInputToIso, toLocalInput, toMillis } from '../lib/format';
import { useUrlState } from '../lib/url-state';

const KINDS: { value: BlockKind; label: string; hint: string }[] = [
  { value: 'clientId', label: 'Client ID', hint: 'Exact client id' },
  { value: 'username', label: 'Username', hint: 'Exact username' },
  { value: 'ip', label: 'IP address', hint: 'e.g. 203.0.113.7 or 2001:db8::1' },
  { value: 'cidr', label: 'Network (CIDR)', hint: 'e.g. 203.0.113.0/24' },
  { value: 'clientIdRegex', label: 'Client ID pattern', hint: 'Regular expression, e.g. ^test-' },
  { value: 'usernameRegex', label: 'Username pattern', hint: 'Regular expression' },
];

const column = createColumnHelper<Features, BlockedClient>();

function statusOf(b: BlockedClient): string {
  if (b.status) return b.status;
  const expires = toMillis(b.expiresAt);
  return expires !== null && expires <= Date.now() ? 'expired' : 'active';
}

export function BlockedClientsPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const queryClient = useQueryClient();
  const [state, setState] = useUrlState({ sort: 'createdAt', order: 'desc', status: '' });
  const [editing, setEditing] = useState<BlockedClient | 'new' | null>(null);
  const [deleting, setDeleting] = useState<BlockedClient | null>(null);

  const list = useQuery({
    queryKey: ['blocked-clients', state.status],
    queryFn: ({ signal }) => api.get<unknown>('/blocked-clients', { status: state.status, pageSize: 500 }, signal).then((b) => readList<BlockedClient>(b)),
    refetchInterval: 15_000,
  });

  const columns = useMemo<Columns<BlockedClient>>(() => {
    const cols: Columns<BlockedClient> = [
      column.accessor('kind', { header: 'Kind', cell: (c) => KINDS.find((k) => k.value === c.getValue())?.label ?? c.getValue() }),
      column.accessor('value', { header: 'Value', cell: (c) => <code className="ident">{c.getValue()}</code> }),
      column.accessor((r) => statusOf(r), {
        id: 'status',
        header: 'Status',
        cell: (c) => <span className={c.getValue() === 'active' ? 'badge badge-danger' : 'badge'}>{c.getValue()}</span>,
      }),
      column.accessor('source', { header: 'Source', cell: (c) => (c.getValue() === 'auto' ? 'automatic ban' : 'manual') }),
      column.accessor((r) => toMillis(r.expiresAt) ?? Number.MAX_SAFE_INTEGER, {
        id: 'expiresAt',
        header: 'Expires',
        cell: (c) =>
          c.row.original.expiresAt ? (
            <time dateTime={isoTime(c.row.original.expiresAt)} title={formatTime(c.row.original.expiresAt)}>
              {formatAgo(c.row.original.expiresAt)}
            </time>
          ) : (
            'never'
          ),
      }),
      column.accessor((r) => r.description ?? '', { id: 'description', header: 'Description', cell: (c) => c.getValue() || <span className="muted">—</span> }),
      column.accessor((r) => toMillis(r.createdAt) ?? 0, {
        id: 'createdAt',
        header: 'Created',
        cell: (c) => <time dateTime={isoTime(c.row.original.createdAt)}>{formatTime(c.row.original.createdAt)}</time>,
      }),
    ];
    if (canWrite) {
      cols.push(
        column.display({
          id: 'actions',
          header: () => <span className="visually-hidden">Actions</span>,
          cell: (c) => (
            <span className="row-actions">
              <button type="button" className="btn btn-small" onClick={() => setEditing(c.row.original)}>
                Edit
              </button>
              <button type="button" className="btn btn-small btn-danger-outline" onClick={() => setDeleting(c.row.original)}>
                Unblock
              </button>
            </span>
          ),
        }),
      );
    }
    return cols;
  }, [canWrite]);

  const sort: Sort | null = state.sort ? { id: state.sort, desc: state.order === 'desc' } : null;
  return (
    <section>
      <PageHeader
        title="Blocked clients"
        description="Checked before authentication: a blocked client is refused with Banned (0x8A). Automatic bans after repeated failures appear here too."
      >
        {canWrite && (
          <button type="button" className="btn btn-primary" onClick={() => setEditing('new')}>
            Block a client
          </button>
        )}
      </PageHeader>
      <form className="filters" role="search" aria-label="Filter blocked clients" onSubmit={(e) => e.preventDefault()}>
        <SelectField
          label="Status"
          name="status"
          value={state.status}
          onChange={(v) => setState({ status: v })}
          options={[
            { value: '', label: 'All' },
            { value: 'active', label: 'Active' },
            { value: 'expired', label: 'Expired' },
          ]}
        />
      </form>
      <DataTable
        label="Blocked clients"
        columns={columns}
        data={list.data?.rows}
        sort={sort}
        onSortChange={(s) => setState({ sort: s?.id ?? '', order: s?.desc ? 'desc' : 'asc' })}
        getRowId={(r) => r.id}
        isPending={list.isPending}
        error={list.error}
        onRetry={() => void list.refetch()}
        empty="Nobody is blocked."
      />
      {editing !== null && (
        <BlockDialog
          entry={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(created) => {
            toast(created ? 'Client blocked' : 'Block saved');
            setEditing(null);
            void queryClient.invalidateQueries({ queryKey: ['blocked-clients'] });
          }}
        />
      )}
      <ConfirmDialog
        open={deleting !== null}
        title="Unblock?"
        message={
          <p>
            <code>{deleting?.value}</code> may connect again.
          </p>
        }
        confirmLabel="Unblock"
        onConfirm={async () => {
          await api.delete(`/blocked-clients/${seg(deleting!.id)}`);
          toast('Unblocked');
          await queryClient.invalidateQueries({ queryKey: ['blocked-clients'] });
        }}
        onClose={() => setDeleting(null)}
      />
    </section>
  );
}

function BlockDialog({ entry, onClose, onSaved }: { entry: BlockedClient | null; onClose: () => void; onSaved: (created: boolean) => void }) {
  const [kind, setKind] = useState<BlockKind>(entry?.kind ?? 'clientId');
  const [value, setValue] = useState(entry?.value ?? '');
  const [description, setDescription] = useState(entry?.description ?? '');
  const initialExpiry = toMillis(entry?.expiresAt);
  const [expires, setExpires] = useState(initialExpiry ? toLocalInput(initialExpiry) : '');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const fieldError = (field: string) => (error instanceof ApiError && error.field === field ? error.message : null);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const body = { kind, value: value.trim(), description: description || null, expiresAt: localInputToIso(expires) ?? null };
    try {
      if (entry) await api.put(`/blocked-clients/${seg(entry.id)}`, body);
      else await api.post('/blocked-clients', body);
      onSaved(!entry);
    } catch (e) {
      setError(e);
      setBusy(false);
    }
  };

  return (
    <Dialog open title={entry ? 'Edit block' : 'Block a client'} onClose={onClose}>
      <form className="form" onSubmit={submit} aria-label="Block">
        <SelectField label="Kind" name="kind" value={kind} onChange={(v) => setKind(v as BlockKind)} options={KINDS} />
        <TextField
          label="Value"
          name="value"
          value={value}
          onChange={setValue}
          required
          hint={KINDS.find((k) => k.value === kind)?.hint}
          error={fieldError('value')}
        />
        <div className="field">
          <label htmlFor="block-expires">Expires</label>
          <input id="block-expires" name="expiresAt" type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />
          <small className="field-hint">Empty blocks until removed.</small>
        </div>
        <TextField label="Description" name="description" value={description} onChange={setDescription} />
        <FormError error={error} />
        <FormFooter busy={busy} submitLabel={entry ? 'Save' : 'Block'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}
