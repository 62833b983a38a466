import { createExecutionContext, env, SELF, waitOnExecutionContext } from 'cloudflare:test';
import { decodeJwt, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import worker from '../../worker/index';
import { ADMIN, api, auditEntries, BASE, expectError, expectGuarded, freshIp, login, tokens, VIEWER } from './admin-support';

/** The real Worker with some bindings changed, for what the test project's bindings cannot vary. */
async function fetchWith(overrides: Record<string, unknown>, path: string, init: RequestInit): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`${BASE}${path}`, init), { ...env, ...overrides }, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

const loginInit = (username: string, password: string): RequestInit => ({
  method: 'POST',
  headers: { 'Content-Type': 'application/json', 'CF-Connecting-IP': freshIp() },
  body: JSON.stringify({ username, password }),
});

describe('admin API: sign-in and bootstrap', () => {
  it('refuses to sign anyone in while no admin exists and the bootstrap secrets are missing', async () => {
    const res = await fetchWith({ ADMIN_USERNAME: undefined, ADMIN_PASSWORD: undefined }, '/auth/login', loginInit('admin', 'whatever-password'));
    expect(res.status).toBe(503);
    const body = (await res.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('no_admin_account');
    expect(body.error.message).toContain('ADMIN_USERNAME');
    expect(await env.DB.prepare('SELECT count(*) AS n FROM admin_users').first('n')).toBe(0);
  });

  it('never creates the first admin from a short password', async () => {
    const res = await fetchWith({ ADMIN_PASSWORD: 'short' }, '/auth/login', loginInit('admin', 'short'));
    expect(res.status).toBe(503);
    expect(await env.DB.prepare('SELECT count(*) AS n FROM admin_users').first('n')).toBe(0);
  });

  it('creates the first admin from ADMIN_USERNAME / ADMIN_PASSWORD on first sign-in, with a PBKDF2 hash', async () => {
    const res = await login(ADMIN.username, ADMIN.password);
    expect(res.status).toBe(200);
    expect(res.body.role).toBe('admin');
    expect(res.body.username).toBe(ADMIN.username);
    const row = await env.DB.prepare('SELECT username, role, password_hash FROM admin_users').first<{ username: string; role: string; password_hash: string }>();
    expect(row).toMatchObject({ username: ADMIN.username, role: 'admin' });
    expect(row!.password_hash.startsWith('$7$')).toBe(true);
    expect(row!.password_hash).not.toContain(ADMIN.password);
  });

  it('issues a 15-minute HS256 JWT', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await login(ADMIN.username, ADMIN.password);
    const [header] = res.body.token.split('.');
    expect(JSON.parse(atob(header.replace(/-/g, '+').replace(/_/g, '/')))).toMatchObject({ alg: 'HS256' });
    const claims = decodeJwt(res.body.token);
    expect(claims.role).toBe('admin');
    expect((claims.exp as number) - (claims.iat as number)).toBe(900);
    expect(claims.iat).toBeGreaterThanOrEqual(before);
    expect(Date.parse(res.body.expiresAt)).toBe((claims.exp as number) * 1000);
  });

  it('answers a wrong password and an unknown user the same way', async () => {
    const wrong = await login(ADMIN.username, 'not-the-password');
    const unknown = await login('nobody-here', 'not-the-password');
    expectError(wrong, 401, 'invalid_credentials');
    expectError(unknown, 401, 'invalid_credentials');
    expect(unknown.body).toEqual(wrong.body);
  });

  it('names the missing field on a bad login body, and rejects malformed JSON', async () => {
    expectError(await api('POST', '/auth/login', { body: { username: 'admin' } }), 400, 'validation_error', 'password');
    expectError(await api('POST', '/auth/login', { body: { username: '', password: 'x' } }), 400, 'validation_error', 'username');
    expectError(await api('POST', '/auth/login', { rawBody: '{"username": ' }), 400);
  });

  it('limits failed sign-ins per username from one address with 429 and Retry-After, before checking any password', async () => {
    const ip = '203.0.113.21';
    for (let i = 0; i < 5; i++) expectError(await login('target-user', `guess-${i}`, ip), 401);
    const limited = await login('target-user', 'guess-6', ip);
    expectError(limited, 429, 'too_many_attempts');
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(900);
    // Changing the case of the username does not dodge the limit.
    expectError(await login('TARGET-USER', 'guess-7', ip), 429);
  });

  it('does not lock the administrator out from their own address when someone else guesses their password', async () => {
    const guesser = '203.0.113.22';
    for (let i = 0; i < 5; i++) expectError(await login(ADMIN.username, `guess-${i}`, guesser), 401);
    expectError(await login(ADMIN.username, ADMIN.password, guesser), 429, 'too_many_attempts');
    expect((await login(ADMIN.username, ADMIN.password, '203.0.113.23')).status).toBe(200);
  });

  it('counts an IPv6 client as its /64, so rotating addresses inside it gains nothing', async () => {
    for (let i = 0; i < 5; i++) expectError(await login('v6-target', `guess-${i}`, `2001:db8:bad:1::${i + 1}`), 401);
    expectError(await login('v6-target', 'guess-next', '2001:db8:bad:1:ffff::9'), 429, 'too_many_attempts');
    // Another /64 is another address.
    expectError(await login('v6-target', 'guess-other', '2001:db8:bad:2::1'), 401);
  });

  it('limits failed sign-ins per username across addresses, for guessing spread over many', async () => {
    // 100 failures from 25 addresses, 4 each: no address reaches its own limits.
    for (let a = 0; a < 25; a++) {
      for (let i = 0; i < 4; i++) expectError(await login('spread-target', `guess-${a}-${i}`, `192.0.2.${a + 1}`), 401);
    }
    expectError(await login('spread-target', 'guess-next', '192.0.2.200'), 429, 'too_many_attempts');
    // Other usernames from those addresses are not affected.
    expectError(await login('someone-else', 'password-1', '192.0.2.1'), 401);
  });

  it('holds the limit against guesses sent in parallel: at most five reach the password check', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => login('parallel-target', `guess-${i}`, '198.51.100.9')));
    const statuses = answers.map((r) => r.status);
    expect(statuses.filter((s) => s === 401)).toHaveLength(5);
    expect(statuses.filter((s) => s === 429)).toHaveLength(25);
  });

  it('does not count a successful sign-in against its IP', async () => {
    const ip = '198.51.100.10';
    for (let i = 0; i < 25; i++) expect((await login(ADMIN.username, ADMIN.password, ip)).status).toBe(200);
  });

  it('limits failed sign-ins per IP across usernames', async () => {
    const ip = '203.0.113.77';
    for (let i = 0; i < 20; i++) expectError(await login(`spray-${i}`, 'password-1', ip), 401);
    expectError(await login(ADMIN.username, ADMIN.password, ip), 429, 'too_many_attempts');
    // Another address is not affected.
    expect((await login(ADMIN.username, ADMIN.password)).status).toBe(200);
  });

  it('refuses to issue tokens with a clear error when ADMIN_JWT_SECRET is missing or short', async () => {
    for (const secret of [undefined, 'too-short-secret']) {
      const res = await fetchWith({ ADMIN_JWT_SECRET: secret }, '/auth/login', loginInit(ADMIN.username, ADMIN.password));
      expect(res.status).toBe(500);
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('jwt_secret_missing');
      expect(body.error.message).toContain('ADMIN_JWT_SECRET');
    }
  });

  it('rejects tokens signed with another key, expired tokens and garbage', async () => {
    const { admin } = await tokens();
    const [h, p] = admin.split('.');
    expectError(await api('GET', '/auth/me', { token: `${h}.${p}.${'A'.repeat(43)}` }), 401, 'unauthorized');
    const otherKey = await fetchWith({ ADMIN_JWT_SECRET: 'another-secret-that-is-long-enough-0123456789' }, '/auth/me', { headers: { Authorization: `Bearer ${admin}` } });
    expect(otherKey.status).toBe(401);
    const claims = decodeJwt(admin);
    const sixteenMinutesAgo = Math.floor(Date.now() / 1000) - 16 * 60;
    const expired = await new SignJWT({ username: claims.username, role: claims.role })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(claims.sub!)
      .setIssuer(claims.iss!)
      .setAudience(claims.aud!)
      .setIssuedAt(sixteenMinutesAgo)
      .setExpirationTime(sixteenMinutesAgo + 900)
      .sign(new TextEncoder().encode(String(env.ADMIN_JWT_SECRET)));
    expectError(await api('GET', '/auth/me', { token: expired }), 401, 'unauthorized');
    const unsigned = `${btoa(JSON.stringify({ alg: 'none' })).replace(/=+$/, '')}.${p}.`;
    expectError(await api('GET', '/auth/me', { token: unsigned }), 401, 'unauthorized');
    expectError(await api('GET', '/auth/me', { headers: { Authorization: 'Basic YWRtaW46YWRtaW4=' } }), 401);
  });
});

describe('admin API: refresh, me, roles', () => {
  it('refreshes a valid token and tells who the caller is', async () => {
    const { admin, viewer } = await tokens();
    const me = await api('GET', '/auth/me', { token: admin });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ kind: 'user', username: ADMIN.username, role: 'admin' });
    const refreshed = await api('POST', '/auth/refresh', { token: viewer });
    expect(refreshed.status).toBe(200);
    expect(refreshed.body.role).toBe('viewer');
    expect(refreshed.body.token).not.toBe(viewer);
    expect((await api('GET', '/auth/me', { token: refreshed.body.token })).body.username).toBe(VIEWER.username);
    expectError(await api('POST', '/auth/refresh'), 401, 'unauthorized');
    expectError(await api('GET', '/auth/me'), 401, 'unauthorized');
  });

  it('stops accepting the tokens of a deleted account at once', async () => {
    const { admin } = await tokens();
    const created = await api('POST', '/admin-users', { token: admin, body: { username: 'temp-admin', password: 'temp-admin-password', role: 'admin' } });
    expect(created.status).toBe(201);
    const temp = (await login('temp-admin', 'temp-admin-password')).body.token;
    expect((await api('GET', '/auth/me', { token: temp })).status).toBe(200);
    expect((await api('DELETE', `/admin-users/${created.body.id}`, { token: admin })).status).toBe(204);
    expectError(await api('GET', '/auth/me', { token: temp }), 401);
  });
});

describe('admin API: admin users', () => {
  it('lists, creates, updates and deletes accounts', async () => {
    const { admin, viewer } = await tokens();
    const list = await api('GET', '/admin-users', { token: viewer });
    expect(list.status).toBe(200);
    expect(list.body.data.map((u: { username: string }) => u.username).sort()).toEqual([ADMIN.username, VIEWER.username].sort());
    expect(JSON.stringify(list.body)).not.toContain('$7$');

    const created = await api('POST', '/admin-users', { token: admin, body: { username: 'ops-olga', password: 'ops-olga-password', role: 'viewer' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ username: 'ops-olga', role: 'viewer', lastLoginAt: null });
    expectError(await api('POST', '/admin-users', { token: admin, body: { username: 'ops-olga', password: 'ops-olga-password', role: 'viewer' } }), 409, 'conflict', 'username');
    expectError(await api('POST', '/admin-users', { token: admin, body: { username: 'x', password: 'short', role: 'viewer' } }), 400, 'validation_error', 'password');
    expectError(await api('POST', '/admin-users', { token: admin, body: { username: 'x', password: 'long-enough-password', role: 'root' } }), 400, 'validation_error', 'role');

    const promoted = await api('PUT', `/admin-users/${created.body.id}`, { token: admin, body: { role: 'admin', password: 'new-olga-password' } });
    expect(promoted.status).toBe(200);
    expect(promoted.body.role).toBe('admin');
    expect((await login('ops-olga', 'ops-olga-password')).status).toBe(401);
    expect((await login('ops-olga', 'new-olga-password')).body.role).toBe('admin');
    expectError(await api('PUT', `/admin-users/${created.body.id}`, { token: admin, body: {} }), 400, 'validation_error', 'role');
    expectError(await api('PUT', '/admin-users/no-such-id', { token: admin, body: { role: 'viewer' } }), 404, 'not_found');

    expect((await api('DELETE', `/admin-users/${created.body.id}`, { token: admin })).status).toBe(204);
    expectError(await api('DELETE', `/admin-users/${created.body.id}`, { token: admin }), 404, 'not_found');

    await expectGuarded('GET', '/admin-users', null);
    await expectGuarded('POST', '/admin-users', viewer, { username: 'v2', password: 'viewer-two-password', role: 'viewer' });
    await expectGuarded('PUT', `/admin-users/${created.body.id}`, viewer, { role: 'viewer' });
    await expectGuarded('DELETE', `/admin-users/${created.body.id}`, viewer);
  });

  it('keeps at least one admin', async () => {
    const { admin } = await tokens();
    const me = await api('GET', '/auth/me', { token: admin });
    expectError(await api('PUT', `/admin-users/${me.body.id}`, { token: admin, body: { role: 'viewer' } }), 409, 'conflict');
    expectError(await api('DELETE', `/admin-users/${me.body.id}`, { token: admin }), 409, 'conflict');
  });
});

describe('admin API: API keys', () => {
  it('creates a key shown once, authenticates with it, lists it without the secret, and revokes it', async () => {
    const { admin, viewer } = await tokens();
    const created = await api('POST', '/api-keys', { token: admin, body: { name: 'ci-deploy', role: 'admin' } });
    expect(created.status).toBe(201);
    const key: string = created.body.key;
    expect(key).toMatch(/^emq_[A-Za-z0-9_-]{43}$/);
    expect(key.startsWith(created.body.prefix)).toBe(true);
    const stored = await env.DB.prepare('SELECT key_hash FROM api_keys WHERE id = ?').bind(created.body.id).first<string>('key_hash');
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
    expect(stored).toBe([...digest].map((b) => b.toString(16).padStart(2, '0')).join(''));

    const me = await api('GET', '/auth/me', { token: key });
    expect(me.body).toMatchObject({ kind: 'api-key', username: 'ci-deploy', role: 'admin' });
    // An admin key may change things.
    expect((await api('POST', '/blocked-clients', { token: key, body: { kind: 'clientId', value: 'from-a-key' } })).status).toBe(201);

    const list = await api('GET', '/api-keys', { token: viewer });
    expect(list.status).toBe(200);
    expect(list.body.data).toHaveLength(1);
    expect(list.body.data[0]).toMatchObject({ name: 'ci-deploy', prefix: created.body.prefix, revokedAt: null, createdBy: `user:${ADMIN.username}` });
    expect(list.body.data[0].lastUsedAt).not.toBeNull();
    expect(JSON.stringify(list.body)).not.toContain(key);

    const revoked = await api('DELETE', `/api-keys/${created.body.id}`, { token: admin });
    expect(revoked.status).toBe(200);
    expect(revoked.body.revokedAt).not.toBeNull();
    expectError(await api('GET', '/auth/me', { token: key }), 401, 'unauthorized');
    expectError(await api('DELETE', '/api-keys/no-such-key', { token: admin }), 404, 'not_found');
    expectError(await api('POST', '/api-keys', { token: admin, body: { name: '' } }), 400, 'validation_error', 'name');
    expectError(await api('POST', '/auth/refresh', { token: (await api('POST', '/api-keys', { token: admin, body: { name: 'k2' } })).body.key }), 403, 'forbidden');

    await expectGuarded('GET', '/api-keys', null);
    await expectGuarded('POST', '/api-keys', viewer, { name: 'viewer-key' });
    await expectGuarded('DELETE', `/api-keys/${created.body.id}`, viewer);
  });

  it('a viewer key reads but may not write', async () => {
    const { admin } = await tokens();
    const key = (await api('POST', '/api-keys', { token: admin, body: { name: 'dashboard-tv' } })).body.key;
    expect((await api('GET', '/blocked-clients', { token: key })).status).toBe(200);
    expectError(await api('POST', '/blocked-clients', { token: key, body: { kind: 'clientId', value: 'x' } }), 403, 'forbidden');
  });
});

describe('admin API: audit log', () => {
  it('records every change with its actor, and pages newest first with filters', async () => {
    const { admin, viewer } = await tokens();
    await api('POST', '/blocked-clients', { token: admin, body: { kind: 'ip', value: '192.0.2.1' } });
    await api('POST', '/blocked-clients', { token: admin, body: { kind: 'ip', value: '192.0.2.2' } });
    const entries = await auditEntries(viewer, `?resource=blocked-clients&actor=user:${ADMIN.username}`);
    expect(entries.map((e) => e.detail?.value)).toEqual(['192.0.2.2', '192.0.2.1']);
    expect(entries.every((e) => e.actor === `user:${ADMIN.username}` && e.action === 'create')).toBe(true);
    const page = await api('GET', `/audit-log?pageSize=1&page=1&resource=blocked-clients&actor=user:${ADMIN.username}`, { token: admin });
    expect(page.body).toMatchObject({ page: 1, pageSize: 1, totalElements: 2, totalPages: 2, hasNext: false });
    expect(page.body.data[0].detail.value).toBe('192.0.2.1');
    const byActor = await api('GET', `/audit-log?actor=${ADMIN.username.toUpperCase()}&action=create`, { token: admin });
    expect(byActor.body.totalElements).toBeGreaterThanOrEqual(3);
    expect((await api('GET', '/audit-log?from=2999-01-01T00:00:00Z', { token: admin })).body.totalElements).toBe(0);
    expectError(await api('GET', '/audit-log?from=yesterday', { token: admin }), 400, 'validation_error', 'from');
    await expectGuarded('GET', '/audit-log', null);
  });
});

describe('admin API: reasons, OpenAPI document and docs page', () => {
  it('serves the refusal catalogue', async () => {
    const { viewer } = await tokens();
    const res = await api('GET', '/reasons', { token: viewer });
    expect(res.status).toBe(200);
    expect(res.body.PASSWORD_DOES_NOT_MATCH).toMatchObject({ title: 'Password Does Not Match', mqtt5: 0x86, mqtt3: 4 });
    expect(typeof res.body.NO_CREDENTIALS_FOUND.solution).toBe('string');
    await expectGuarded('GET', '/reasons', null);
  });

  it('publishes an OpenAPI 3.1 document covering every route, without a token', async () => {
    const res = await api('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    expect(res.body.servers).toEqual([{ url: '/api/v1' }]);
    expect(res.body.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const paths = res.body.paths as Record<string, Record<string, { security?: unknown[]; responses: Record<string, unknown> }>>;
    const expected: Array<[string, string]> = [
      ['post', '/auth/login'],
      ['post', '/auth/refresh'],
      ['get', '/auth/me'],
      ['get', '/admin-users'],
      ['get', '/api-keys'],
      ['delete', '/api-keys/{id}'],
      ['get', '/audit-log'],
      ['get', '/reasons'],
      ['get', '/unauthorized-clients'],
      ['get', '/unauthorized-clients/{clientId}'],
      ['delete', '/unauthorized-clients/{clientId}'],
      ['delete', '/unauthorized-clients'],
      ['put', '/credentials/{id}'],
      ['post', '/acl-rules/test'],
      ['put', '/blocked-clients/{id}'],
      ['post', '/certificate-revocations/crl'],
      ['put', '/auth-providers/order'],
      ['put', '/auth-providers/{type}'],
      ['put', '/settings'],
      ['post', '/sessions/{clientId}/disconnect'],
      ['get', '/subscriptions'],
      ['delete', '/retained/{topic}'],
      ['get', '/stats/history'],
      ['get', '/events'],
      ['get', '/export'],
      ['post', '/import'],
      ['post', '/import/mosquitto'],
    ];
    for (const [method, path] of expected) expect(paths[path]?.[method], `${method} ${path}`).toBeDefined();
    expect(paths['/auth/login'].post.security).toEqual([]);
    expect(paths['/credentials'].post.responses['400']).toBeDefined();
    expect(res.body.components.schemas.JwtProviderSettings).toBeDefined();
  });

  it('serves Swagger UI and its files from the Worker, with nothing from the internet', async () => {
    const page = await SELF.fetch(`${BASE}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('SwaggerUIBundle');
    expect(html).not.toMatch(/https?:\/\//);
    const src = /<script src="([^"]+)"/.exec(html)![1];
    const css = /<link rel="stylesheet" href="([^"]+)"/.exec(html)![1];
    const script = await SELF.fetch(new URL(src, `${BASE}/docs`).href);
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toContain('javascript');
    expect((await script.text()).length).toBeGreaterThan(500_000);
    const style = await SELF.fetch(new URL(css, `${BASE}/docs`).href);
    expect(style.headers.get('content-type')).toContain('text/css');
    expect(await style.text()).toContain('.swagger-ui');
  });
});

describe('admin API: CORS and unknown paths', () => {
  it('sends no CORS headers unless ADMIN_CORS_ORIGINS lists the origin', async () => {
    const closed = await api('GET', '/openapi.json', { headers: { Origin: 'https://evil.example' } });
    expect(closed.headers.get('access-control-allow-origin')).toBeNull();
    const open = await fetchWith({ ADMIN_CORS_ORIGINS: 'https://ops.example, https://other.example' }, '/openapi.json', { headers: { Origin: 'https://ops.example' } });
    expect(open.headers.get('access-control-allow-origin')).toBe('https://ops.example');
    const preflight = await fetchWith({ ADMIN_CORS_ORIGINS: 'https://ops.example' }, '/credentials', {
      method: 'OPTIONS',
      headers: { Origin: 'https://ops.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    const other = await fetchWith({ ADMIN_CORS_ORIGINS: 'https://ops.example' }, '/openapi.json', { headers: { Origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('answers unknown API paths with a JSON 404 once signed in', async () => {
    const { admin } = await tokens();
    expectError(await api('GET', '/no-such-thing', { token: admin }), 404, 'not_found');
    expectError(await api('GET', '/no-such-thing'), 401);
  });
});
