import { describe, expect, it } from 'vitest';
import { Blocklist } from '../blocklist';
import { describeRefusals, runAuthChain, type ChainOutcome } from '../chain';
import { FailureTracker } from '../failure-tracker';
import { TokenBucket } from '../hash-budget';
import { hashPassword } from '../passwords/password-hash';
import type { AuthenticatedIdentity, ConnectAttempt } from '../provider';
import { REFUSAL_REASONS } from '../reasons';
import { basicSettingsSchema, defaultBrokerSettings, type BrokerSettings } from '../settings';
import type { VerifiedCache } from '../verified-cache';
import { createBasicProvider, type BasicCredentialRecord } from './basic-provider';

/** The shard's verified cache, in memory. */
class MemoryCache implements VerifiedCache {
  private readonly entries = new Map<string, { identity: AuthenticatedIdentity; expiresAt: number }>();
  get(key: string, now: number) {
    const e = this.entries.get(key);
    return e && e.expiresAt > now ? e.identity : null;
  }
  set(key: string, _clientId: string, identity: AuthenticatedIdentity, ttlMs: number, now: number) {
    this.entries.set(key, { identity, expiresAt: now + ttlMs });
  }
  clear() {
    this.entries.clear();
  }
}

// Any failure that counts bans at once: the client id on its first, the IP on its second distinct identity.
const settings: BrokerSettings = {
  ...defaultBrokerSettings,
  autoBan: { enabled: true, maxFailures: 1, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 2, scope: ['ip', 'clientId'] },
};

const attempt = (clientId: string, username: string, password: string): ConnectAttempt => ({
  clientId,
  username,
  password: new TextEncoder().encode(password),
  protocolVersion: 5,
  trusted: { ip: '100.64.0.1', tls: true, tlsClientAuth: null, subprotocol: 'mqtt' },
  authenticationMethod: null,
  authenticationData: null,
});

async function fleet() {
  // Full strength (100,000 iterations): each check costs one whole token.
  const hash = await hashPassword('fleet-pw');
  const credentials: BasicCredentialRecord[] = ['meter-1', 'meter-2'].map((username) => ({
    id: username,
    clientId: null,
    username,
    passwordHash: hash,
    allowedClientIds: null,
    rules: null,
  }));
  const clock = { t: 1_000_000, now: () => clock.t };
  // Room for one check, refilled at one a second; the clock only moves when a test moves it.
  const budget = new TokenBucket({ perSecond: 1, burst: 1 }, clock);
  const provider = createBasicProvider(
    basicSettingsSchema.parse({}),
    { findBasicCredentials: async ({ username }) => credentials.filter((c) => c.username === username) },
    new MemoryCache(),
    new TextEncoder().encode('cache secret for tests'),
    budget,
    clock,
  );
  const failures = new FailureTracker();
  const blocklist = new Blocklist();
  const connect = (a: ConnectAttempt): Promise<ChainOutcome> => runAuthChain(a, { providers: [provider], settings, blocklist, failures, now: clock.now() });
  return { clock, connect };
}

describe('basic provider under the shard hash budget', () => {
  it('refuses a right password that misses the cache as server busy once the budget is spent, and counts nothing toward a ban', async () => {
    const { connect } = await fleet();
    expect((await connect(attempt('meter-1', 'meter-1', 'fleet-pw'))).kind).toBe('accept');

    // The one token went to meter-1. meter-2's password is right, but it has never been verified.
    const busy = await connect(attempt('meter-2', 'meter-2', 'fleet-pw'));
    expect(busy.kind).toBe('refuse');
    if (busy.kind !== 'refuse') return;
    expect(busy.primary.code).toBe('AUTHENTICATION_BUSY');
    expect([REFUSAL_REASONS.AUTHENTICATION_BUSY.mqtt5, REFUSAL_REASONS.AUTHENTICATION_BUSY.mqtt3]).toEqual([0x89, 3]);
    expect(describeRefusals(busy)).toBe(
      'basic: Authentication Busy: credentials for username "meter-2" not checked: this shard\'s password hashing budget (1 per second, bursts of 1) is spent',
    );
    expect(busy.bans).toEqual([]);

    // A whole fleet behind one NAT address keeps hearing "busy", and is never banned for it.
    for (let i = 0; i < 5; i++) {
      const again = await connect(attempt(`meter-2-${i}`, 'meter-2', 'fleet-pw'));
      expect(again.kind === 'refuse' && [again.primary.code, again.bans]).toEqual(['AUTHENTICATION_BUSY', []]);
    }
  });

  it('still accepts, with the budget spent, a client whose password the verified cache answers', async () => {
    const { connect } = await fleet();
    expect((await connect(attempt('meter-1', 'meter-1', 'fleet-pw'))).kind).toBe('accept');
    expect((await connect(attempt('meter-2', 'meter-2', 'fleet-pw'))).kind).toBe('refuse');
    // The reconnect after a deploy: meter-1 was verified, so no hashing and no token.
    for (let i = 0; i < 3; i++) expect((await connect(attempt('meter-1', 'meter-1', 'fleet-pw'))).kind).toBe('accept');
  });

  it('charges unknown users and wrong passwords too, and checks again once the budget has refilled', async () => {
    const { clock, connect } = await fleet();
    const unknown = await connect(attempt('probe', 'nobody', 'guess'));
    // The dummy verification for an unknown user spent the token; the refusal is the client's and counts.
    expect(unknown.kind === 'refuse' && unknown.primary.code).toBe('NO_CREDENTIALS_FOUND');
    expect(unknown.kind === 'refuse' && unknown.bans.map((b) => b.kind)).toEqual(['clientId']);
    const unchecked = await connect(attempt('meter-2', 'meter-2', 'wrong'));
    expect(unchecked.kind === 'refuse' && unchecked.primary.code).toBe('AUTHENTICATION_BUSY');

    clock.t += 1_000;
    const wrong = await connect(attempt('meter-2', 'meter-2', 'wrong'));
    expect(wrong.kind === 'refuse' && wrong.primary.code).toBe('PASSWORD_DOES_NOT_MATCH');
    clock.t += 1_000;
    expect((await connect(attempt('meter-2b', 'meter-2', 'fleet-pw'))).kind).toBe('accept');
  });
});
