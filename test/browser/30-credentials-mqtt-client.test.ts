import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { IAuthPacket, IConnackPacket } from 'mqtt-packet';
import { connectClient, RawWsClient } from '../e2e/mqtt-clients';
import { ScramClient } from '../support/scram-client';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { autoBanOffSql, configure, providerSql } from '../support/security-fixtures';
import { ADMIN, adminVars, apiClient, launchBrowser, login, openPage, screenshot, type BrowserHandle, type WatchedPage } from './harness';

let broker: BrokerHandle;
let browser: BrowserHandle;
let watched: WatchedPage;
let page: Page;

beforeAll(async () => {
  [broker, browser] = await Promise.all([
    startBroker({ vars: adminVars({ ALLOW_ANONYMOUS: 'false', AUTH_PROVIDERS: 'basic', ACL_DEFAULT_POLICY: 'deny' }) }),
    launchBrowser(),
  ]);
  await configure(
    broker,
    autoBanOffSql,
    providerSql('scram', true, 20, { mechanisms: ['SCRAM-SHA-256', 'SCRAM-SHA-512'] }),
  );
  watched = await browser.newPage({ width: 1366, height: 900 });
  page = watched.page;
  await login(page, broker.url, ADMIN.username, ADMIN.password);
});
afterAll(async () => {
  await browser?.close();
  await broker?.stop();
});

describe('30 credentials, ACL rules and the browser MQTT client', () => {
  it('creates a basic credential; the password is never shown again', async () => {
    await openPage(page, 'Credentials');
    await page.getByText(/No credentials yet/).waitFor();
    await page.getByRole('button', { name: 'New credential' }).click();
    const dialog = page.getByRole('dialog', { name: 'New credential' });
    await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill('Greenhouse sensor');
    await dialog.getByLabel('Username').fill('greenhouse');
    await dialog.getByLabel('Password').fill('tomatoes-2026');
    await screenshot(page, 'credentials-new', { fullPage: false });
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });

    const row = page.locator('table.data-table tbody tr', { hasText: 'Greenhouse sensor' });
    await row.waitFor();
    expect((await row.locator('td').allTextContents()).slice(0, 3)).toEqual(['Greenhouse sensor', 'basic', 'greenhouse']);
    expect(await row.locator('td.col-hasPassword').textContent()).toBe('true');
    expect(await page.content()).not.toContain('tomatoes-2026');
    const api = await apiClient(broker.url);
    expect(JSON.stringify(await api.get('/credentials'))).not.toContain('tomatoes-2026');
    await screenshot(page, 'credentials');
  });

  it('adds an ACL rule for the credential', async () => {
    await openPage(page, 'ACL rules');
    await page.getByRole('button', { name: 'New rule' }).click();
    const dialog = page.getByRole('dialog', { name: 'New rule' });
    await dialog.getByLabel('Applies to').selectOption('user');
    await dialog.getByLabel('Username').fill('greenhouse');
    await dialog.getByLabel('Access').selectOption('readwrite');
    await dialog.getByLabel('Topic').fill('greenhouse/#');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('table.data-table tbody tr', { hasText: 'greenhouse/#' }).waitFor();
    const api = await apiClient(broker.url);
    const { data: rules } = await api.get<{ data: Array<Record<string, unknown>> }>('/acl-rules');
    expect(rules).toMatchObject([{ principalType: 'user', username: 'greenhouse', access: 'readwrite', topic: 'greenhouse/#', kind: 'topic' }]);
    await screenshot(page, 'acl-rules');
  });

  it('the topic tester tells which rule decides', async () => {
    const tester = page.getByRole('form', { name: 'Test a topic' });
    await tester.getByLabel('Client ID').fill('gh-1');
    await tester.getByLabel('Username').fill('greenhouse');
    await tester.getByLabel('Action').selectOption('publish');
    await tester.getByLabel('Topic').fill('greenhouse/temperature');
    await tester.getByRole('button', { name: 'Test' }).click();
    const result = page.getByTestId('acl-test-result');
    await expect.poll(() => result.textContent()).toMatch(/^Allowed — decided by ACL rule: granted by topic readwrite greenhouse\/# \(user greenhouse/);
    // The deciding rule is marked in the table.
    expect(await page.locator('table.data-table tbody tr.row-decides').textContent()).toContain('greenhouse/#');
    await screenshot(page, 'acl-rules-test');

    await tester.getByLabel('Topic').fill('kitchen/temperature');
    await tester.getByRole('button', { name: 'Test' }).click();
    await expect.poll(() => result.textContent()).toMatch(/^Denied — decided by the default policy/);
    expect(await page.locator('table.data-table tbody tr.row-decides').count()).toBe(0);
  });

  it('connects from the browser client with the new credential, subscribes, publishes and receives', async () => {
    await openPage(page, 'MQTT client');
    await page.getByLabel('Client ID').fill('gh-browser');
    await page.getByLabel('Username').fill('greenhouse');
    await page.getByLabel('Password').fill('tomatoes-2026');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await expect.poll(() => page.getByTestId('mqtt-status').textContent(), { timeout: 15_000 }).toBe('connected');

    await page.getByLabel('Topic filter').fill('greenhouse/#');
    await page.getByLabel('QoS').first().selectOption('1');
    await page.getByRole('button', { name: 'Subscribe', exact: true }).click();
    await expect.poll(() => page.getByTestId('mqtt-log').textContent()).toContain('Subscribed to greenhouse/# (granted QoS 1)');

    await page.getByRole('textbox', { name: 'Topic', exact: true }).fill('greenhouse/humidity');
    await page.getByLabel('Payload').fill('61%');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    const messages = page.getByTestId('mqtt-messages');
    await expect.poll(async () => (await messages.locator('tbody tr').first().locator('td').allTextContents()).slice(1, 3)).toEqual([
      'greenhouse/humidity',
      '61%',
    ]);

    // A device publishing from Node reaches the browser too.
    const device = await connectClient(broker.wsUrl, { clientId: 'gh-device', username: 'greenhouse', password: 'tomatoes-2026' });
    await device.publishAsync('greenhouse/temperature', '23.5', { qos: 1 });
    await device.endAsync();
    await expect.poll(async () => (await messages.locator('tbody tr').first().locator('td').allTextContents()).slice(1, 3)).toEqual([
      'greenhouse/temperature',
      '23.5',
    ]);
    await screenshot(page, 'mqtt-client-connected');

    await page.getByRole('button', { name: 'Disconnect' }).click();
    await expect.poll(() => page.getByTestId('mqtt-status').textContent()).toBe('disconnected');
  });

  it('shows the refusal when the browser client uses a wrong password', async () => {
    await page.getByLabel('Client ID').fill('gh-wrong');
    await page.getByLabel('Password').fill('potatoes');
    await page.getByRole('button', { name: 'Connect', exact: true }).click();
    await expect.poll(() => page.getByTestId('mqtt-error').textContent(), { timeout: 15_000 }).toMatch(/Bad User Name or Password|code 134/i);
    await expect.poll(() => page.getByTestId('mqtt-status').textContent()).toBe('disconnected');
    watched.assertNoErrors();
  });

  it('creates a SCRAM credential that a device then uses through the MQTT 5 AUTH exchange', async () => {
    await openPage(page, 'Credentials');
    await page.getByRole('button', { name: 'New credential' }).click();
    const dialog = page.getByRole('dialog', { name: 'New credential' });
    await dialog.getByLabel('Type').selectOption('scram');
    await dialog.getByRole('textbox', { name: 'Name', exact: true }).fill('Weather station');
    await dialog.getByLabel('Username').fill('weather');
    await dialog.getByLabel('Password').fill('cumulus-nimbus');
    await dialog.getByLabel('Mechanism').selectOption('SCRAM-SHA-512');
    await dialog.getByRole('button', { name: 'Create' }).click();
    await dialog.waitFor({ state: 'detached' });
    const row = page.locator('table.data-table tbody tr', { hasText: 'Weather station' });
    await row.waitFor();
    expect((await row.locator('td').allTextContents()).slice(0, 3)).toEqual(['Weather station', 'scram', 'weather']);
    expect(await page.content()).not.toContain('cumulus-nimbus');

    const scram = new ScramClient('SCRAM-SHA-512', 'weather', 'cumulus-nimbus');
    const raw = await RawWsClient.open(broker.wsUrl, 5);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'weather-1', properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: scram.first() } });
    const challenge = await raw.next<IAuthPacket>('auth');
    raw.send({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-512', authenticationData: scram.final(challenge.properties!.authenticationData as Buffer) } });
    const connack = await raw.next<IConnackPacket>('connack');
    expect(connack.reasonCode).toBe(0);
    expect(scram.verifyServer(connack.properties!.authenticationData as Buffer)).toBe(true);
    raw.ws.close();
  });
});
