/**
 * The start shared by the dashboard suites that watch password clients: a
 * broker that refuses anonymous clients and checks passwords with the basic
 * provider (automatic bans off, since every client here connects from
 * 127.0.0.1), one basic credential for the suite's clients, and a page
 * signed in as ADMIN.
 */
import type { BrokerHandle } from '../support/broker-process';
import { startSecuredBroker } from '../support/security-fixtures';
import { ADMIN, adminVars, apiClient, launchBrowser, login, type BrowserHandle, type WatchedPage } from './harness';

export type ApiClient = Awaited<ReturnType<typeof apiClient>>;

export interface SignedInSuite {
  broker: BrokerHandle;
  browser: BrowserHandle;
  api: ApiClient;
  watched: WatchedPage;
}

export async function startSignedInSuite(options: { credential: { username: string; password: string }; width: number }): Promise<SignedInSuite> {
  const [broker, browser] = await Promise.all([startSecuredBroker({ providers: 'basic', vars: adminVars() }), launchBrowser()]);
  const api = await apiClient(broker.url);
  const { username, password } = options.credential;
  await api.post('/credentials', { type: 'basic', name: username, username, password });
  const watched = await browser.newPage({ width: options.width, height: 900 });
  await login(watched.page, broker.url, ADMIN.username, ADMIN.password);
  return { broker, browser, api, watched };
}
