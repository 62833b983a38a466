import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardIndexFor } from '../../worker/gateway/shard-picker';
import { connectClient, type RecordingClient } from '../e2e/mqtt-clients';
import { idsOnShards } from '../support/shard-ids';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { ADMIN, adminVars, launchBrowser, login, openPage, screenshot, type BrowserHandle } from './harness';

const SHARDS = 4;
let broker: BrokerHandle;
let browser: BrowserHandle;
const clients: RecordingClient[] = [];

beforeAll(async () => {
  [broker, browser] = await Promise.all([startBroker({ vars: adminVars({ BROKER_SHARDS: String(SHARDS) }) }), launchBrowser()]);
});
afterAll(async () => {
  for (const c of clients) await c.endAsync(true).catch(() => undefined);
  await browser?.close();
  await broker?.stop();
});

const count = (text: string | null) => Number((text ?? '').replace(/[^\d.]/g, ''));

describe('60 the shards of a four-shard broker', () => {
  it('lists every shard with its load, and the session list says where each session lives', async () => {
    // Two clients on shard 1, one on 0 and one on 3; shard 2 stays empty.
    const ids = idsOnShards('plant-', [0, 1, 1, 3], SHARDS);
    for (const clientId of ids) clients.push(await connectClient(broker.wsUrl, { clientId }));
    const publisher = clients[3];

    const watched = await browser.newPage({ width: 1366, height: 900 });
    const { page } = watched;
    await login(page, broker.url, ADMIN.username, ADMIN.password);
    await expect.poll(() => page.getByTestId('stat-shards').textContent(), { timeout: 15_000 }).toBe('4');
    await openPage(page, 'Shards');
    const row = (shard: number) => page.locator(`table.shards-table tbody tr[data-shard="${shard}"]`);
    await row(3).waitFor();
    expect(await page.locator('table.shards-table tbody tr').count()).toBe(SHARDS);
    for (const [shard, expected] of [[0, 1], [1, 2], [2, 0], [3, 1]]) {
      expect(count(await row(shard).locator('td.col-connections').textContent()), `shard ${shard}`).toBe(expected);
      expect(count(await row(shard).locator('td.col-sessions').textContent()), `shard ${shard}`).toBe(expected);
    }
    expect(count(await page.getByTestId('total-connections').textContent())).toBe(4);

    // Publishing from the client on shard 3 shows as that shard's rate, and as its Durable Object messages.
    const doInBefore = count(await row(3).locator('td.col-doIn').textContent());
    let sent = 0;
    const timer = setInterval(() => publisher.publish(`plant/line/${++sent % 3}`, `reading ${sent}`), 100);
    try {
      await expect.poll(async () => count(await row(3).locator('td.col-publishIn').textContent()), { timeout: 30_000 }).toBeGreaterThan(0);
      expect(count(await row(3).locator('td.col-doIn').textContent())).toBeGreaterThan(doInBefore);
      expect(await row(2).locator('td.col-publishIn').textContent()).toMatch(/^(0\.0|—)$/);
      await screenshot(page, 'shards');
    } finally {
      clearInterval(timer);
    }

    await openPage(page, 'Sessions');
    for (const clientId of ids) {
      const session = page.locator('table.data-table tbody tr').filter({ has: page.locator('code', { hasText: new RegExp(`^${clientId}$`) }) });
      await session.waitFor();
      expect(await session.locator('td.col-shard').textContent(), clientId).toBe(String(shardIndexFor(clientId, SHARDS)));
    }
    await screenshot(page, 'sessions-shards');
    watched.assertNoErrors();
    await page.close();
  });
});
