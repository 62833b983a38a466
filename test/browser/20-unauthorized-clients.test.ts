import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL_REASONS } from '../../auth/reasons';
import { connackOf } from '../e2e/mqtt-clients';
import type { BrokerHandle } from '../support/broker-process';
import { startSignedInSuite, type ApiClient } from './signed-in-suite';
import { ADMIN, login, openPage, screenshot, type BrowserHandle, type WatchedPage } from './harness';

let broker: BrokerHandle;
let browser: BrowserHandle;
let watched: WatchedPage;
let page: Page;
let api: ApiClient;

beforeAll(async () => {
  ({ broker, browser, api, watched } = await startSignedInSuite({ credential: { username: 'boiler', password: 'boiler-secret' }, width: 1440 }));
  page = watched.page;
});
afterAll(async () => {
  await browser?.close();
  await broker?.stop();
});

/** The client ids in the table, top to bottom. */
async function tableClientIds(): Promise<string[]> {
  const rows = await page.locator('table.data-table tbody tr').all();
  return Promise.all(rows.map(async (r) => (await r.getAttribute('data-row-id')) ?? ''));
}

async function waitForRows(expected: string[], timeout = 20_000): Promise<void> {
  await expect.poll(async () => (await tableClientIds()).sort(), { timeout }).toEqual([...expected].sort());
}

function row(clientId: string) {
  return page.locator(`table.data-table tbody tr[data-row-id="${clientId}"]`);
}

const refused = [
  { clientId: 'boiler-livingroom', username: 'boiler', password: 'wrong-1', protocolVersion: 5 as const, reason: 'PASSWORD_DOES_NOT_MATCH' },
  { clientId: 'boiler-kitchen', username: 'boiler', password: 'wrong-2', protocolVersion: 4 as const, reason: 'PASSWORD_DOES_NOT_MATCH' },
  { clientId: 'scanner-7f3a', username: 'admin', password: 'admin123', protocolVersion: 5 as const, reason: 'NO_CREDENTIALS_FOUND' },
  { clientId: 'probe-anon', username: undefined, password: undefined, protocolVersion: 4 as const, reason: 'ANONYMOUS_NOT_ALLOWED' },
];

describe('20 Unauthorized Clients, from real refused MQTT connections', () => {
  it('starts empty, then shows refused connections as they happen without a reload', async () => {
    await openPage(page, 'Unauthorized clients');
    await page.getByText(/No refused connections/).waitFor();
    // Rows below arrive through the live events socket, not through polling.
    await expect.poll(() => page.locator('.live-status').textContent()).toBe('Live');

    for (const r of refused) {
      const ack = await connackOf(broker.wsUrl, { clientId: r.clientId, username: r.username, password: r.password, protocolVersion: r.protocolVersion });
      expect(ack.cmd).toBe('connack');
    }
    // The same client failing again updates its row rather than adding one.
    await connackOf(broker.wsUrl, { clientId: 'boiler-livingroom', username: 'boiler', password: 'wrong-3', protocolVersion: 5 });

    await waitForRows(refused.map((r) => r.clientId));
    const cells = async (clientId: string) => (await row(clientId).locator('td').allTextContents()).map((t) => t.trim());
    const living = await cells('boiler-livingroom');
    // Columns: last update, client id, username, password, TLS, IP, reason, attempts, first seen, actions.
    // TLS shows what the broker stored (local wrangler dev reports a TLS version even for ws://).
    const [stored] = await broker.d1("SELECT tls_used FROM unauthorized_clients WHERE client_id = 'boiler-livingroom'");
    expect(living.slice(1, 6)).toEqual(['boiler-livingroom', 'boiler', 'true', stored.tls_used ? 'true' : 'false', '127.0.0.1']);
    expect(living[6]).toContain('Password Does Not Match');
    expect(living[7]).toBe('2');
    const anon = await cells('probe-anon');
    expect(anon.slice(2, 4)).toEqual(['—', 'false']);
    expect(anon[6]).toContain('Anonymous Not Allowed');
    // Newest first by default.
    expect((await tableClientIds())[0]).toBe('boiler-livingroom');
    await screenshot(page, 'unauthorized-clients-live');
  });

  it('records a realistic screenshot for the README', async () => {
    await page.setViewportSize({ width: 1600, height: 760 });
    await screenshot(page, 'unauthorized-clients', { path: path.resolve('docs/images/unauthorized-clients.png'), fullPage: false });
    await page.setViewportSize({ width: 1440, height: 900 });
  });

  it('filters by username, password provided, reason and IP', async () => {
    await page.getByLabel('Username').fill('boiler');
    await waitForRows(['boiler-livingroom', 'boiler-kitchen']);
    expect(new URL(page.url()).searchParams.get('username')).toBe('boiler');
    await page.getByLabel('Username').fill('');
    await waitForRows(refused.map((r) => r.clientId));

    await page.getByLabel('Password provided').selectOption('false');
    await waitForRows(['probe-anon']);
    await page.getByLabel('Password provided').selectOption('');

    await page.getByLabel('Reason', { exact: true }).selectOption('NO_CREDENTIALS_FOUND');
    await waitForRows(['scanner-7f3a']);
    await page.getByLabel('Reason', { exact: true }).selectOption('');

    await page.getByLabel('Client IP').fill('192.0.2.1');
    await page.getByText('No refused client matches these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await waitForRows(refused.map((r) => r.clientId));
  });

  it('sorts on the columns, ascending and descending', async () => {
    const header = (name: string) => page.getByRole('columnheader', { name }).getByRole('button');
    await header('Client ID').click();
    await expect.poll(tableClientIds).toEqual(['boiler-kitchen', 'boiler-livingroom', 'probe-anon', 'scanner-7f3a']);
    await header('Client ID').click();
    await expect.poll(tableClientIds).toEqual(['scanner-7f3a', 'probe-anon', 'boiler-livingroom', 'boiler-kitchen']);
    await header('Attempts').click();
    await expect.poll(async () => (await tableClientIds())[0]).toBe('boiler-livingroom');
  });

  it('"Show reason" opens the full text with the plain-words explanation and the suggested fix', async () => {
    await page.getByRole('button', { name: 'Show reason for scanner-7f3a' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const reason = REFUSAL_REASONS.NO_CREDENTIALS_FOUND;
    expect(await dialog.getByRole('heading', { level: 2 }).textContent()).toBe(reason.title);
    const text = await dialog.textContent();
    expect(text).toContain(reason.explanation);
    expect(text).toContain(reason.solution);
    expect(text).toContain('NO_CREDENTIALS_FOUND');
    const stored = await broker.d1("SELECT reason FROM unauthorized_clients WHERE client_id = 'scanner-7f3a'");
    expect(await dialog.locator('.reason-full').textContent()).toBe(stored[0].reason);
    await screenshot(page, 'unauthorized-clients-reason', { fullPage: false });
    // Escape closes it and gives focus back to the button that opened it.
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    expect(await page.evaluate('document.activeElement?.getAttribute("aria-label")')).toBe('Show reason for scanner-7f3a');
  });

  it('deletes one row after confirmation', async () => {
    await page.getByRole('button', { name: 'Delete probe-anon' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete this row?' });
    // Cancel first: nothing happens.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    expect(await row('probe-anon').count()).toBe(1);

    await page.getByRole('button', { name: 'Delete probe-anon' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await waitForRows(['boiler-livingroom', 'boiler-kitchen', 'scanner-7f3a']);
    expect(await broker.d1("SELECT client_id FROM unauthorized_clients WHERE client_id = 'probe-anon'")).toEqual([]);
  });

  it('deletes all after confirmation', async () => {
    await page.getByRole('button', { name: 'Delete all unauthorized clients' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete all unauthorized clients?' });
    expect(await dialog.textContent()).toContain('3 rows');
    await dialog.getByRole('button', { name: 'Delete all' }).click();
    await page.getByText(/No refused connections/).waitFor();
    expect(await broker.d1('SELECT COUNT(*) AS n FROM unauthorized_clients')).toEqual([{ n: 0 }]);
    watched.assertNoErrors();
  });

  it('falls back to polling when the live events socket is unavailable', async () => {
    const fallback = await browser.newPage({ width: 1366, height: 900 });
    // The events socket is refused before it reaches the Worker, as a proxy without WebSocket support would.
    await fallback.page.routeWebSocket(/\/api\/v1\/events/, (ws) => ws.close({ code: 1011, reason: 'no websockets here' }));
    await login(fallback.page, broker.url, ADMIN.username, ADMIN.password);
    await openPage(fallback.page, 'Unauthorized clients');
    await expect.poll(() => fallback.page.locator('.live-status').textContent()).toBe('Polling');
    await connackOf(broker.wsUrl, { clientId: 'late-night-probe', username: 'boiler', password: 'nope', protocolVersion: 5 });
    await fallback.page.locator('table.data-table tbody tr[data-row-id="late-night-probe"]').waitFor({ timeout: 20_000 });
    fallback.assertNoErrors();
    await fallback.page.close();
  });
});
