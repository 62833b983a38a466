import { createRoute, z } from '@hono/zod-openapi';
import { verifyAgainstDummy, verifyPassword } from '../../../auth/passwords/password-hash';
import { countAdminUsers, findAdminUserByName, getAdminUser, recordAdminLogin } from '../../../db/queries/admin-users';
import { ensureFirstAdmin, MIN_ADMIN_PASSWORD_LENGTH } from '../bootstrap';
import { ApiError, errorResponses } from '../errors';
import { loginKeys, loginSucceeded, reserveLoginAttempt } from '../login-guard';
import { newRouter } from '../router';
import { issueToken, signingKey } from '../tokens';
import { MeSchema, TokenSchema } from '../contract/security';

const LoginSchema = z
  .object({
    username: z.string().min(1).max(128),
    password: z.string().min(1).max(1024),
  })
  .openapi('Login');

const login = createRoute({
  method: 'post',
  path: '/auth/login',
  tags: ['Auth'],
  summary: 'Sign in with an admin or viewer account',
  description:
    'Returns a token valid for 15 minutes. Failed sign-ins are limited per client IP and per username (429 with Retry-After). On first use, while no account exists, the first admin is created from the ADMIN_USERNAME / ADMIN_PASSWORD secrets.',
  security: [],
  request: { body: { required: true, content: { 'application/json': { schema: LoginSchema } } } },
  responses: {
    200: { description: 'Signed in', content: { 'application/json': { schema: TokenSchema } } },
    ...errorResponses(400, 401, 429, 500, 503),
  },
});

const refresh = createRoute({
  method: 'post',
  path: '/auth/refresh',
  tags: ['Auth'],
  summary: 'Exchange a valid user token for a new one',
  responses: {
    200: { description: 'A new token', content: { 'application/json': { schema: TokenSchema } } },
    ...errorResponses(401, 403, 500),
  },
});

const me = createRoute({
  method: 'get',
  path: '/auth/me',
  tags: ['Auth'],
  summary: 'Who the token belongs to',
  responses: {
    200: { description: 'The caller', content: { 'application/json': { schema: MeSchema } } },
    ...errorResponses(401),
  },
});

export const authRoutes = newRouter()
  .openapi(login, async function login(c) {
    const { username, password } = c.req.valid('json');
    // No token can be issued without a key: say so before touching any password.
    signingKey(c.env);
    const db = c.var.db;
    const now = Date.now();
    const keys = loginKeys(c.req.header('cf-connecting-ip') ?? 'unknown', username);
    // Counted now, taken back on success: guesses sent in parallel cannot all pass the limit.
    await reserveLoginAttempt(db, keys, now);

    let user = await findAdminUserByName(db, username);
    if (!user && (await ensureFirstAdmin(db, c.env)) === 'created') user = await findAdminUserByName(db, username);
    // An unknown user costs the same hashing as a wrong password.
    const ok = user ? await verifyPassword(password, user.passwordHash) : (await verifyAgainstDummy(password), false);
    if (!user || !ok) {
      if (!user && (await countAdminUsers(db)) === 0) {
        throw new ApiError(
          503,
          'no_admin_account',
          `No admin account exists yet: set the ADMIN_USERNAME and ADMIN_PASSWORD secrets (password at least ${MIN_ADMIN_PASSWORD_LENGTH} characters) and sign in with them`,
        );
      }
      throw new ApiError(401, 'invalid_credentials', 'Wrong username or password');
    }
    await loginSucceeded(db, keys);
    await recordAdminLogin(db, user.id);
    const token = await issueToken(c.env, { id: user.id, username: user.username, role: user.role });
    return c.json({ ...token, role: user.role, username: user.username }, 200);
  })
  .openapi(refresh, async function refresh(c) {
    const caller = c.var.caller;
    if (caller.kind !== 'user') throw new ApiError(403, 'forbidden', 'API keys do not expire and cannot be refreshed');
    const user = await getAdminUser(c.var.db, caller.id);
    if (!user) throw new ApiError(401, 'unauthorized', 'The account no longer exists');
    const token = await issueToken(c.env, { id: user.id, username: user.username, role: user.role });
    return c.json({ ...token, role: user.role, username: user.username }, 200);
  })
  .openapi(me, function me(c) {
    const p = c.var.caller;
    return c.json({ kind: p.kind, id: p.id, username: p.name, role: p.role }, 200);
  });
