import { hashPassword } from '../../auth/passwords/password-hash';
import { auditInsert } from '../../db/queries/audit-log';
import { countAdminUsers, insertFirstAdmin } from '../../db/queries/admin-users';
import type { Db } from '../../db/queries/db';

export const MIN_ADMIN_PASSWORD_LENGTH = 12;

export type BootstrapResult = 'exists' | 'created' | 'missing-secrets' | 'weak-password';

/**
 * The first admin comes from the ADMIN_USERNAME / ADMIN_PASSWORD secrets,
 * created on first use while admin_users is empty. There is never a default
 * password: without the secrets nobody can sign in.
 */
export async function ensureFirstAdmin(db: Db, env: Record<string, unknown>): Promise<BootstrapResult> {
  if ((await countAdminUsers(db)) > 0) return 'exists';
  const username = typeof env.ADMIN_USERNAME === 'string' ? env.ADMIN_USERNAME.trim() : '';
  const password = typeof env.ADMIN_PASSWORD === 'string' ? env.ADMIN_PASSWORD : '';
  if (!username || !password) return 'missing-secrets';
  if (password.length < MIN_ADMIN_PASSWORD_LENGTH) {
    console.error(`ADMIN_PASSWORD is shorter than ${MIN_ADMIN_PASSWORD_LENGTH} characters; no admin account was created`);
    return 'weak-password';
  }
  const now = new Date();
  if (await insertFirstAdmin(db, username, await hashPassword(password), now)) {
    await db.batch([auditInsert(db, { actor: 'system', action: 'bootstrap', resource: 'admin-users', resourceId: null, detail: { username } }, now)]);
    return 'created';
  }
  return 'exists';
}
