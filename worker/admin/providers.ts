import { PROVIDER_TYPES, type ProviderType } from '../../auth/provider';
import { defaultProviderEntries, providerSettingsSchemas, SECRET_SETTINGS } from '../../auth/settings';
import { listAuthProviderRows, type AuthProviderValues } from '../../db/queries/auth-providers';
import type { Db } from '../../db/queries/db';

/**
 * The provider chain as the broker sees it: D1 rows override the defaults
 * that wrangler.toml vars give (AUTH_PROVIDERS, ALLOW_ANONYMOUS), provider by
 * provider, ordered by priority.
 */
export interface CurrentProvider {
  type: ProviderType;
  enabled: boolean;
  priority: number;
  /** Full settings including secrets: for writing back only, never for responses. */
  config: Record<string, unknown>;
  /** False when the stored settings no longer validate (the broker then keeps the provider disabled). */
  valid: boolean;
  updatedAt: Date | null;
}

export function isProviderType(value: string): value is ProviderType {
  return (PROVIDER_TYPES as readonly string[]).includes(value);
}

export async function currentProviders(db: Db, env: Record<string, unknown>): Promise<CurrentProvider[]> {
  const rows = new Map((await listAuthProviderRows(db)).map((r) => [r.type, r]));
  return defaultProviderEntries(env)
    .map((d): CurrentProvider => {
      const row = rows.get(d.type);
      if (!row) return { type: d.type, enabled: d.enabled, priority: d.priority, config: d.settings as Record<string, unknown>, valid: true, updatedAt: null };
      const parsed = providerSettingsSchemas[d.type].safeParse(row.config ?? {});
      return {
        type: d.type,
        enabled: parsed.success ? row.enabled : false,
        priority: row.priority,
        config: parsed.success ? (parsed.data as Record<string, unknown>) : (row.config ?? {}),
        valid: parsed.success,
        updatedAt: row.updatedAt,
      };
    })
    .sort((a, b) => a.priority - b.priority || PROVIDER_TYPES.indexOf(a.type) - PROVIDER_TYPES.indexOf(b.type));
}

export function secretFields(type: ProviderType): string[] {
  return SECRET_SETTINGS[type] ?? [];
}

/** What the API shows: settings without secrets, and which secrets are set. */
export function providerView(p: CurrentProvider) {
  const secrets = secretFields(p.type);
  const settings: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p.config)) if (!secrets.includes(k)) settings[k] = v;
  return {
    type: p.type,
    enabled: p.enabled,
    priority: p.priority,
    settings,
    secretsSet: secrets.filter((k) => typeof p.config[k] === 'string' && (p.config[k] as string).length > 0),
    valid: p.valid,
    updatedAt: p.updatedAt ? p.updatedAt.toISOString() : null,
  };
}

export function toValues(p: CurrentProvider): AuthProviderValues {
  return { type: p.type, enabled: p.enabled, priority: p.priority, config: p.config };
}
