import { brokerSettingsSchema, defaultBrokerSettings, type BrokerSettings } from '../../auth/settings';
import { brokerSettings } from '../schema';
import type { AuditEntry } from './audit-log';
import { runConfigChange } from './config-version';
import type { Db } from './db';

/** Stored keys and their raw JSON values. */
export async function readBrokerSettingRows(db: Db): Promise<Record<string, unknown>> {
  const rows = await db.select().from(brokerSettings);
  const out: Record<string, unknown> = {};
  for (const r of rows) out[r.key] = r.value;
  return out;
}

/** Stored values over defaults; a stored value that no longer validates shows its default, as the broker uses it. */
export async function readBrokerSettings(db: Db): Promise<BrokerSettings> {
  const stored = await readBrokerSettingRows(db);
  const all = brokerSettingsSchema.safeParse({ ...defaultBrokerSettings, ...stored });
  if (all.success) return all.data;
  const settings: Record<string, unknown> = { ...defaultBrokerSettings };
  for (const [key, value] of Object.entries(stored)) {
    const one = brokerSettingsSchema.safeParse({ ...defaultBrokerSettings, [key]: value });
    if (one.success) settings[key] = (one.data as Record<string, unknown>)[key];
  }
  return settings as BrokerSettings;
}

/** Replaces the stored settings with these keys, in one change. */
export async function writeBrokerSettings(db: Db, values: Record<string, unknown>, audit: AuditEntry | null, now = new Date()): Promise<void> {
  await runConfigChange(
    db,
    [
      db.delete(brokerSettings),
      ...Object.entries(values).map(([key, value]) => db.insert(brokerSettings).values({ key, value, updatedAt: now })),
    ],
    audit,
    now,
  );
}
