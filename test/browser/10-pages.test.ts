import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { ADMIN, adminVars, createViewer, launchBrowser, login, openPage, screenshot, VIEWER, type BrowserHandle } from './harness';

const PAGES = [
  'Overview',
  'Unauthorized clients',
  'Sessions',
  'Subscriptions',
  'Retained messages',
  'Shards',
  'Credentials',
  'ACL rules',
  'Blocked clients',
  'Authentication providers',
  'MQTT client',
];

const slug = (label: string) => label.toLowerCase().replaceAll(' ', '-');

let broker: BrokerHandle;
let browser: BrowserHandle;
beforeAll(async () => {
  [broker, browser] = await Promise.all([startBroker({ vars: adminVars({ ALLOW_ANONYMOUS: 'false' }) }), launchBrowser()]);
  await createViewer(broker.url);
});
afterAll(async () => {
  await browser?.close();
  await broker?.stop();
});

describe('10 every page, signed in as admin and as viewer', () => {
  it('refuses a wrong password with a message and signs in with the right one', async () => {
    const watched = await browser.newPage();
    const { page } = watched;
    await page.goto(`${broker.url}/login`);
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.getByRole('alert').textContent()).toBe('Wrong username or password.');
    // The browser reports the refused login request itself; that one is expected.
    watched.expectErrors(/status of 401/);

    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    expect(await page.getByText('admin', { exact: true }).first().isVisible()).toBe(true);

    // The overview keeps the broker's public status: the MQTT endpoint and /health.
    expect(await page.getByTestId('mqtt-endpoint').textContent()).toBe(`ws://127.0.0.1:${broker.port}/mqtt`);
    await expect.poll(() => page.getByTestId('broker-status').textContent()).toBe('ok');

    // A reload keeps the session; signing out ends it.
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    watched.assertNoErrors();
    await page.close();
  });

  it('shows every page at laptop width with its own heading and no console errors', async () => {
    const watched = await browser.newPage({ width: 1366, height: 900 });
    const { page } = watched;
    await login(page, broker.url, ADMIN.username, ADMIN.password);
    for (const label of PAGES) {
      await openPage(page, label);
      expect(await page.title()).toBe(`${label} · EdgeMQ`);
      // Each page settles into content, an empty state or an error state; never a spinner forever.
      await expect.poll(() => page.locator('.state-loading').count(), { timeout: 15_000 }).toBe(0);
      expect(await page.locator('.state-error').count(), `${label} shows an error`).toBe(0);
      await screenshot(page, slug(label));
    }
    watched.assertNoErrors();
    await page.close();
  });

  it('works at phone width: the menu opens from a button, tables become cards', async () => {
    const watched = await browser.newPage({ width: 390, height: 844 });
    const { page } = watched;
    await login(page, broker.url, ADMIN.username, ADMIN.password);
    expect(await page.getByRole('navigation', { name: 'Main' }).isVisible()).toBe(false);
    for (const label of PAGES) {
      await openPage(page, label);
      await expect.poll(() => page.locator('.state-loading').count(), { timeout: 15_000 }).toBe(0);
      // Nothing may widen the page past the screen.
      expect(await page.evaluate('document.documentElement.scrollWidth'), label).toBeLessThanOrEqual(390);
      await screenshot(page, `${slug(label)}-phone`);
    }
    watched.assertNoErrors();
    await page.close();
  });

  it('is usable from the keyboard: skip link, navigation links and sortable headers', async () => {
    const watched = await browser.newPage();
    const { page } = watched;
    await login(page, broker.url, ADMIN.username, ADMIN.password);
    await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();

    // First Tab reaches the skip link, Enter moves focus to the main content.
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate('document.activeElement?.id')).toBe('main');

    // A navigation link followed with Enter.
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Unauthorized clients' }).focus();
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Unauthorized clients' }).waitFor();

    // Sorting headers are buttons: Enter on "Client ID" sorts by it and says so with aria-sort.
    const header = page.getByRole('columnheader', { name: /Client ID/ });
    await header.getByRole('button').focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => header.getAttribute('aria-sort')).toMatch(/ascending|descending/);
    expect(new URL(page.url()).searchParams.get('sort')).toBe('clientId');
    watched.assertNoErrors();
    await page.close();
  });

  it('shows viewers the same pages without any control that changes something', async () => {
    const watched = await browser.newPage();
    const { page } = watched;
    await login(page, broker.url, VIEWER.username, VIEWER.password);
    expect(await page.locator('.role').textContent()).toBe('viewer');
    const writeControls = /^(Delete|Delete all unauthorized clients|New credential|New rule|Block a client|Enable|Disable|Save settings|Disconnect|Remove|Unblock|Edit)$/;
    for (const label of ['Unauthorized clients', 'Sessions', 'Retained messages', 'Credentials', 'ACL rules', 'Blocked clients', 'Authentication providers']) {
      await openPage(page, label);
      await expect.poll(() => page.locator('.state-loading').count(), { timeout: 15_000 }).toBe(0);
      const buttons = await page.getByRole('main').getByRole('button').allTextContents();
      expect(
        buttons.map((b) => b.trim()).filter((b) => writeControls.test(b)),
        `${label} offers a viewer write controls`,
      ).toEqual([]);
    }
    await openPage(page, 'Unauthorized clients');
    await screenshot(page, 'unauthorized-clients-viewer');
    watched.assertNoErrors();
    await page.close();
  });
});
