import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useAuth } from '../api/auth';
import { api, seg } from '../api/client';
import { useListPage } from '../api/list-page';
import type { BlockedClient, BlockKind } from '../api/types';
import { actionsColumn, CrudList, type ConfirmedAction } from '../components/CrudList';
import type { Columns, Features } from '../components/DataTable';
import { Dialog, FormError, FormFooter, saveItem, useSaveForm } from '../components/Dialog';
import { SelectField, TextField } from '../components/Fields';
import { FilterForm } from '../components/FilterPanel';
import { PageHeader } from '../components/PageHeader';
import { useToast } from '../components/Toasts';
import { formatAgo, formatTime, isoTime, localInputToIso, toLocalInput, toMillis } from '../lib/format';

const KINDS: { value: BlockKind; label: string; hint: string }[] = [
  { value: 'clientId', label: 'Client ID', hint: 'Exact client id' },
  { value: 'username', label: 'Username', hint: 'Exact username' },
  { value: 'ip', label: 'IP address', hint: 'e.g. 203.0.113.7 or 2001:db8::1' },
  { value: 'cidr', label: 'Network (CIDR)', hint: 'e.g. 203.0.113.0/24' },
  { value: 'clientIdRegex', label: 'Client ID pattern', hint: 'Regular expression, e.g. ^test-' },
  { value: 'usernameRegex', label: 'Username pattern', hint: 'Regular expression' },
];

const column = createColumnHelper<Features, BlockedClient>();

const ACTIONS: Record<'unblock', ConfirmedAction<BlockedClient>> = {
  unblock: {
    title: 'Unblock?',
    message: (b) => (
      <p>
        <code>{b.value}</code> may connect again.
      </p>
    ),
    confirmLabel: 'Unblock',
    run: async (b) => {
      await api.delete(`/blocked-clients/${seg(b.id)}`);
      return 'Unblocked';
    },
  },
};

export function BlockedClientsPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const [editing, setEditing] = useState<BlockedClient | 'new' | null>(null);
  const blocks = useListPage<BlockedClient, 'status'>({
    resource: 'blocked-clients',
    filters: { status: '' },
    sort: { id: 'createdAt', desc: true },
    refetchInterval: 15_000,
  });

  const { confirm } = blocks;
  const columns = useMemo<Columns<BlockedClient>>(() => {
    const cols: Columns<BlockedClient> = [
      column.accessor('kind', { header: 'Kind', cell: (c) => KINDS.find((k) => k.value === c.getValue())?.label ?? c.getValue() }),
      column.accessor('value', {
        header: 'Value',
        cell: (c) => (
          <>
            <code className="ident">{c.getValue()}</code>
            {c.row.original.ip !== null && <span className="muted"> from {c.row.original.ip}</span>}
          </>
        ),
      }),
      column.accessor('status', {
        header: 'Status',
        cell: (c) => <span className={c.getValue() === 'active' ? 'badge badge-danger' : 'badge'}>{c.getValue()}</span>,
      }),
      column.accessor('source', { header: 'Source', cell: (c) => (c.getValue() === 'auto' ? 'automatic ban' : 'manual') }),
      column.accessor('expiresAt', {
        header: 'Expires',
        cell: (c) =>
          c.getValue() ? (
            <time dateTime={isoTime(c.getValue())} title={formatTime(c.getValue())}>
              {formatAgo(c.getValue())}
            </time>
          ) : (
            'never'
          ),
      }),
      column.accessor((r) => r.description ?? '', { id: 'description', header: 'Description', cell: (c) => c.getValue() || <span className="muted">—</span> }),
      column.accessor('createdAt', {
        header: 'Created',
        cell: (c) => <time dateTime={isoTime(c.getValue())}>{formatTime(c.getValue())}</time>,
      }),
    ];
    if (canWrite) {
      cols.push(
        actionsColumn((b) => (
          <span className="row-actions">
            <button type="button" className="btn btn-small" onClick={() => setEditing(b)}>
              Edit
            </button>
            <button type="button" className="btn btn-small btn-danger-outline" onClick={() => confirm('unblock', b)}>
              Unblock
            </button>
          </span>
        )),
      );
    }
    return cols;
  }, [canWrite, confirm]);

  return (
    <section>
      <PageHeader
        title="Blocked clients"
        description="Checked before authentication: a blocked client is refused with Banned (0x8A). Automatic bans after repeated failures appear here too; a client id is banned only from the IP its failures came from, and an IPv6 client counts as its /64."
      >
        {canWrite && (
          <button type="button" className="btn btn-primary" onClick={() => setEditing('new')}>
            Block a client
          </button>
        )}
      </PageHeader>
      <FilterForm label="Filter blocked clients">
        <SelectField
          label="Status"
          {...blocks.filterField('status')}
          options={[
            { value: '', label: 'All' },
            { value: 'active', label: 'Active' },
            { value: 'expired', label: 'Expired' },
          ]}
        />
      </FilterForm>
      <CrudList page={blocks} label="Blocked clients" columns={columns} getRowId={(r) => r.id} actions={ACTIONS} empty="Nobody is blocked." />
      {editing !== null && (
        <BlockDialog
          entry={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(created) => {
            toast(created ? 'Client blocked' : 'Block saved');
            setEditing(null);
            void blocks.refresh();
          }}
        />
      )}
    </section>
  );
}

function BlockDialog({ entry, onClose, onSaved }: { entry: BlockedClient | null; onClose: () => void; onSaved: (created: boolean) => void }) {
  const [kind, setKind] = useState<BlockKind>(entry?.kind ?? 'clientId');
  const [value, setValue] = useState(entry?.value ?? '');
  const [ip, setIp] = useState(entry?.ip ?? '');
  const [description, setDescription] = useState(entry?.description ?? '');
  const initialExpiry = toMillis(entry?.expiresAt);
  const [expires, setExpires] = useState(initialExpiry ? toLocalInput(initialExpiry) : '');
  const { submit, error, busy, fieldError } = useSaveForm(async () => {
    const body = { kind, value: value.trim(), ip: kind === 'clientId' && ip.trim() ? ip.trim() : null, description: description || null, expiresAt: localInputToIso(expires) ?? null };
    await saveItem('/blocked-clients', entry?.id ?? null, body);
    onSaved(!entry);
  });

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
        {kind === 'clientId' && (
          <TextField label="From IP" name="ip" value={ip} onChange={setIp} hint="An address or a CIDR range (e.g. 2001:db8:1:2::/64). Empty blocks the client id from every IP." error={fieldError('ip')} />
        )}
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
