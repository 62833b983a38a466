import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type ConsoleMessage, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { adminVars as adminVarsFor } from '../support/admin-broker';
import { adminSession } from '../support/admin-session';

/**
 * Debian's Chromium driven by playwright-core: never a downloaded browser.
 * Each suite gets a fresh profile directory, and every page records console
 * errors and uncaught exceptions so a suite can fail on any of them.
 */
export const CHROMIUM = '/usr/bin/chromium';
export const SCREENSHOTS = path.resolve('test-artifacts/screenshots');

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserHandle {
  context: BrowserContext;
  newPage(options?: { width?: number; height?: number }): Promise<WatchedPage>;
  close(): Promise<void>;
}

export interface WatchedPage {
  page: Page;
  /** Console errors and page errors seen so far. */
  errors: string[];
  /** Removes errors the test caused on purpose (matched by pattern) and returns how many. */
  expectErrors(pattern: RegExp): number;
  /** Fails the test when the page logged any error it did not expect. */
  assertNoErrors(): void;
}

export async function launchBrowser(): Promise<BrowserHandle> {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1366, height: 900 },
    deviceScaleFactor: 1,
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  // The persistent context opens one blank tab; pages are made per test.
  for (const page of context.pages()) await page.close();
  return {
    context,
    async newPage(options = {}) {
      const page = await context.newPage();
      if (options.width) await page.setViewportSize({ width: options.width, height: options.height ?? 900 });
      return watch(page);
    },
    async close() {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

function watch(page: Page): WatchedPage {
  const errors: string[] = [];
  page.on('console', (message: ConsoleMessage) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  return {
    page,
    errors,
    expectErrors(pattern) {
      const before = errors.length;
      for (let i = errors.length - 1; i >= 0; i--) if (pattern.test(errors[i])) errors.splice(i, 1);
      return before - errors.length;
    },
    assertNoErrors() {
      expect(errors, 'browser console errors').toEqual([]);
    },
  };
}

export async function screenshot(page: Page, name: string, options: { fullPage?: boolean; path?: string } = {}): Promise<string> {
  const file = options.path ?? path.join(SCREENSHOTS, `${name}.png`);
  await mkdir(path.dirname(file), { recursive: true });
  // Let fonts, charts and transitions settle so the picture shows what a person sees.
  await page.evaluate('document.fonts.ready');
  await page.screenshot({ path: file, fullPage: options.fullPage ?? true, animations: 'disabled' });
  return file;
}

export async function login(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Goes to a dashboard page through the navigation, as a person would. */
export async function openPage(page: Page, label: string): Promise<void> {
  const menu = page.getByRole('button', { name: 'Menu' });
  if (await menu.isVisible()) await menu.click();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: label, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: label }).waitFor();
}

/**
 * Dashboard accounts for the suites. The first admin comes from the
 * ADMIN_USERNAME / ADMIN_PASSWORD secrets, passed as vars the way
 * `wrangler secret` passes them in production; the viewer is made through
 * the API by createViewer().
 */
export const ADMIN = { username: 'admin', password: 'admin-pass-for-browser-tests' };
export const VIEWER = { username: 'viewer', password: 'viewer-pass-for-browser-tests' };

/** `extra` plus the secrets that make ADMIN the broker's first admin. */
export function adminVars(extra: Record<string, string> = {}): Record<string, string> {
  return adminVarsFor(ADMIN, extra);
}

export async function createViewer(baseUrl: string): Promise<void> {
  const api = await apiClient(baseUrl);
  await api.post('/admin-users', { username: VIEWER.username, password: VIEWER.password, role: 'viewer' });
}

/** The admin API from Node, for setting up and checking what the browser did. */
export async function apiClient(baseUrl: string, account = ADMIN) {
  const { token, api } = await adminSession(baseUrl, account);
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await api<T>(method, path, body);
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  }
  return {
    token,
    get: <T>(path: string) => call<T>('GET', path),
    post: <T>(path: string, body?: unknown) => call<T>('POST', path, body),
    put: <T>(path: string, body?: unknown) => call<T>('PUT', path, body),
    delete: <T>(path: string) => call<T>('DELETE', path),
  };
}
