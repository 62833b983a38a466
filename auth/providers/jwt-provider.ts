import { createRemoteJWKSet, decodeProtectedHeader, errors, importSPKI, jwtVerify, type CryptoKey, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthProvider, ProviderAnswer, Refusal, TopicRules } from '../provider';
import { topicRulesSchema, type ProviderSettings } from '../settings';

/** Longer passwords are not tokens anyone issues, and parsing them costs CPU an attacker controls. */
const MAX_TOKEN_BYTES = 16_384;

export interface JwtProviderDeps {
  clock: { now(): number };
  /** HMAC secret from the environment (JWT_HMAC_SECRET), used when the D1 settings hold none. */
  envHmacSecret?: string;
}

/**
 * JWT in the CONNECT password (jose): HMAC secret, PEM public key, or a JWKS
 * URL whose key set is cached across connections. exp and nbf are checked
 * (with the configured tolerance), then required claims with `${clientId}`
 * and `${username}` substituted. Optional claims carry TBMQ-style publish and
 * subscribe regex lists that feed the same ACL evaluation as credential rules.
 */
export function createJwtProvider(settings: ProviderSettings['jwt'], deps: JwtProviderDeps): AuthProvider {
  const key = keyResolver(settings, deps.envHmacSecret);
  return {
    type: 'jwt',
    async authenticate(attempt): Promise<ProviderAnswer> {
      if (attempt.authenticationMethod !== null) return { kind: 'skip' };
      const token = attempt.password === null ? '' : new TextDecoder().decode(attempt.password);
      if (token === '') return settings.skipWhenNoToken ? { kind: 'skip' } : refuse('JWT_MISSING', 'the CONNECT password is empty');
      if (attempt.password!.byteLength > MAX_TOKEN_BYTES || !looksLikeJws(token)) {
        return settings.skipWhenNoToken ? { kind: 'skip' } : refuse('JWT_MALFORMED', 'the password is not a compact JWS');
      }
      if (key.kind === 'unavailable') return refuse('JWT_KEY_UNAVAILABLE', key.reason);

      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, key.get, {
          algorithms: settings.algorithms,
          issuer: settings.issuer,
          audience: settings.audience,
          clockTolerance: settings.clockToleranceSeconds,
          currentDate: new Date(deps.clock.now()),
          // A token that never expires cannot be withdrawn: deny it.
          requiredClaims: ['exp'],
        }));
      } catch (err) {
        return { kind: 'refuse', refusal: verificationRefusal(err, settings.keySource) };
      }

      const vars = { clientId: attempt.clientId, username: attempt.username ?? '' };
      for (const [claim, template] of Object.entries(settings.requiredClaims)) {
        const expected = template.replaceAll('${clientId}', vars.clientId).replaceAll('${username}', vars.username);
        const actual = payload[claim];
        const matches = Array.isArray(actual) ? actual.some((v) => String(v) === expected) : actual !== undefined && String(actual) === expected;
        if (!matches) {
          return refuse('JWT_CLAIM_MISMATCH', `claim "${claim}" is ${actual === undefined ? 'missing' : 'not the required value'}`);
        }
      }

      const rules = rulesFrom(payload, settings);
      if (rules === 'invalid') return refuse('JWT_CLAIM_MISMATCH', 'the publish/subscribe claims are not lists of regular expressions');
      const username = provenUsername(payload, settings, attempt.username);
      if (username === false) return refuse('JWT_CLAIM_MISMATCH', `claim "${settings.usernameClaim}" (the username) is missing`);
      return { kind: 'accept', identity: { provider: 'jwt', credentialId: null, username, cn: null, rules } };
    },
  };
}

type KeyResolver = { kind: 'ready'; get: Uint8Array | JWTVerifyGetKey } | { kind: 'unavailable'; reason: string };

function keyResolver(settings: ProviderSettings['jwt'], envHmacSecret: string | undefined): KeyResolver {
  switch (settings.keySource) {
    case 'hmac': {
      const secret = settings.hmacSecret ?? envHmacSecret;
      if (!secret) return { kind: 'unavailable', reason: 'no HMAC secret is configured (hmacSecret or JWT_HMAC_SECRET)' };
      return { kind: 'ready', get: new TextEncoder().encode(secret) };
    }
    case 'pem': {
      const pem = settings.publicKeyPem;
      if (!pem) return { kind: 'unavailable', reason: 'no PEM public key is configured' };
      return { kind: 'ready', get: (header) => pemKey(pem, header.alg) };
    }
    case 'jwks': {
      if (!settings.jwksUrl) return { kind: 'unavailable', reason: 'no JWKS URL is configured' };
      return { kind: 'ready', get: remoteKeySet(settings.jwksUrl, settings.jwksCacheSeconds) };
    }
  }
}

// Module scope: providers are rebuilt on every configuration change, but the
// fetched key sets and imported keys stay, so a reconnect storm costs no fetches.
const MAX_CACHED_KEYS = 32;
const keySets = new Map<string, JWTVerifyGetKey>();
const pemKeys = new Map<string, Promise<CryptoKey>>();

function remoteKeySet(url: string, cacheSeconds: number): JWTVerifyGetKey {
  const id = `${cacheSeconds}\0${url}`;
  let set = keySets.get(id);
  if (!set) {
    set = createRemoteJWKSet(new URL(url), { cacheMaxAge: cacheSeconds * 1000, cooldownDuration: 30_000, timeoutDuration: 5_000 });
    remember(keySets, id, set);
  }
  return set;
}

function pemKey(pem: string, alg: string): Promise<CryptoKey> {
  const id = `${alg}\0${pem}`;
  let key = pemKeys.get(id);
  if (!key) {
    key = importSPKI(pem, alg);
    // A key that failed to import is not remembered, so fixing the settings takes effect.
    key.catch(() => pemKeys.delete(id));
    remember(pemKeys, id, key);
  }
  return key;
}

function remember<V>(map: Map<string, V>, id: string, value: V): void {
  if (map.size >= MAX_CACHED_KEYS) map.delete(map.keys().next().value!);
  map.set(id, value);
}

/**
 * The session's username, which picks the ACL rows for a user: only a name
 * the token vouches for. With `usernameClaim`, that claim (a token without
 * it is refused: false); otherwise the CONNECT's username when a required
 * claim binds it (`${username}` in a template without `${clientId}`), else none. A client must not
 * choose whose ACL rows it runs under by what it types as its username.
 */
function provenUsername(payload: JWTPayload, settings: ProviderSettings['jwt'], connectUsername: string | null): string | null | false {
  if (settings.usernameClaim) {
    const claimed = payload[settings.usernameClaim];
    return typeof claimed === 'string' && claimed !== '' ? claimed.slice(0, 256) : false;
  }
  // Beside ${clientId} the username's bounds are not known (a ":" may belong to either): only a template with it alone proves it.
  const bound = Object.values(settings.requiredClaims).some((template) => template.includes('${username}') && !template.includes('${clientId}'));
  return bound ? connectUsername : null;
}

function looksLikeJws(token: string): boolean {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) return false;
  try {
    return typeof decodeProtectedHeader(token).alg === 'string';
  } catch {
    return false;
  }
}

function verificationRefusal(err: unknown, keySource: ProviderSettings['jwt']['keySource']): Refusal {
  if (err instanceof errors.JWTExpired) return { code: 'JWT_EXPIRED', detail: 'the token is past its exp time' };
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return { code: 'JWT_NOT_YET_VALID', detail: 'the token nbf time is in the future' };
    if (err.claim === 'exp') return { code: 'JWT_MALFORMED', detail: 'the token has no valid exp claim' };
    return { code: 'JWT_CLAIM_MISMATCH', detail: `claim "${err.claim}" ${err.reason === 'missing' ? 'is missing' : 'does not match'}` };
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return { code: 'JWT_SIGNATURE_INVALID', detail: 'the signature does not verify with the configured key' };
  if (err instanceof errors.JOSEAlgNotAllowed) return { code: 'JWT_SIGNATURE_INVALID', detail: 'the token algorithm is not one of the configured algorithms' };
  if (err instanceof errors.JWKSNoMatchingKey) return { code: 'JWT_SIGNATURE_INVALID', detail: 'no key in the key set matches the token' };
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return { code: 'JWT_MALFORMED', detail: 'the token is not a valid JWT' };
  if (err instanceof errors.JWKSTimeout || keySource === 'jwks') return { code: 'JWT_KEY_UNAVAILABLE', detail: 'the JWKS endpoint could not be used' };
  if (err instanceof errors.JOSEError) return { code: 'JWT_KEY_UNAVAILABLE', detail: 'the configured key cannot verify this token' };
  return { code: 'JWT_KEY_UNAVAILABLE', detail: 'the token could not be verified' };
}

function rulesFrom(payload: JWTPayload, settings: ProviderSettings['jwt']): TopicRules | null | 'invalid' {
  if (!settings.publishClaim && !settings.subscribeClaim) return null;
  const pub = settings.publishClaim ? payload[settings.publishClaim] : undefined;
  const sub = settings.subscribeClaim ? payload[settings.subscribeClaim] : undefined;
  // A token without rule claims is judged by the ACL rules alone, like a credential without rules.
  if (pub === undefined && sub === undefined) return null;
  const parsed = topicRulesSchema.safeParse({ publish: pub ?? [], subscribe: sub ?? [] });
  return parsed.success ? parsed.data : 'invalid';
}

function refuse(code: Refusal['code'], detail: string): ProviderAnswer {
  return { kind: 'refuse', refusal: { code, detail } };
}
