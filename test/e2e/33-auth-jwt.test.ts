import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT } from 'jose';
import type { IConnackPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerHandle } from '../support/broker-process';
import { configure, providerSql, startSecuredBroker, unauthorizedRow } from '../support/security-fixtures';
import { connackOf, connectClient } from './mqtt-clients';

const secret = 'an HMAC secret that is long enough for HS256 tokens';
const hmac = new TextEncoder().encode(secret);
const now = () => Math.floor(Date.now() / 1000);

async function token(claims: Record<string, unknown>, options: { exp?: number; nbf?: number; key?: Uint8Array } = {}): Promise<string> {
  let jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(options.exp ?? now() + 300);
  if (options.nbf !== undefined) jwt = jwt.setNotBefore(options.nbf);
  return jwt.sign(options.key ?? hmac);
}

let broker: BrokerHandle;
let jwks: Server;
let jwksUrl = '';
let jwksFetches = 0;
let rsaPrivate: CryptoKey;
beforeAll(async () => {
  const pair = await generateKeyPair('RS256', { extractable: true });
  rsaPrivate = pair.privateKey as CryptoKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  jwks = createServer((_req, res) => {
    jwksFetches++;
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
  jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
  void exportSPKI;

  broker = await startSecuredBroker(
    { providers: 'jwt' },
    providerSql('jwt', true, 10, {
      keySource: 'hmac',
      hmacSecret: secret,
      algorithms: ['HS256'],
      requiredClaims: { sub: '${clientId}' },
      publishClaim: 'pub',
      subscribeClaim: 'sub_rules',
      skipWhenNoToken: false,
    }),
  );
});
afterAll(async () => {
  await broker?.stop();
  jwks?.close();
});

const code = (ack: IConnackPacket) => (ack.reasonCode ?? ack.returnCode) as number;

describe('33 JWT authentication (token in the CONNECT password)', () => {
  it('accepts a valid HS256 token whose sub matches the client id, in both versions', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const clientId = `jwt-ok-${protocolVersion}`;
      const client = await connectClient(broker.wsUrl, { protocolVersion, clientId, username: 'any', password: await token({ sub: clientId }) });
      expect(client.connected).toBe(true);
      await client.endAsync();
    }
  });

  it('refuses and logs missing, malformed, badly signed, expired, not-yet-valid and mismatched tokens', async () => {
    const other = new TextEncoder().encode('some other secret that is also long enough');
    const cases: Array<[string, (id: string) => Promise<string | undefined>, string, number, number]> = [
      ['missing', async () => undefined, 'JWT_MISSING', 0x86, 4],
      ['malformed', async () => 'not.a.jwt', 'JWT_MALFORMED', 0x86, 4],
      ['badsig', async (id) => token({ sub: id }, { key: other }), 'JWT_SIGNATURE_INVALID', 0x86, 4],
      ['expired', async (id) => token({ sub: id }, { exp: now() - 3600 }), 'JWT_EXPIRED', 0x86, 4],
      ['early', async (id) => token({ sub: id }, { nbf: now() + 3600 }), 'JWT_NOT_YET_VALID', 0x86, 4],
      ['mismatch', async () => token({ sub: 'somebody-else' }), 'JWT_CLAIM_MISMATCH', 0x87, 5],
    ];
    for (const [name, make, reason, v5, v3] of cases) {
      for (const protocolVersion of [4, 5] as const) {
        const clientId = `jwt-${name}-${protocolVersion}`;
        const password = await make(clientId);
        const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, username: 'any', ...(password ? { password } : {}) })) as IConnackPacket;
        expect(code(ack), clientId).toBe(protocolVersion === 5 ? v5 : v3);
        const row = await unauthorizedRow(broker, clientId);
        expect(row.reason_code, clientId).toBe(reason);
        // The token itself never lands in the log.
        if (password) expect(row.reason).not.toContain(password);
      }
    }
  });

  it('verifies RS256 tokens against a JWKS URL and fetches the key set once for many connections', async () => {
    await configure(broker, providerSql('jwt', true, 10, { keySource: 'jwks', jwksUrl, algorithms: ['RS256'], jwksCacheSeconds: 600, skipWhenNoToken: false }));
    jwksFetches = 0;
    for (let i = 0; i < 3; i++) {
      const jwt = await new SignJWT({ sub: `rs-${i}` }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime(now() + 300).sign(rsaPrivate);
      const client = await connectClient(broker.wsUrl, { protocolVersion: 5, clientId: `rs-${i}`, username: 'x', password: jwt });
      await client.endAsync();
    }
    expect(jwksFetches).toBe(1);
  });

  it('refuses with JWT_KEY_UNAVAILABLE (0x88 / return code 3) when the JWKS endpoint cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/jwks.json`;
    await new Promise<void>((r) => closed.close(() => r()));
    await configure(broker, providerSql('jwt', true, 10, { keySource: 'jwks', jwksUrl: deadUrl, algorithms: ['RS256'], skipWhenNoToken: false }));
    for (const protocolVersion of [4, 5] as const) {
      const clientId = `jwt-nokey-${protocolVersion}`;
      const jwt = await new SignJWT({ sub: clientId }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime(now() + 300).sign(rsaPrivate);
      const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, username: 'x', password: jwt })) as IConnackPacket;
      expect(code(ack)).toBe(protocolVersion === 5 ? 0x88 : 3);
      expect((await unauthorizedRow(broker, clientId)).reason_code).toBe('JWT_KEY_UNAVAILABLE');
    }
  });

  it('applies the publish and subscribe rules carried in the token claims', async () => {
    await configure(
      broker,
      providerSql('jwt', true, 10, { keySource: 'hmac', hmacSecret: secret, algorithms: ['HS256'], publishClaim: 'pub', subscribeClaim: 'sub_rules', skipWhenNoToken: false }),
    );
    const client = await connectClient(broker.wsUrl, {
      protocolVersion: 5,
      clientId: 'jwt-rules',
      username: 'x',
      password: await token({ sub: 'jwt-rules', pub: ['^farm/jwt-rules/.*$'], sub_rules: ['^farm/jwt-rules/#$'] }),
    });
    const allowed = await client.subscribeAsync('farm/jwt-rules/#', { qos: 1 });
    expect(allowed[0]?.qos).toBe(1);
    // MQTT.js rejects a SUBSCRIBE whose SUBACK carries a failure code; the packet is on the error.
    await expect(client.subscribeAsync('farm/other/#', { qos: 1 })).rejects.toMatchObject({ packet: { granted: [0x87] } });
    const ok = await client.publishAsync('farm/jwt-rules/temp', '21', { qos: 1 });
    expect(ok && 'reasonCode' in ok ? ok.reasonCode : 0).toBe(0);
    // MQTT.js rejects a publish whose PUBACK carries a failure reason code.
    await expect(client.publishAsync('farm/other/temp', '21', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    await client.endAsync();
  });
});
