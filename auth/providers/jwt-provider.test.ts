import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConnectAttempt, ProviderAnswer } from '../provider';
import { jwtSettingsSchema } from '../settings';
import { createJwtProvider } from './jwt-provider';

const NOW = 1_800_000_000_000;
const clock = { now: () => NOW };
const secret = 'an HMAC secret that is long enough for HS256';
const key = new TextEncoder().encode(secret);
const sec = NOW / 1000;

function attempt(password: string | null, over: Partial<ConnectAttempt> = {}): ConnectAttempt {
  return {
    clientId: 'dev-1',
    username: 'alice',
    password: password === null ? null : new TextEncoder().encode(password),
    protocolVersion: 5,
    trusted: { ip: '192.0.2.1', tls: true } as ConnectAttempt['trusted'],
    authenticationMethod: null,
    authenticationData: null,
    ...over,
  };
}
const sign = (claims: Record<string, unknown>, exp: number | null = sec + 60, signWith: Uint8Array = key) => {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' });
  if (exp !== null) jwt = jwt.setExpirationTime(exp);
  return jwt.sign(signWith);
};
const refusalCode = (a: ProviderAnswer) => (a.kind === 'refuse' ? a.refusal.code : a.kind);

describe('JWT provider', () => {
  const provider = createJwtProvider(
    jwtSettingsSchema.parse({ keySource: 'hmac', hmacSecret: secret, requiredClaims: { sub: '${clientId}', grp: 'user-${username}' }, publishClaim: 'pub', subscribeClaim: 'sub_rules', usernameClaim: 'name', skipWhenNoToken: false }),
    { clock },
  );

  it('accepts a valid token, takes the username and topic rules from its claims', async () => {
    const answer = await provider.authenticate(attempt(await sign({ sub: 'dev-1', grp: 'user-alice', name: 'Alice', pub: ['^telemetry/dev-1/.*$'], sub_rules: ['^cmd/dev-1$'] })));
    expect(answer).toEqual({
      kind: 'accept',
      identity: { provider: 'jwt', credentialId: null, username: 'Alice', cn: null, rules: { publish: ['^telemetry/dev-1/.*$'], subscribe: ['^cmd/dev-1$'] } },
    });
  });

  it('names each failure precisely', async () => {
    const other = new TextEncoder().encode('some other secret long enough for HS256');
    const ok = { sub: 'dev-1', grp: 'user-alice' };
    const cases: Array<[string | null, string]> = [
      [null, 'JWT_MISSING'],
      ['', 'JWT_MISSING'],
      ['not.a.jwt', 'JWT_MALFORMED'],
      ['hunter2', 'JWT_MALFORMED'],
      [await sign(ok, sec + 60, other), 'JWT_SIGNATURE_INVALID'],
      [await sign(ok, sec - 3600), 'JWT_EXPIRED'],
      [await new SignJWT(ok).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(sec + 600).setNotBefore(sec + 300).sign(key), 'JWT_NOT_YET_VALID'],
      [await sign(ok, null), 'JWT_MALFORMED'],
      [await sign({ ...ok, sub: 'dev-2' }), 'JWT_CLAIM_MISMATCH'],
      [await sign({ sub: 'dev-1' }), 'JWT_CLAIM_MISMATCH'],
      [await sign({ ...ok, pub: 'not-a-list' }), 'JWT_CLAIM_MISMATCH'],
      [await sign({ ...ok, pub: ['(unclosed'] }), 'JWT_CLAIM_MISMATCH'],
      [await new SignJWT(ok).setProtectedHeader({ alg: 'HS512' }).setExpirationTime(sec + 60).sign(key), 'JWT_SIGNATURE_INVALID'],
    ];
    for (const [token, code] of cases) expect(refusalCode(await provider.authenticate(attempt(token))), String(token)).toBe(code);
  });

  it('runs a session only under a username the token vouches for, so a device cannot pick whose ACL rows apply', async () => {
    const asBackend = { username: 'backend' };
    const token = await sign({ sub: 'dev-1', name: 'dev-1' });
    const identityOf = async (settings: Record<string, unknown>) => {
      const answer = await createJwtProvider(jwtSettingsSchema.parse({ keySource: 'hmac', hmacSecret: secret, ...settings }), { clock }).authenticate(attempt(token, asBackend));
      return answer.kind === 'accept' ? answer.identity.username : refusalCode(answer);
    };
    // No claim names the user: the session has no username, whatever the CONNECT said.
    expect(await identityOf({})).toBeNull();
    // The username claim decides; a token without it is refused.
    expect(await identityOf({ usernameClaim: 'name' })).toBe('dev-1');
    expect(await identityOf({ usernameClaim: 'preferred_username' })).toBe('JWT_CLAIM_MISMATCH');
    // A required claim that binds ${username} proves the CONNECT's username.
    const bound = await sign({ sub: 'dev-1', user: 'backend' });
    const answer = await createJwtProvider(jwtSettingsSchema.parse({ keySource: 'hmac', hmacSecret: secret, requiredClaims: { user: '${username}' } }), { clock }).authenticate(attempt(bound, asBackend));
    expect(answer.kind === 'accept' && answer.identity.username).toBe('backend');
    // Beside ${clientId} its bounds are ambiguous ("dev-1:x" could be split elsewhere): no username.
    const joined = await sign({ sub: 'dev-1', id: 'dev-1:backend' });
    const ambiguous = await createJwtProvider(jwtSettingsSchema.parse({ keySource: 'hmac', hmacSecret: secret, requiredClaims: { id: '${clientId}:${username}' } }), { clock }).authenticate(attempt(joined, asBackend));
    expect(ambiguous.kind === 'accept' && ambiguous.identity.username).toBeNull();
  });

  it('tolerates clock skew up to the configured seconds', async () => {
    expect((await provider.authenticate(attempt(await sign({ sub: 'dev-1', grp: 'user-alice', name: 'Alice' }, sec - 20)))).kind).toBe('accept');
  });

  it('leaves non-tokens and enhanced authentication to other providers when skipWhenNoToken is on', async () => {
    const lenient = createJwtProvider(jwtSettingsSchema.parse({ hmacSecret: secret }), { clock });
    expect((await lenient.authenticate(attempt('hunter2'))).kind).toBe('skip');
    expect((await lenient.authenticate(attempt(null))).kind).toBe('skip');
    expect((await lenient.authenticate(attempt(await sign({}), { authenticationMethod: 'SCRAM-SHA-256' }))).kind).toBe('skip');
  });

  it('refuses with JWT_KEY_UNAVAILABLE when no key is configured, and uses JWT_HMAC_SECRET from the environment', async () => {
    const settings = jwtSettingsSchema.parse({ skipWhenNoToken: false });
    expect(refusalCode(await createJwtProvider(settings, { clock }).authenticate(attempt(await sign({}))))).toBe('JWT_KEY_UNAVAILABLE');
    expect((await createJwtProvider(settings, { clock, envHmacSecret: secret }).authenticate(attempt(await sign({})))).kind).toBe('accept');
  });

  it('verifies RS256 with a PEM public key', async () => {
    const pair = await generateKeyPair('RS256', { extractable: true });
    const pem = createJwtProvider(jwtSettingsSchema.parse({ keySource: 'pem', publicKeyPem: await exportSPKI(pair.publicKey), algorithms: ['RS256'] }), { clock });
    const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(sec + 60).sign(pair.privateKey);
    expect((await pem.authenticate(attempt(jwt))).kind).toBe('accept');
    const forged = await new SignJWT({}).setProtectedHeader({ alg: 'RS256' }).setExpirationTime(sec + 60).sign((await generateKeyPair('RS256')).privateKey);
    expect(refusalCode(await pem.authenticate(attempt(forged)))).toBe('JWT_SIGNATURE_INVALID');
  });

  describe('JWKS', () => {
    let fetches = 0;
    let up = true;
    let url = '';
    let pair: Awaited<ReturnType<typeof generateKeyPair>>;
    const server = createServer(async (_req, res) => {
      fetches++;
      if (!up) return res.writeHead(503).end();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }));
    });
    beforeAll(async () => {
      pair = await generateKeyPair('ES256', { extractable: true });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`;
    });
    afterAll(() => void server.close());

    it('fetches the key set once across providers rebuilt with the same settings', async () => {
      const settings = jwtSettingsSchema.parse({ keySource: 'jwks', jwksUrl: url, algorithms: ['ES256'] });
      // Signed "now" for jose's real-time JWKS cache; the provider's clock is only for claim checks.
      const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime(sec + 60).sign(pair.privateKey);
      for (let i = 0; i < 3; i++) expect((await createJwtProvider(settings, { clock }).authenticate(attempt(jwt))).kind).toBe('accept');
      expect(fetches).toBe(1);
    });

    it('refuses with JWT_KEY_UNAVAILABLE when the endpoint fails', async () => {
      up = false;
      const settings = jwtSettingsSchema.parse({ keySource: 'jwks', jwksUrl: `${url}?other`, algorithms: ['ES256'], skipWhenNoToken: false });
      const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setExpirationTime(sec + 60).sign(pair.privateKey);
      expect(refusalCode(await createJwtProvider(settings, { clock }).authenticate(attempt(jwt)))).toBe('JWT_KEY_UNAVAILABLE');
    });
  });
});
