import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { launchBrowser, screenshot, type BrowserHandle } from './harness';

let broker: BrokerHandle;
let browser: BrowserHandle;
beforeAll(async () => {
  [broker, browser] = await Promise.all([startBroker(), launchBrowser()]);
});
afterAll(async () => {
  await browser?.close();
  await broker?.stop();
});

describe('00 the dashboard is served by the Worker', () => {
  it('serves the built app at / with its assets, and /health stays the Worker route', async () => {
    const html = await (await fetch(`${broker.url}/`)).text();
    expect(html).toContain('<div id="root"></div>');
    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
    expect(script).toBeTruthy();
    const asset = await fetch(`${broker.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(await (await fetch(`${broker.url}/health`)).json()).toEqual({ status: 'ok' });
  });

  it('answers deep links with the app (single-page fallback) and sends signed-out visitors to the login page', async () => {
    const deep = await fetch(`${broker.url}/unauthorized-clients?clientId=x`);
    expect(deep.status).toBe(200);
    expect(await deep.text()).toContain('<div id="root"></div>');

    const { page, assertNoErrors } = await browser.newPage();
    await page.goto(`${broker.url}/unauthorized-clients?clientId=x`);
    await page.getByRole('heading', { name: /EdgeMQ dashboard/ }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/login');
    expect(new URL(page.url()).searchParams.get('next')).toBe('/unauthorized-clients?clientId=x');
    // Keyboard: the username field has focus, Tab reaches the password and then the button.
    await expect.poll(() => page.evaluate('document.activeElement?.getAttribute("name")')).toBe('username');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.getAttribute("name")')).toBe('password');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement?.textContent')).toBe('Sign in');
    await screenshot(page, 'login');
    await page.setViewportSize({ width: 390, height: 844 });
    await screenshot(page, 'login-phone');
    assertNoErrors();
    await page.close();
  });
});
