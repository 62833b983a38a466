import { describe, expect, it } from 'vitest';
import { api, expectError, tokens } from './admin-support';
import { VIEWER_POSTS as VIEWER_POST_PATHS } from '../../worker/admin/middleware/authorize';

/**
 * The guarantees every admin endpoint shares, checked over every operation the
 * OpenAPI document lists: a route added later is covered without anyone
 * remembering to add it here. The resource suites test what each endpoint does.
 */

interface Operation {
  method: string;
  path: string;
  /** An empty list: open to everyone (login, the document). */
  security?: unknown[];
  hasBody: boolean;
}

/** Changes a viewer may make: they change nothing (the authorize middleware's list). */
const VIEWER_POSTS = new Set([...VIEWER_POST_PATHS].map((path) => `POST ${path}`));
const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

async function operations(): Promise<Operation[]> {
  const doc = await api('GET', '/openapi.json');
  expect(doc.status).toBe(200);
  const out: Operation[] = [];
  for (const [path, methods] of Object.entries(doc.body.paths as Record<string, Record<string, { security?: unknown[]; requestBody?: unknown }>>)) {
    for (const [method, op] of Object.entries(methods)) {
      out.push({ method: method.toUpperCase(), path, security: op.security, hasBody: op.requestBody !== undefined });
    }
  }
  // A document that lost its routes would make every check below pass vacuously.
  expect(out.length).toBeGreaterThan(50);
  return out;
}

/** A concrete path: every parameter names something that does not exist. */
const concrete = (path: string) => path.replace(/\{[^}]+\}/g, 'does-not-exist-0');
const name = (op: Operation) => `${op.method} ${op.path}`;

describe('admin API: every operation in the OpenAPI document', () => {
  it('refuses a request without a token or with a forged one (401), except login and the document', async () => {
    const ops = await operations();
    const open = ops.filter((op) => op.security?.length === 0).map(name);
    expect(open.sort()).toEqual(['POST /auth/login']);
    for (const op of ops) {
      if (op.security?.length === 0) continue;
      const body = op.hasBody ? {} : undefined;
      expectError(await api(op.method, concrete(op.path), { body }), 401, 'unauthorized');
      expectError(await api(op.method, concrete(op.path), { body, token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.forged' }), 401, 'unauthorized');
    }
  });

  it('refuses a viewer every change (403) before looking at the request', async () => {
    const { viewer } = await tokens();
    const ops = (await operations()).filter((op) => WRITES.has(op.method) && op.security?.length !== 0 && !VIEWER_POSTS.has(name(op)));
    expect(ops.length).toBeGreaterThan(25);
    for (const op of ops) {
      const res = await api(op.method, concrete(op.path), { token: viewer, body: op.hasBody ? {} : undefined });
      expect(res.status, name(op)).toBe(403);
      expect(res.body.error.code, name(op)).toBe('forbidden');
    }
  });

  it('answers a body that is not JSON with 400, naming the problem', async () => {
    const { admin } = await tokens();
    const ops = (await operations()).filter((op) => op.hasBody && op.path !== '/auth/login');
    expect(ops.length).toBeGreaterThan(15);
    for (const op of ops) {
      const res = await api(op.method, concrete(op.path), { token: admin, rawBody: '{"name": ' });
      expect(res.status, name(op)).toBe(400);
      expect(typeof res.body.error?.message, name(op)).toBe('string');
    }
  });

  it('answers 404 for a path that names something that does not exist', async () => {
    const { admin } = await tokens();
    const ops = (await operations()).filter((op) => /\{[^}]+\}/.test(op.path) && !op.hasBody);
    expect(ops.length).toBeGreaterThan(10);
    for (const op of ops) {
      const res = await api(op.method, concrete(op.path), { token: admin });
      expect(res.status, name(op)).toBe(404);
      expect(res.body.error.code, name(op)).toBe('not_found');
    }
  });
});
