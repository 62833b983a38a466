import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Blocklist } from './blocklist';
import { runAuthChain, type ChainRefusal } from './chain';
import { FailureTracker } from './failure-tracker';
import type { ConnectAttempt } from './provider';
import { createJwtProvider } from './providers/jwt-provider';
import { defaultBrokerSettings, jwtSettingsSchema } from './settings';

// The issuer's JWKS endpoint is down (503) for a minute: nothing is wrong with any device.
let server: Server;
let url: string;
beforeAll(async () => {
  server = createServer((_req, res) => { res.statusCode = 503; res.end('maintenance'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks.json`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('automatic bans during an outage of the JWKS endpoint', () => {
  it('does not IP-ban a NAT fleet of valid devices because the key set could not be fetched', async () => {
    const { privateKey } = await generateKeyPair('RS256');
    const provider = createJwtProvider(jwtSettingsSchema.parse({ keySource: 'jwks', jwksUrl: url, algorithms: ['RS256'] }), { clock: Date });
    const blocklist = new Blocklist();
    const failures = new FailureTracker();
    const bans: ChainRefusal['bans'] = [];
    const now = Date.now();
    const codes = new Set<string>();
    // 100 devices behind one carrier-grade NAT address, each with a valid token, each trying once.
    for (let i = 0; i < 100; i++) {
      const token = await new SignJWT({ sub: `dev-${i}` }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setExpirationTime('10m').sign(privateKey);
      const attempt: ConnectAttempt = {
        clientId: `dev-${i}`, username: null, password: new TextEncoder().encode(token), protocolVersion: 5,
        trusted: { ip: '100.64.0.1', tls: true, tlsClientAuth: null, subprotocol: 'mqtt', forwardedClientCert: null },
        authenticationMethod: null, authenticationData: null,
      };
      const outcome = await runAuthChain(attempt, { providers: [provider], settings: defaultBrokerSettings, blocklist, failures, now });
      if (outcome.kind === 'refuse') { codes.add(outcome.primary.code); bans.push(...outcome.bans); }
    }
    expect([...codes]).toEqual(['JWT_KEY_UNAVAILABLE']);
    // A D1 outage bans nobody (AUTHENTICATION_UNAVAILABLE does not count); a JWKS outage must not either.
    expect(bans).toEqual([]);
  }, 60_000);
});
