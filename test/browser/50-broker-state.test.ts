import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connackOf, connectClient, type RecordingClient } from '../e2e/mqtt-clients';
import type { BrokerHandle } from '../support/broker-process';
import { startSignedInSuite, type ApiClient } from './signed-in-suite';
import { openPage, screenshot, type BrowserHandle, type WatchedPage } from './harness';

let broker: BrokerHandle;
let browser: BrowserHandle;
let watched: WatchedPage;
let page: Page;
let api: ApiClient;
const clients: RecordingClient[] = [];

beforeAll(async () => {
  ({ broker, browser, api, watched } = await startSignedInSuite({ credential: { username: 'line', password: 'line-secret' }, width: 1366 }));
  page = watched.page;
});
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await browser?.close();
  await broker?.stop();
});

const rowOf = (text: string) => page.locator('table.data-table tbody tr', { hasText: text });

describe('50 sessions, subscriptions, retained messages, blocks and providers', () => {
  it('lists sessions with their subscriptions (shared groups too) and queue depth, and disconnects one', async () => {
    const worker = await connectClient(broker.wsUrl, { clientId: 'line-worker', username: 'line', password: 'line-secret' });
    clients.push(worker);
    await worker.subscribeAsync('$share/packers/jobs/+', { qos: 1 });
    await worker.subscribeAsync('line/status', { qos: 0 });
    const persistent = await connectClient(broker.wsUrl, {
      clientId: 'line-archiver',
      username: 'line',
      password: 'line-secret',
      clean: false,
      properties: { sessionExpiryInterval: 3600 },
    });
    await persistent.subscribeAsync('line/#', { qos: 1 });
    await persistent.endAsync();
    const publisher = await connectClient(broker.wsUrl, { clientId: 'line-pub', username: 'line', password: 'line-secret' });
    await publisher.publishAsync('line/status', 'running', { qos: 1, retain: true });
    await publisher.publishAsync('line/count', '42', { qos: 1 });
    await publisher.endAsync();

    await openPage(page, 'Sessions');
    await rowOf('line-archiver').waitFor();
    expect(await rowOf('line-worker').locator('td.col-connected').textContent()).toBe('connected');
    expect(await rowOf('line-archiver').locator('td.col-connected').textContent()).toBe('disconnected');

    await rowOf('line-archiver').getByRole('button', { name: 'Details' }).click();
    const detail = page.getByRole('dialog', { name: 'Session line-archiver' });
    // Both QoS 1 messages to line/# wait in the disconnected session's queue.
    await expect.poll(() => detail.getByTestId('queue-depth').textContent()).toBe('2');
    expect(await detail.locator('tbody tr').allTextContents()).toEqual([expect.stringContaining('line/#')]);
    await screenshot(page, 'sessions-detail', { fullPage: false });
    await page.keyboard.press('Escape');

    await openPage(page, 'Subscriptions');
    const shared = rowOf('jobs/+');
    await shared.waitFor();
    expect(await shared.locator('td.col-shareGroup').textContent()).toBe('packers');
    await page.getByLabel('Kind').selectOption('true');
    await expect.poll(() => page.locator('table.data-table tbody tr').count()).toBe(1);
    await screenshot(page, 'subscriptions');

    await openPage(page, 'Sessions');
    await rowOf('line-worker').getByRole('button', { name: 'Disconnect' }).click();
    await page.getByRole('dialog', { name: 'Disconnect this client?' }).getByRole('button', { name: 'Disconnect' }).click();
    // Its session ends with the connection (clean start), so the row goes; the persistent one stays.
    await expect.poll(() => rowOf('line-worker').count(), { timeout: 15_000 }).toBe(0);
    await expect.poll(() => worker.connected).toBe(false);
    expect(await rowOf('line-archiver').count()).toBe(1);
  });

  it('views and deletes a retained message', async () => {
    await openPage(page, 'Retained messages');
    await page.getByLabel('Topic').fill('line/+');
    const row = rowOf('line/status');
    await row.waitFor();
    expect(await row.locator('td.col-payload').textContent()).toBe('running');
    await row.getByRole('button', { name: 'View' }).click();
    expect(await page.getByRole('dialog').locator('.payload-full').textContent()).toBe('running');
    await page.keyboard.press('Escape');
    await row.getByRole('button', { name: 'Delete' }).click();
    await page.getByRole('dialog', { name: 'Delete this retained message?' }).getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No retained messages.').waitFor();
    const { totalElements } = await api.get<{ totalElements: number }>('/retained');
    expect(totalElements).toBe(0);
  });

  it('blocks a client id: its next connection is refused as Client Blocked', async () => {
    await openPage(page, 'Blocked clients');
    await page.getByRole('button', { name: 'Block a client' }).click();
    const dialog = page.getByRole('dialog', { name: 'Block a client' });
    await dialog.getByLabel('Kind').selectOption('clientId');
    await dialog.getByRole('textbox', { name: 'Value', exact: true }).fill('rogue-7');
    await dialog.getByRole('textbox', { name: 'Description' }).fill('sends garbage');
    await dialog.getByRole('button', { name: 'Block', exact: true }).click();
    await rowOf('rogue-7').waitFor();
    expect(await rowOf('rogue-7').locator('td.col-status').textContent()).toBe('active');
    await screenshot(page, 'blocked-clients');

    const ack = await connackOf(broker.wsUrl, { clientId: 'rogue-7', username: 'line', password: 'line-secret', protocolVersion: 5 });
    expect((ack as { reasonCode?: number }).reasonCode).toBe(0x8a);
    await openPage(page, 'Unauthorized clients');
    await expect.poll(() => rowOf('rogue-7').locator('td.col-reason').textContent(), { timeout: 20_000 }).toContain('Client Blocked');
  });

  it('enables a provider and changes the order', async () => {
    await openPage(page, 'Authentication providers');
    const anonymous = page.getByRole('article', { name: /Anonymous/ });
    await anonymous.getByRole('button', { name: 'Enable' }).click();
    await anonymous.getByText('enabled', { exact: true }).waitFor();
    await page.getByRole('button', { name: 'Move Anonymous earlier' }).click();
    await expect
      .poll(async () => (await api.get<{ data: Array<{ type: string; enabled: boolean }> }>('/auth-providers')).data.slice(0, 2))
      .toEqual([expect.objectContaining({ type: 'anonymous', enabled: true }), expect.objectContaining({ type: 'basic', enabled: true })]);
    await screenshot(page, 'authentication-providers');
    // Anonymous now answers first: a client without credentials gets in.
    const anon = await connectClient(broker.wsUrl, { clientId: 'walk-in' });
    clients.push(anon);
    expect(anon.connected).toBe(true);
    watched.assertNoErrors();
  });
});
