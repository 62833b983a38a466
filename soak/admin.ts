import { randomBytes } from 'node:crypto';
import { adminSession } from '../test/support/admin-session';

/** An admin account made up for one run, so the soak can read GET /api/v1/stats. */
export function adminVars(): { vars: Record<string, string>; account: { username: string; password: string } } {
  const account = { username: 'soak-admin', password: randomBytes(18).toString('base64url') };
  return {
    vars: { ADMIN_JWT_SECRET: randomBytes(32).toString('hex'), ADMIN_USERNAME: account.username, ADMIN_PASSWORD: account.password },
    account,
  };
}

export interface ShardStats {
  startedAt: string;
  connections: number;
  connectionsTotal: number;
  messagesIn: number;
  dropped: number;
  authFailures: number;
}

export async function shardStats(baseUrl: string, account: { username: string; password: string }): Promise<ShardStats> {
  const { api } = await adminSession(baseUrl, account);
  const res = await api<ShardStats>('GET', '/stats');
  if (res.status !== 200) throw new Error(`GET /api/v1/stats answered ${res.status}`);
  return res.body;
}
