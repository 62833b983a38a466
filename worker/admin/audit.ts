import type { Context } from 'hono';
import { auditInsert } from '../../db/queries/audit-log';
import { auditFor, type AdminEnv } from './context';

/** For changes that happen in the broker rather than in D1 (sessions, retained messages): only the audit entry is written here. */
export async function recordAudit(c: Context<AdminEnv>, action: string, resource: string, resourceId: string | null = null, detail: Record<string, unknown> | null = null): Promise<void> {
  await c.var.db.batch([auditInsert(c.var.db, auditFor(c.var.caller, action, resource, resourceId, detail), new Date())]);
}
