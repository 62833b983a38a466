import { env, SELF } from 'cloudflare:test';
import { expect } from 'vitest';

/** Helpers for the admin API tests: requests through the real Worker (SELF.fetch), as the dashboard makes them. */

export const BASE = 'https://edge.example/api/v1';
export const ADMIN = { username: String(env.ADMIN_USERNAME), password: String(env.ADMIN_PASSWORD) };
export const VIEWER = { username: 'viewer-vera', password: 'viewer-password-123' };

let ipCounter = 0;
/** Each login comes from its own address unless a test wants otherwise, so the per-IP limit of one test does not leak into another. */
export function freshIp(): string {
  ipCounter++;
  return `198.51.100.${ipCounter % 250}`;
}

export interface ApiResponse<T = any> {
  status: number;
  headers: Headers;
  body: T;
}

export async function api<T = any>(method: string, path: string, options: { token?: string | null; body?: unknown; headers?: Record<string, string>; rawBody?: string } = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.rawBody !== undefined) {
    body = options.rawBody;
    headers['Content-Type'] ??= 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['Content-Type'] = 'application/json';
  }
  const res = await SELF.fetch(`${BASE}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  if (text && (res.headers.get('content-type') ?? '').includes('application/json')) parsed = JSON.parse(text);
  return { status: res.status, headers: res.headers, body: parsed as T };
}

export async function login(username: string, password: string, ip = freshIp()): Promise<ApiResponse> {
  return api('POST', '/auth/login', { body: { username, password }, headers: { 'CF-Connecting-IP': ip } });
}

export async function adminToken(): Promise<string> {
  const res = await login(ADMIN.username, ADMIN.password);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.token;
}

/** A viewer account (created through the API by the admin) and its token. */
export async function viewerToken(admin: string): Promise<string> {
  const created = await api('POST', '/admin-users', { token: admin, body: { username: VIEWER.username, password: VIEWER.password, role: 'viewer' } });
  expect([201, 409]).toContain(created.status);
  const res = await login(VIEWER.username, VIEWER.password);
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(res.body.role).toBe('viewer');
  return res.body.token;
}

export async function tokens(): Promise<{ admin: string; viewer: string }> {
  const admin = await adminToken();
  return { admin, viewer: await viewerToken(admin) };
}

/** The error shape every endpoint shares. */
export function expectError(res: ApiResponse, status: number, code?: string, field?: string): void {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.headers.get('content-type')).toContain('application/json');
  expect(typeof res.body.error?.message).toBe('string');
  if (code) expect(res.body.error.code).toBe(code);
  if (field) expect(res.body.error.field).toBe(field);
}

export async function configVersion(): Promise<number> {
  const row = await env.DB.prepare('SELECT version FROM config_version WHERE id = 1').first<{ version: number }>();
  return row?.version ?? 0;
}

/** Every protected endpoint: 401 without a token or with a bad one, and (for writes) 403 for a viewer. */
export async function expectGuarded(method: string, path: string, viewer: string | null, body?: unknown): Promise<void> {
  expectError(await api(method, path, { body }), 401, 'unauthorized');
  expectError(await api(method, path, { body, token: 'not-a-token' }), 401, 'unauthorized');
  if (viewer) expectError(await api(method, path, { body, token: viewer }), 403, 'forbidden');
}

export async function auditEntries(admin: string, query = ''): Promise<Array<{ actor: string; action: string; resource: string; resourceId: string | null; detail: Record<string, unknown> | null }>> {
  const res = await api('GET', `/audit-log${query}`, { token: admin });
  expect(res.status).toBe(200);
  return res.body.data;
}
