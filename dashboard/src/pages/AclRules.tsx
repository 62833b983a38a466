import { useQuery } from '@tanstack/react-query';
import { createColumnHelper } from '@tanstack/react-table';
import { useMemo, useState } from 'react';
import { useAuth } from '../api/auth';
import { api, errorMessage, seg, type Query } from '../api/client';
import { useListPage } from '../api/list-page';
import { queryKeys } from '../api/query-keys';
import type { AclAccess, AclPrincipal, AclRule, AclRuleInput, AclTestRequest, AclTestResult, Page } from '../api/types';
import { actionsColumn, CrudList, type ConfirmedAction } from '../components/CrudList';
import type { Columns, Features } from '../components/DataTable';
import { Dialog, FormError, FormFooter, saveItem, useSaveForm } from '../components/Dialog';
import { SelectField, TextField } from '../components/Fields';
import { PageHeader } from '../components/PageHeader';
import { useToast } from '../components/Toasts';
import { useSubmit } from '../lib/form-submit';
import { MAX_PAGE_SIZE } from '../../../worker/admin/contract/page';

const column = createColumnHelper<Features, AclRule>();

const ACCESS: { value: AclAccess; label: string }[] = [
  { value: 'read', label: 'read (subscribe)' },
  { value: 'write', label: 'write (publish)' },
  { value: 'readwrite', label: 'readwrite' },
  { value: 'deny', label: 'deny' },
];

const PRINCIPALS: { value: AclPrincipal; label: string }[] = [
  { value: 'user', label: 'A user (user section)' },
  { value: 'anonymous', label: 'Anonymous clients (topic before any user)' },
  { value: 'all', label: 'Everyone (pattern, %c and %u substituted)' },
];

function principalText(r: AclRule): string {
  if (r.principalType === 'user') return `user ${r.username ?? ''}`;
  if (r.principalType === 'anonymous') return 'anonymous';
  return 'everyone';
}

const ACTIONS: Record<'delete', ConfirmedAction<AclRule>> = {
  delete: {
    title: 'Delete this rule?',
    message: (r) => (
      <p>
        <code>
          {r.access} {r.topic}
        </code>{' '}
        for {principalText(r)}.
      </p>
    ),
    confirmLabel: 'Delete',
    run: async (r) => {
      await api.delete(`/acl-rules/${seg(r.id)}`);
      return 'Rule deleted';
    },
  },
};

/** The last rule in evaluation order, whose position a new rule follows. */
const LAST_RULE: Query = { sort: 'position', order: 'desc', page: 0, pageSize: 1 };

export function AclRulesPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const [editing, setEditing] = useState<AclRule | 'new' | null>(null);
  const [decidingRuleId, setDecidingRuleId] = useState<string | null>(null);
  const rules = useListPage<AclRule>({ resource: 'acl-rules', filters: {}, sort: { id: 'position', desc: false } });
  const last = useQuery({
    queryKey: queryKeys.list('acl-rules', LAST_RULE),
    queryFn: ({ signal }) => api.get<Page<AclRule>>('/acl-rules', LAST_RULE, signal),
    enabled: editing === 'new',
  });

  const { confirm, refresh } = rules;
  const columns = useMemo<Columns<AclRule>>(() => {
    /** Swaps a rule with its neighbour in evaluation order, whatever order the table shows. */
    const move = async (rule: AclRule, delta: -1 | 1) => {
      try {
        const { data: ordered } = await api.get<Page<AclRule>>('/acl-rules', { sort: 'position', order: 'asc', pageSize: MAX_PAGE_SIZE });
        const other = ordered[ordered.findIndex((r) => r.id === rule.id) + delta];
        if (other) {
          await api.put(`/acl-rules/${seg(rule.id)}`, { ...strip(rule), position: other.position });
          await api.put(`/acl-rules/${seg(other.id)}`, { ...strip(other), position: rule.position });
        }
      } catch (e) {
        toast(errorMessage(e), 'error');
      }
      await refresh();
    };
    const cols: Columns<AclRule> = [
      column.accessor('position', { header: '#' }),
      column.accessor('kind', { header: 'Kind' }),
      column.accessor((r) => principalText(r), { id: 'principal', header: 'Applies to' }),
      column.accessor('access', { header: 'Access', cell: (c) => <span className={`badge badge-access-${c.getValue()}`}>{c.getValue()}</span> }),
      column.accessor('topic', { header: 'Topic', cell: (c) => <code className="ident">{c.getValue()}</code> }),
      column.accessor((r) => r.comment ?? '', { id: 'comment', header: 'Comment', cell: (c) => c.getValue() || <span className="muted">—</span> }),
    ];
    if (canWrite) {
      cols.push(
        actionsColumn((r) => (
          <span className="row-actions">
            <button type="button" className="btn btn-small" onClick={() => move(r, -1)} aria-label={`Move rule ${r.position} up`}>
              ↑
            </button>
            <button type="button" className="btn btn-small" onClick={() => move(r, 1)} aria-label={`Move rule ${r.position} down`}>
              ↓
            </button>
            <button type="button" className="btn btn-small" onClick={() => setEditing(r)}>
              Edit
            </button>
            <button type="button" className="btn btn-small btn-danger-outline" onClick={() => confirm('delete', r)}>
              Delete
            </button>
          </span>
        )),
      );
    }
    return cols;
  }, [canWrite, confirm, refresh, toast]);

  return (
    <section>
      <PageHeader
        title="ACL rules"
        description={
          <>
            Topic permissions in mosquitto <code>acl_file</code> style, evaluated in order. <code>+</code> and <code>#</code> wildcards; in patterns{' '}
            <code>%c</code> is the client id and <code>%u</code> the username.
          </>
        }
      >
        {canWrite && (
          <button type="button" className="btn btn-primary" onClick={() => setEditing('new')}>
            New rule
          </button>
        )}
      </PageHeader>
      <TopicTester onDecided={setDecidingRuleId} />
      <CrudList
        page={rules}
        label="ACL rules"
        columns={columns}
        getRowId={(r) => r.id}
        actions={ACTIONS}
        rowClassName={(r) => (r.id === decidingRuleId ? 'row-decides' : undefined)}
        empty="No ACL rules: the default policy decides for clients without rules of their own."
      />
      {editing !== null && (editing !== 'new' || !last.isPending) && (
        <RuleDialog
          rule={editing === 'new' ? null : editing}
          nextPosition={(last.data?.data[0]?.position ?? 0) + 10}
          onClose={() => setEditing(null)}
          onSaved={(created) => {
            toast(created ? 'Rule created' : 'Rule saved');
            setEditing(null);
            void refresh();
          }}
        />
      )}
    </section>
  );
}

function strip(rule: AclRule): AclRuleInput {
  return {
    kind: rule.kind,
    principalType: rule.principalType,
    username: rule.username,
    access: rule.access,
    topic: rule.topic,
    position: rule.position,
    comment: rule.comment,
  };
}

const SOURCES: Record<string, string> = {
  'acl-rule': 'ACL rule',
  'identity-rules': "the credential's own rules",
  'default-policy': 'the default policy',
  sys: '$SYS protection',
  'broad-filter': 'the broad-filter check',
};

/** `decidedBy` from /acl-rules/test: {source, ruleId?, pattern?, reason}. */
export function describeDecision(decidedBy: unknown): { text: string; ruleId: string | null } {
  const d = (decidedBy && typeof decidedBy === 'object' ? decidedBy : {}) as Record<string, unknown>;
  const source = typeof d.source === 'string' ? (SOURCES[d.source] ?? d.source) : 'the broker';
  const parts = [source];
  if (typeof d.reason === 'string' && d.reason) parts.push(d.reason);
  else if (typeof d.pattern === 'string') parts.push(d.pattern);
  return { text: parts.join(': '), ruleId: d.source === 'acl-rule' && typeof d.ruleId === 'string' ? d.ruleId : null };
}

function TopicTester({ onDecided }: { onDecided: (ruleId: string | null) => void }) {
  const [form, setForm] = useState<AclTestRequest>({ clientId: '', username: '', action: 'publish', topic: '' });
  const [result, setResult] = useState<AclTestResult | null>(null);

  const { submit, error, busy } = useSubmit(async () => {
    try {
      const r = await api.post<AclTestResult>('/acl-rules/test', { ...form, username: form.username || null });
      setResult(r);
      onDecided(describeDecision(r.decidedBy).ruleId);
    } catch (e) {
      // A failed test decides nothing: no answer shown, no rule highlighted.
      setResult(null);
      onDecided(null);
      throw e;
    }
  });

  const decision = result ? describeDecision(result.decidedBy) : null;
  return (
    <section className="panel" aria-labelledby="tester-title">
      <h2 id="tester-title">Test a topic</h2>
      <form className="filters" onSubmit={submit} aria-label="Test a topic">
        <TextField label="Client ID" name="testClientId" value={form.clientId} onChange={(v) => setForm({ ...form, clientId: v })} required />
        <TextField label="Username" name="testUsername" value={form.username ?? ''} onChange={(v) => setForm({ ...form, username: v })} />
        <SelectField
          label="Action"
          name="testAction"
          value={form.action}
          onChange={(v) => setForm({ ...form, action: v as AclTestRequest['action'] })}
          options={[
            { value: 'publish', label: 'publish' },
            { value: 'subscribe', label: 'subscribe' },
          ]}
        />
        <TextField label="Topic" name="testTopic" value={form.topic} onChange={(v) => setForm({ ...form, topic: v })} required />
        <div className="field field-button">
          <button type="submit" className="btn btn-primary" disabled={busy}>
            {busy ? 'Testing…' : 'Test'}
          </button>
        </div>
      </form>
      <div aria-live="polite">
        {result && decision && (
          <p className={result.allowed ? 'test-result allowed' : 'test-result denied'} data-testid="acl-test-result">
            <strong>{result.allowed ? 'Allowed' : 'Denied'}</strong> — decided by {decision.text}
          </p>
        )}
        <FormError error={error} />
      </div>
    </section>
  );
}

function RuleDialog({
  rule,
  nextPosition,
  onClose,
  onSaved,
}: {
  rule: AclRule | null;
  nextPosition: number;
  onClose: () => void;
  onSaved: (created: boolean) => void;
}) {
  const [form, setForm] = useState<AclRuleInput>(
    rule
      ? strip(rule)
      : { kind: 'topic', principalType: 'user', username: '', access: 'readwrite', topic: '', position: nextPosition, comment: '' },
  );
  const { submit, error, busy, fieldError } = useSaveForm(async () => {
    const body: AclRuleInput = {
      ...form,
      // mosquitto: `pattern` lines apply to everyone, `topic` lines to the anonymous or user section they sit in.
      kind: form.principalType === 'all' ? 'pattern' : 'topic',
      username: form.principalType === 'user' ? form.username : null,
      comment: form.comment || null,
    };
    await saveItem('/acl-rules', rule?.id ?? null, body);
    onSaved(!rule);
  });

  return (
    <Dialog open title={rule ? 'Edit rule' : 'New rule'} onClose={onClose}>
      <form className="form" onSubmit={submit} aria-label="ACL rule">
        <SelectField
          label="Applies to"
          name="principalType"
          value={form.principalType}
          onChange={(v) => setForm({ ...form, principalType: v as AclPrincipal })}
          options={PRINCIPALS}
        />
        {form.principalType === 'user' && (
          <TextField label="Username" name="username" value={form.username ?? ''} onChange={(v) => setForm({ ...form, username: v })} required error={fieldError('username')} />
        )}
        <SelectField label="Access" name="access" value={form.access} onChange={(v) => setForm({ ...form, access: v as AclAccess })} options={ACCESS} />
        <TextField
          label="Topic"
          name="topic"
          value={form.topic}
          onChange={(v) => setForm({ ...form, topic: v })}
          required
          hint={form.principalType === 'all' ? 'e.g. devices/%c/# or users/%u/#' : 'e.g. sensors/+/temperature or sensors/#'}
          error={fieldError('topic')}
        />
        <TextField
          label="Position"
          name="position"
          type="number"
          value={String(form.position)}
          onChange={(v) => setForm({ ...form, position: Number(v) })}
          hint="Lower positions are evaluated first."
          error={fieldError('position')}
        />
        <TextField label="Comment" name="comment" value={form.comment ?? ''} onChange={(v) => setForm({ ...form, comment: v })} />
        <FormError error={error} />
        <FormFooter busy={busy} submitLabel={rule ? 'Save' : 'Create'} onCancel={onClose} />
      </form>
    </Dialog>
  );
}
