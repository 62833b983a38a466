import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { ApiError } from './errors';
import type { Role } from './context';

/** Short-lived on purpose: a leaked token is useful for minutes, and refresh keeps a session going. */
export const TOKEN_TTL_SECONDS = 15 * 60;
const ISSUER = 'edgemq';
const AUDIENCE = 'edgemq-admin';
const MIN_SECRET_LENGTH = 32;

export interface TokenClaims {
  userId: string;
  username: string;
  role: Role;
  expiresAt: number;
}

/**
 * The signing key. A missing or short ADMIN_JWT_SECRET is a deployment
 * mistake: refuse rather than sign with something guessable.
 */
export function signingKey(env: Record<string, unknown>): Uint8Array {
  const secret = env.ADMIN_JWT_SECRET;
  if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) {
    throw new ApiError(
      500,
      'jwt_secret_missing',
      `ADMIN_JWT_SECRET is ${typeof secret === 'string' && secret.length > 0 ? `shorter than ${MIN_SECRET_LENGTH} characters` : 'not set'}; set it with \`wrangler secret put ADMIN_JWT_SECRET\` (or in .dev.vars locally)`,
    );
  }
  return new TextEncoder().encode(secret);
}

export async function issueToken(env: Record<string, unknown>, user: { id: string; username: string; role: Role }, now = Date.now()): Promise<{ token: string; expiresAt: string }> {
  const key = signingKey(env);
  const iat = Math.floor(now / 1000);
  const exp = iat + TOKEN_TTL_SECONDS;
  const token = await new SignJWT({ username: user.username, role: user.role })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(user.id)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(crypto.randomUUID())
    .sign(key);
  return { token, expiresAt: new Date(exp * 1000).toISOString() };
}

/** Null for anything but a valid, unexpired token we signed. */
export async function verifyToken(env: Record<string, unknown>, token: string): Promise<TokenClaims | null> {
  const key = signingKey(env);
  try {
    const { payload } = await jwtVerify(token, key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
    if (typeof payload.sub !== 'string' || typeof payload.username !== 'string' || (payload.role !== 'admin' && payload.role !== 'viewer') || typeof payload.exp !== 'number') {
      return null;
    }
    return { userId: payload.sub, username: payload.username, role: payload.role, expiresAt: payload.exp * 1000 };
  } catch (err) {
    if (err instanceof joseErrors.JOSEError) return null;
    throw err;
  }
}
