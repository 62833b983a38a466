import { useQuery, useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { useAuth } from '../api/auth';
import { api, errorMessage } from '../api/client';
import { queryKeys } from '../api/query-keys';
import type { AuthProviderEntry, ProviderType } from '../api/types';
import { CheckboxField, linesToList, SelectField, TextAreaField, TextField } from '../components/Fields';
import { FormError } from '../components/Dialog';
import { PageHeader } from '../components/PageHeader';
import { Empty, ErrorState, Loading } from '../components/States';
import { useToast } from '../components/Toasts';

const DESCRIPTIONS: Record<ProviderType, string> = {
  anonymous: 'Accepts clients that send no credentials (mosquitto allow_anonymous). For development only.',
  basic: 'Username and/or client id with a password, checked against the credentials.',
  x509: 'Client certificates (mTLS) verified by Cloudflare, matched by CN against X.509 credentials.',
  jwt: 'A signed JSON Web Token sent as the MQTT password.',
  scram: 'SCRAM-SHA-256/512 through MQTT 5 enhanced authentication; the password never crosses the wire.',
};

const TITLES: Record<ProviderType, string> = { anonymous: 'Anonymous', basic: 'Basic', x509: 'X.509 certificates', jwt: 'JWT', scram: 'SCRAM' };

export function AuthProvidersPage() {
  const { canWrite } = useAuth();
  const toast = useToast();
  const queryClient = useQueryClient();
  const list = useQuery({
    queryKey: queryKeys.all('auth-providers'),
    // Every provider, always: a short fixed list, not a page.
    queryFn: ({ signal }) => api.get<{ data: AuthProviderEntry[] }>('/auth-providers', undefined, signal),
  });
  const providers = [...(list.data?.data ?? [])].sort((a, b) => a.priority - b.priority);

  const move = async (index: number, delta: -1 | 1) => {
    const order = providers.map((p) => p.type);
    const target = index + delta;
    if (target < 0 || target >= order.length) return;
    [order[index], order[target]] = [order[target], order[index]];
    try {
      await api.put('/auth-providers/order', { order });
      toast(`Order: ${order.join(' → ')}`);
    } catch (e) {
      toast(errorMessage(e), 'error');
    }
    await queryClient.invalidateQueries({ queryKey: queryKeys.all('auth-providers') });
  };

  return (
    <section>
      <PageHeader
        title="Authentication providers"
        description="Tried in this order for every CONNECT: each provider accepts, refuses, or passes the client to the next. Changes apply to the next connection."
      />
      {list.isPending ? (
        <Loading />
      ) : list.error && !list.data ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : providers.length === 0 ? (
        <Empty title="No providers configured" />
      ) : (
        <ol className="provider-list">
          {providers.map((p, i) => (
            <li key={p.type} className={p.enabled ? 'provider enabled' : 'provider'}>
              <ProviderCard
                entry={p}
                canWrite={canWrite}
                first={i === 0}
                last={i === providers.length - 1}
                onMove={(d) => move(i, d)}
                onSaved={(msg) => {
                  toast(msg);
                  void queryClient.invalidateQueries({ queryKey: queryKeys.all('auth-providers') });
                }}
              />
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

function ProviderCard({
  entry,
  canWrite,
  first,
  last,
  onMove,
  onSaved,
}: {
  entry: AuthProviderEntry;
  canWrite: boolean;
  first: boolean;
  last: boolean;
  onMove: (delta: -1 | 1) => void;
  onSaved: (message: string) => void;
}) {
  const [enabled, setEnabled] = useState(entry.enabled);
  const [settings, setSettings] = useState<Record<string, unknown>>(entry.settings ?? {});
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [open, setOpen] = useState(false);

  useEffect(() => {
    setEnabled(entry.enabled);
    setSettings(entry.settings ?? {});
  }, [entry]);

  const save = async (next: { enabled: boolean; settings: Record<string, unknown> }) => {
    setBusy(true);
    setError(null);
    try {
      await api.put(`/auth-providers/${entry.type}`, next);
      onSaved(`${TITLES[entry.type]} ${next.enabled ? 'enabled' : 'disabled'}; settings saved`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    void save({ enabled, settings: cleanSettings(entry.type, settings) });
  };

  const titleId = `provider-${entry.type}`;
  return (
    <article aria-labelledby={titleId}>
      <header className="provider-header">
        <div>
          <h2 id={titleId}>
            <span className="provider-rank">{entry.priority}</span> {TITLES[entry.type] ?? entry.type}{' '}
            <span className={entry.enabled ? 'badge badge-true' : 'badge'}>{entry.enabled ? 'enabled' : 'disabled'}</span>
            {entry.valid === false && <span className="badge badge-danger">settings invalid: kept disabled</span>}
          </h2>
          <p className="muted">{DESCRIPTIONS[entry.type]}</p>
        </div>
        {canWrite && (
          <div className="row-actions">
            <button type="button" className="btn btn-small" disabled={first} onClick={() => onMove(-1)} aria-label={`Move ${TITLES[entry.type]} earlier`}>
              ↑
            </button>
            <button type="button" className="btn btn-small" disabled={last} onClick={() => onMove(1)} aria-label={`Move ${TITLES[entry.type]} later`}>
              ↓
            </button>
            <button
              type="button"
              className={entry.enabled ? 'btn btn-small' : 'btn btn-small btn-primary'}
              disabled={busy}
              onClick={() => save({ enabled: !entry.enabled, settings: cleanSettings(entry.type, entry.settings ?? {}) })}
            >
              {entry.enabled ? 'Disable' : 'Enable'}
            </button>
          </div>
        )}
      </header>
      {entry.type !== 'anonymous' && (
        <button type="button" className="btn btn-small btn-link" aria-expanded={open} onClick={() => setOpen((o) => !o)}>
          {open ? 'Hide settings' : 'Settings'}
        </button>
      )}
      {open && (
        <form className="form provider-settings" onSubmit={submit} aria-label={`${TITLES[entry.type]} settings`}>
          <fieldset disabled={!canWrite} className="fieldset-plain">
            <CheckboxField label="Enabled" checked={enabled} onChange={setEnabled} />
            <SettingsFields type={entry.type} settings={settings} secretsSet={entry.secretsSet ?? []} onChange={setSettings} />
          </fieldset>
          <FormError error={error} />
          {canWrite && (
            <button type="submit" className="btn btn-primary" disabled={busy}>
              {busy ? 'Saving…' : 'Save settings'}
            </button>
          )}
        </form>
      )}
    </article>
  );
}

const str = (v: unknown) => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));
const list = (v: unknown) => (Array.isArray(v) ? v.join('\n') : '');

function SettingsFields({
  type,
  settings,
  secretsSet,
  onChange,
}: {
  type: ProviderType;
  settings: Record<string, unknown>;
  secretsSet: string[];
  onChange: (s: Record<string, unknown>) => void;
}) {
  const set = (key: string, value: unknown) => onChange({ ...settings, [key]: value });
  switch (type) {
    case 'basic':
      return (
        <div className="form-grid">
          <SelectField
            label="Match credentials by"
            value={str(settings.matchBy) || 'username'}
            onChange={(v) => set('matchBy', v)}
            options={[
              { value: 'username', label: 'username' },
              { value: 'clientId', label: 'client id' },
              { value: 'both', label: 'both' },
            ]}
          />
          <TextField
            label="Remember verified logins (seconds)"
            type="number"
            value={str(settings.verifiedCacheSeconds)}
            onChange={(v) => set('verifiedCacheSeconds', v === '' ? undefined : Number(v))}
            hint="Skips password hashing on reconnect storms; 0 turns it off."
          />
        </div>
      );
    case 'x509':
      return (
        <div className="form-grid">
          <CheckboxField label="Require a certificate" checked={settings.requireCertificate === true} onChange={(v) => set('requireCertificate', v)} />
          <CheckboxField label="Use the certificate CN as username" checked={settings.useIdentityAsUsername === true} onChange={(v) => set('useIdentityAsUsername', v)} />
          <TextAreaField
            label="Trusted proxies"
            rows={2}
            value={list(settings.trustedProxies)}
            onChange={(v) => set('trustedProxies', linesToList(v))}
            hint="IPs or CIDRs whose RFC 9440 Client-Cert headers are believed; one per line."
          />
        </div>
      );
    case 'jwt':
      return (
        <div className="form-grid">
          <SelectField
            label="Key source"
            value={str(settings.keySource) || 'hmac'}
            onChange={(v) => set('keySource', v)}
            options={[
              { value: 'hmac', label: 'HMAC secret' },
              { value: 'pem', label: 'Public key (PEM)' },
              { value: 'jwks', label: 'JWKS URL' },
            ]}
          />
          {(str(settings.keySource) || 'hmac') === 'hmac' && (
            <TextField
              label="HMAC secret"
              type="password"
              value={str(settings.hmacSecret)}
              onChange={(v) => set('hmacSecret', v || undefined)}
              autoComplete="new-password"
              hint={secretsSet.includes('hmacSecret') ? 'A secret is set. Leave empty to keep it.' : 'Write-only: it is never shown again.'}
            />
          )}
          {settings.keySource === 'pem' && (
            <TextAreaField label="Public key (PEM)" value={str(settings.publicKeyPem)} onChange={(v) => set('publicKeyPem', v || undefined)} />
          )}
          {settings.keySource === 'jwks' && (
            <>
              <TextField label="JWKS URL" type="url" value={str(settings.jwksUrl)} onChange={(v) => set('jwksUrl', v || undefined)} />
              <TextField label="JWKS cache (seconds)" type="number" value={str(settings.jwksCacheSeconds)} onChange={(v) => set('jwksCacheSeconds', v === '' ? undefined : Number(v))} />
            </>
          )}
          <TextField
            label="Algorithms"
            value={Array.isArray(settings.algorithms) ? settings.algorithms.join(', ') : ''}
            onChange={(v) => set('algorithms', v.split(',').map((s) => s.trim()).filter(Boolean))}
            hint="Comma-separated, e.g. HS256, RS256"
          />
          <TextField label="Issuer" value={str(settings.issuer)} onChange={(v) => set('issuer', v || undefined)} />
          <TextField label="Audience" value={str(settings.audience)} onChange={(v) => set('audience', v || undefined)} />
          <TextField
            label="Clock tolerance (seconds)"
            type="number"
            value={str(settings.clockToleranceSeconds)}
            onChange={(v) => set('clockToleranceSeconds', v === '' ? undefined : Number(v))}
          />
          <TextAreaField
            label="Required claims"
            rows={3}
            value={Object.entries((settings.requiredClaims as Record<string, string>) ?? {})
              .map(([k, v]) => `${k}=${v}`)
              .join('\n')}
            onChange={(v) =>
              set(
                'requiredClaims',
                Object.fromEntries(
                  linesToList(v)
                    .map((line) => [line.slice(0, line.indexOf('=')).trim(), line.slice(line.indexOf('=') + 1).trim()])
                    .filter(([k]) => k),
                ),
              )
            }
            hint="claim=value per line; ${clientId} and ${username} are substituted."
          />
          <TextField label="Username claim" value={str(settings.usernameClaim)} onChange={(v) => set('usernameClaim', v || undefined)} />
          <TextField label="Publish claim" value={str(settings.publishClaim)} onChange={(v) => set('publishClaim', v || undefined)} />
          <TextField label="Subscribe claim" value={str(settings.subscribeClaim)} onChange={(v) => set('subscribeClaim', v || undefined)} />
          <CheckboxField
            label="Let the next provider try when the password is not a JWT"
            checked={settings.skipWhenNoToken !== false}
            onChange={(v) => set('skipWhenNoToken', v)}
          />
        </div>
      );
    case 'scram':
      return (
        <fieldset className="fieldset">
          <legend>Mechanisms</legend>
          {(['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const).map((m) => {
            const current = Array.isArray(settings.mechanisms) ? (settings.mechanisms as string[]) : ['SCRAM-SHA-256', 'SCRAM-SHA-512'];
            return (
              <CheckboxField
                key={m}
                label={m}
                checked={current.includes(m)}
                onChange={(on) => set('mechanisms', on ? [...new Set([...current, m])] : current.filter((x) => x !== m))}
              />
            );
          })}
        </fieldset>
      );
    default:
      return null;
  }
}

/** Empty optional fields are left out; an omitted secret keeps its stored value. */
function cleanSettings(_type: ProviderType, settings: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) {
    if (value === undefined || value === '') continue;
    out[key] = value;
  }
  return out;
}
