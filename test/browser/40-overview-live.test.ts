import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connackOf, connectClient } from '../e2e/mqtt-clients';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { ADMIN, adminVars, apiClient, launchBrowser, login, screenshot, type BrowserHandle } from './harness';

let broker: BrokerHandle;
let browser: BrowserHandle;
beforeAll(async () => {
  [broker, browser] = await Promise.all([startBroker({ vars: adminVars({ ALLOW_ANONYMOUS: 'false', AUTH_PROVIDERS: 'basic' }) }), launchBrowser()]);
  const api = await apiClient(broker.url);
  await api.post('/credentials', { type: 'basic', name: 'plant', username: 'plant', password: 'plant-secret' });
});
afterAll(async () => {
  await browser?.close();
  await broker?.stop();
});

const number = (text: string | null) => Number((text ?? '').split('/')[0].replace(/[^\d]/g, ''));

describe('40 the overview charts move while a publisher runs', () => {
  it('counts the connected publisher, its messages and bytes, and refused connections', async () => {
    const watched = await browser.newPage({ width: 1366, height: 900 });
    const { page } = watched;
    await login(page, broker.url, ADMIN.username, ADMIN.password);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await expect.poll(() => page.getByTestId('stat-connected').textContent(), { timeout: 15_000 }).toMatch(/^\d/);
    const connectedBefore = number(await page.getByTestId('stat-connected').textContent());
    const messagesBefore = number(await page.getByTestId('stat-messages').textContent());
    const pointsBefore = Number(await page.locator('.chart-canvas').first().getAttribute('data-points'));

    const subscriber = await connectClient(broker.wsUrl, { clientId: 'overview-sub', username: 'plant', password: 'plant-secret' });
    await subscriber.subscribeAsync('plant/#', { qos: 0 });
    const publisher = await connectClient(broker.wsUrl, { clientId: 'overview-pub', username: 'plant', password: 'plant-secret' });
    let sent = 0;
    const timer = setInterval(() => {
      sent++;
      publisher.publish(`plant/line-${sent % 3}`, JSON.stringify({ seq: sent, temperature: 20 + (sent % 7) }));
    }, 100);
    try {
      await expect
        .poll(async () => number(await page.getByTestId('stat-connected').textContent()), { timeout: 30_000 })
        .toBeGreaterThanOrEqual(connectedBefore + 2);
      await expect
        .poll(async () => number(await page.getByTestId('stat-messages').textContent()), { timeout: 30_000 })
        .toBeGreaterThanOrEqual(messagesBefore + 20);
      // New samples reach the charts while the page stays open.
      await expect
        .poll(async () => Number(await page.locator('.chart-canvas').first().getAttribute('data-points')), { timeout: 30_000 })
        .toBeGreaterThanOrEqual(pointsBefore + 3);
      const label = await page.getByRole('img', { name: /^Messages per second\. Latest: In [\d.,]+, Out [\d.,]+$/ }).getAttribute('aria-label');
      const latestIn = Number(label!.match(/In ([\d.,]+)/)![1].replace(/,/g, ''));
      expect(latestIn).toBeGreaterThan(0);
      await screenshot(page, 'overview-live');
    } finally {
      clearInterval(timer);
      await publisher.endAsync();
      await subscriber.endAsync();
    }

    // A refused connection moves the failure ranking.
    await connackOf(broker.wsUrl, { clientId: 'overview-bad', username: 'plant', password: 'wrong', protocolVersion: 5 });
    const ips = page.getByRole('figure', { name: 'Top failing IPs' });
    await expect.poll(() => ips.textContent(), { timeout: 30_000 }).toContain('127.0.0.1');
    await screenshot(page, 'overview');
    watched.assertNoErrors();
    await page.close();
  });
});
