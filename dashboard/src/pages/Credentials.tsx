import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { Link } from 'wouter';
import { useAuth } from '../api/auth';
import { api, seg } from '../api/client';
import { useListPage } from '../api/list-page';
import type { CnRule, Credential, CredentialInput, CredentialType } from '../api/types';
import { actionsColumn, CrudList, type ConfirmedAction } from '../components/CrudList';
import type { Columns, Features } from '../components/DataTable';
import { Dialog, FormError, FormFooter, saveItem, useSaveForm } from '../components/Dialog';
import { BoolBadge, CheckboxField, DebouncedInput, linesToList, SelectField, TextAreaField, TextField } from '../components/Fields';
import { FilterForm } from '../components/FilterPanel';
import { PageHeader } from '../components/PageHeader';
import { useToast } from '../components/Toasts';
import { formatTime, isoTime } from '../lib/format';

const TYPE_LABELS: Record<CredentialType, string> = {
  basic: 'Basic (username / client id + password)',
  x509: 'X.509 certificate (CN)',
  scram: 'SCRAM (MQTT 5 enhanced auth)',
};

const column = createColumnHelper<Features, Credential>();

const ACTIONS: Record<'delete', ConfirmedAction<Credential>> = {
  delete: {
    title: 'Delete this credential?',
    message: (c) => (
      <p>
        Clients using <strong>{c.name}</strong> will be refused at their next connection.
      </p>
    ),
    confirmLabel: 'Delete',
    run: async (c) => {
      await api.delete(`/credentials/${seg(c.id)}`);
      return `Deleted credential ${c.name}`;
    },
  },
};

export function CredentialsPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const [editing, setEditing] = useState<Credential | 'new' | null>(null);
  const credentials = useListPage<Credential, 'type' | 'search'>({
    resource: 'credentials',
    filters: { type: '', search: '' },
    sort: { id: 'name', desc: false },
  });

  const { confirm } = credentials;
  const columns = useMemo<Columns<Credential>>(() => {
    const cols: Columns<Credential> = [
      column.accessor('name', { header: 'Name', cell: (c) => <strong>{c.getValue()}</strong> }),
      column.accessor('type', { header: 'Type', cell: (c) => <span className={`badge badge-${c.getValue()}`}>{c.getValue()}</span> }),
      column.accessor((r) => r.username ?? '', { id: 'username', header: 'Username', cell: (c) => c.getValue() || <span className="muted">—</span> }),
      column.accessor((r) => r.clientId ?? '', {
        id: 'clientId',
        header: 'Client ID',
        cell: (c) => (c.getValue() ? <code>{c.getValue()}</code> : <span className="muted">—</span>),
      }),
      column.accessor((r) => r.cnPattern ?? '', {
        id: 'cnPattern',
        header: 'CN pattern',
        cell: (c) => (c.getValue() ? <code>{c.getValue()}</code> : <span className="muted">—</span>),
      }),
      column.accessor((r) => (r.type === 'x509' ? null : r.type === 'scram' ? (r.hasScramKeys ?? null) : (r.hasPassword ?? null)), {
        id: 'hasPassword',
        header: 'Password set',
        cell: (c) => <BoolBadge value={c.getValue()} />,
      }),
      column.accessor((r) => r.updatedAt, {
        id: 'updatedAt',
        header: 'Updated',
        cell: (c) => <time dateTime={isoTime(c.getValue())}>{formatTime(c.getValue())}</time>,
      }),
    ];
    if (canWrite) {
      cols.push(
        actionsColumn((c) => (
          <span className="row-actions">
            <button type="button" className="btn btn-small" onClick={() => setEditing(c)} aria-label={`Edit ${c.name}`}>
              Edit
            </button>
            <button type="button" className="btn btn-small btn-danger-outline" onClick={() => confirm('delete', c)} aria-label={`Delete ${c.name}`}>
              Delete
            </button>
          </span>
        )),
      );
    }
    return cols;
  }, [canWrite, confirm]);

  const { filterField } = credentials;
  return (
    <section>
      <PageHeader
        title="Credentials"
        description={
          <>
            Who may connect. Topic permissions come from each credential's own rules and from the <Link href="/acl-rules">ACL rules</Link>, where a
            topic can be tested.
          </>
        }
      >
        {canWrite && (
          <button type="button" className="btn btn-primary" onClick={() => setEditing('new')}>
            New credential
          </button>
        )}
      </PageHeader>
      <FilterForm label="Filter credentials">
        <DebouncedInput label="Search" {...filterField('search')} placeholder="name, username, client id, CN" />
        <SelectField
          label="Type"
          {...filterField('type')}
          options={[{ value: '', label: 'All types' }, ...Object.keys(TYPE_LABELS).map((t) => ({ value: t, label: t }))]}
        />
      </FilterForm>
      <CrudList
        page={credentials}
        label="Credentials"
        columns={columns}
        getRowId={(r) => r.id}
        actions={ACTIONS}
        empty={canWrite ? 'No credentials yet. Create one so devices can connect.' : 'No credentials yet.'}
      />
      {editing !== null && (
        <CredentialDialog
          credential={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSaved={(name, created) => {
            toast(created ? `Created credential ${name}` : `Saved credential ${name}`);
            setEditing(null);
            void credentials.refresh();
          }}
        />
      )}
    </section>
  );
}

interface FormState {
  type: CredentialType;
  name: string;
  clientId: string;
  username: string;
  password: string;
  clearPassword: boolean;
  cnPattern: string;
  cnIsRegex: boolean;
  scramMechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  allowedClientIds: string;
  useRules: boolean;
  publish: string;
  subscribe: string;
  cnRules: { cnPattern: string; publish: string; subscribe: string }[];
}

/** The fields of FormState a person types into. */
type TextKey = { [K in keyof FormState]: string extends FormState[K] ? K : never }[keyof FormState];

function initialForm(c: Credential | null): FormState {
  return {
    type: c?.type ?? 'basic',
    name: c?.name ?? '',
    clientId: c?.clientId ?? '',
    username: c?.username ?? '',
    password: '',
    clearPassword: false,
    cnPattern: c?.cnPattern ?? '',
    cnIsRegex: c?.cnIsRegex ?? false,
    scramMechanism: c?.scramMechanism ?? 'SCRAM-SHA-256',
    allowedClientIds: (c?.allowedClientIds ?? []).join('\n'),
    useRules: c ? c.rules !== null && c.rules !== undefined : false,
    publish: (c?.rules?.publish ?? []).join('\n'),
    subscribe: (c?.rules?.subscribe ?? []).join('\n'),
    cnRules: (c?.cnRules ?? []).map((r: CnRule) => ({ cnPattern: r.cnPattern, publish: r.publish.join('\n'), subscribe: r.subscribe.join('\n') })),
  };
}

function toInput(f: FormState, editing: boolean): CredentialInput {
  const allowed = linesToList(f.allowedClientIds);
  const common = { name: f.name.trim(), allowedClientIds: allowed.length ? allowed : null };
  const rules = f.useRules ? { publish: linesToList(f.publish), subscribe: linesToList(f.subscribe) } : null;
  switch (f.type) {
    case 'basic':
      return {
        type: 'basic',
        ...common,
        username: f.username.trim() || null,
        rules,
        clientId: f.clientId.trim() || null,
        // Empty while editing keeps the stored password; the API never returns it.
        ...(f.password ? { password: f.password } : f.clearPassword || !editing ? { password: null } : {}),
      };
    case 'scram':
      // The username field is required for SCRAM, so it is never empty here.
      return { type: 'scram', ...common, username: f.username.trim(), rules, scramMechanism: f.scramMechanism, ...(f.password ? { password: f.password } : {}) };
    case 'x509':
      return {
        type: 'x509',
        ...common,
        cnPattern: f.cnPattern.trim(),
        cnIsRegex: f.cnIsRegex,
        cnRules: f.cnRules.length
          ? f.cnRules.map((r) => ({ cnPattern: r.cnPattern.trim(), publish: linesToList(r.publish), subscribe: linesToList(r.subscribe) }))
          : null,
      };
  }
}

function CredentialDialog({
  credential,
  onClose,
  onSaved,
}: {
  credential: Credential | null;
  onClose: () => void;
  onSaved: (name: string, created: boolean) => void;
}) {
  const [form, setForm] = useState<FormState>(() => initialForm(credential));
  const set = <K extends keyof FormState>(key: K, value: FormState[K]) => setForm((f) => ({ ...f, [key]: value }));
  const editing = credential !== null;
  const { submit, error, busy, fieldError } = useSaveForm(async () => {
    const input = toInput(form, editing);
    await saveItem('/credentials', credential?.id ?? null, input);
    onSaved(input.name, !editing);
  });
  /** Wires a text field to the form: its name, value and changes, and the API's error about it (`apiField` where the API names it otherwise). */
  const textField = (key: TextKey, apiField: string = key) => ({ name: key, value: form[key], onChange: (v: string) => set(key, v), error: fieldError(apiField) });

  const hasSecret = form.type !== 'x509';
  return (
    <Dialog open title={editing ? `Edit ${credential.name}` : 'New credential'} onClose={onClose} wide>
      <form className="form" onSubmit={submit} aria-label="Credential">
        <div className="form-grid">
          <SelectField
            label="Type"
            name="type"
            value={form.type}
            onChange={(v) => set('type', v as CredentialType)}
            options={(Object.keys(TYPE_LABELS) as CredentialType[])
              .filter((t) => !editing || t === form.type)
              .map((t) => ({ value: t, label: TYPE_LABELS[t] }))}
          />
          <TextField label="Name" {...textField('name')} required />
          {form.type === 'basic' && (
            <TextField
              label="Client ID"
              {...textField('clientId')}
              hint="Matched when the basic provider matches by client id (or both)."
            />
          )}
          {form.type !== 'x509' && (
            <TextField
              label="Username"
              {...textField('username')}
              required={form.type === 'scram'}
              autoComplete="off"
            />
          )}
          {hasSecret && (
            <TextField
              label="Password"
              {...textField('password')}
              type="password"
              required={form.type === 'scram' && !editing}
              autoComplete="new-password"
              hint={
                editing
                  ? credential.hasPassword
                    ? 'A password is set. Leave empty to keep it.'
                    : 'No password is set.'
                  : form.type === 'basic'
                    ? 'Leave empty for a credential that needs no password.'
                    : 'Stored only as SCRAM keys.'
              }
            />
          )}
          {form.type === 'basic' && editing && credential.hasPassword && (
            <CheckboxField label="Remove the password (no password required)" checked={form.clearPassword} onChange={(v) => set('clearPassword', v)} />
          )}
          {form.type === 'scram' && (
            <SelectField
              label="Mechanism"
              name="scramMechanism"
              value={form.scramMechanism}
              onChange={(v) => set('scramMechanism', v as FormState['scramMechanism'])}
              options={[
                { value: 'SCRAM-SHA-256', label: 'SCRAM-SHA-256' },
                { value: 'SCRAM-SHA-512', label: 'SCRAM-SHA-512' },
              ]}
            />
          )}
          {form.type === 'x509' && (
            <>
              <TextField
                label="CN pattern"
                {...textField('cnPattern')}
                required
                hint="Matched against the client certificate's CN, then its issuing CA's (when the client sends it and it really issued the certificate)."
              />
              <CheckboxField label="The CN pattern is a regular expression" checked={form.cnIsRegex} onChange={(v) => set('cnIsRegex', v)} />
            </>
          )}
        </div>
        <TextAreaField
          label="Allowed client IDs"
          {...textField('allowedClientIds')}
          rows={2}
          hint="One per line. Empty allows any client id."
        />
        {form.type !== 'x509' ? (
          <fieldset className="fieldset">
            <legend>Topic rules</legend>
            <CheckboxField label="This credential has its own publish/subscribe rules" checked={form.useRules} onChange={(v) => set('useRules', v)} />
            {form.useRules ? (
              <div className="form-grid">
                <TextAreaField
                  label="Publish (regular expressions)"
                  {...textField('publish', 'rules.publish')}
                  hint="One per line, matched against the whole topic, e.g. sensors/.*"
                />
                <TextAreaField
                  label="Subscribe (regular expressions)"
                  {...textField('subscribe', 'rules.subscribe')}
                  hint="One per line."
                />
              </div>
            ) : (
              <p className="muted">Without own rules, the ACL rules alone decide.</p>
            )}
          </fieldset>
        ) : (
          <fieldset className="fieldset">
            <legend>Rules per CN</legend>
            <p className="muted">The first rule whose CN pattern (a regular expression on the leaf CN) matches decides.</p>
            {form.cnRules.map((rule, i) => (
              <div className="cn-rule" key={i}>
                <TextField
                  label={`CN pattern ${i + 1}`}
                  value={rule.cnPattern}
                  onChange={(v) => set('cnRules', form.cnRules.map((r, j) => (j === i ? { ...r, cnPattern: v } : r)))}
                />
                <TextAreaField
                  label="Publish"
                  rows={2}
                  value={rule.publish}
                  onChange={(v) => set('cnRules', form.cnRules.map((r, j) => (j === i ? { ...r, publish: v } : r)))}
                />
                <TextAreaField
                  label="Subscribe"
                  rows={2}
                  value={rule.subscribe}
                  onChange={(v) => set('cnRules', form.cnRules.map((r, j) => (j === i ? { ...r, subscribe: v } : r)))}
                />
                <button type="button" className="btn btn-small btn-danger-outline" onClick={() => set('cnRules', form.cnRules.filter((_, j) => j !== i))}>
                  Remove rule {i + 1}
                </button>
              </div>
            ))}
            <button type="button" className="btn btn-small" onClick={() => set('cnRules', [...form.cnRules, { cnPattern: '.*', publish: '', subscribe: '' }])}>
              Add a CN rule
            </button>
          </fieldset>
        )}
        <FormError error={error} />
        <FormFooter busy={busy} submitLabel={editing ? 'Save' : 'Create'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}
