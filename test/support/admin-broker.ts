/**
 * A test broker with a dashboard admin, and a session as that admin. The
 * first admin comes from the ADMIN_USERNAME / ADMIN_PASSWORD secrets, passed
 * here as vars the way `wrangler secret put` passes them in production.
 */
import { adminSession, type AdminAccount, type AdminCall } from './admin-session';
import { startBroker, type BrokerHandle } from './broker-process';

/** Tests only: the key admin tokens are signed with. */
const TEST_JWT_SECRET = 'e2e-admin-jwt-secret-0123456789abcdef';

/** `vars` plus the secrets that make `account` the broker's first admin. */
export function adminVars(account: AdminAccount, vars: Record<string, string> = {}): Record<string, string> {
  return {
    ADMIN_JWT_SECRET: TEST_JWT_SECRET,
    ADMIN_USERNAME: account.username,
    ADMIN_PASSWORD: account.password,
    ...vars,
  };
}

/** Starts a broker whose first admin is `account` and logs in as it; a failed login stops the broker again. */
export async function startAdminBroker(account: AdminAccount, vars: Record<string, string> = {}): Promise<{ broker: BrokerHandle; api: AdminCall }> {
  const broker = await startBroker({ vars: adminVars(account, vars) });
  try {
    const { api } = await adminSession(broker.url, account);
    return { broker, api };
  } catch (error) {
    await broker.stop();
    throw error;
  }
}
