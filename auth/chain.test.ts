import { describe, expect, it } from 'vitest';
import { Blocklist, type BlockEntry } from './blocklist';
import { describeRefusals, runAuthChain, type ChainContext } from './chain';
import { FailureTracker } from './failure-tracker';
import type { AuthProvider, ConnectAttempt, ProviderAnswer, ProviderType } from './provider';
import { defaultBrokerSettings, type BrokerSettings } from './settings';

const attempt = (over: Partial<ConnectAttempt> = {}): ConnectAttempt => ({
  clientId: 'dev-1',
  username: 'alice',
  password: new TextEncoder().encode('pw'),
  protocolVersion: 5,
  trusted: { ip: '203.0.113.7', tls: true, tlsClientAuth: null, subprotocol: 'mqtt' },
  authenticationMethod: null,
  authenticationData: null,
  ...over,
});

const provider = (type: ProviderType, answer: ProviderAnswer | (() => Promise<ProviderAnswer>)): AuthProvider & { calls: number } => {
  const p = {
    type,
    calls: 0,
    async authenticate() {
      p.calls++;
      return typeof answer === 'function' ? answer() : answer;
    },
  };
  return p;
};

const accept = (type: ProviderType): ProviderAnswer => ({ kind: 'accept', identity: { provider: type, credentialId: 'c1', username: 'alice', cn: null, rules: null } });

const ctx = (providers: AuthProvider[], over: Omit<Partial<ChainContext>, 'settings'> & { settings?: Partial<BrokerSettings> } = {}): ChainContext => ({
  providers,
  blocklist: over.blocklist ?? new Blocklist(),
  failures: over.failures ?? new FailureTracker(),
  now: over.now ?? 1_000_000,
  settings: { ...defaultBrokerSettings, ...over.settings },
});

describe('authentication chain', () => {
  it('asks providers in order and the first acceptance wins', async () => {
    const x509 = provider('x509', { kind: 'skip' });
    const basic = provider('basic', accept('basic'));
    const jwt = provider('jwt', accept('jwt'));
    const out = await runAuthChain(attempt(), ctx([x509, basic, jwt]));
    expect(out.kind).toBe('accept');
    expect(out.kind === 'accept' && out.identity.provider).toBe('basic');
    expect([x509.calls, basic.calls, jwt.calls]).toEqual([1, 1, 0]);
  });

  it('lets the next provider try after a refusal, and keeps every reason when all refuse', async () => {
    const basic = provider('basic', { kind: 'refuse', refusal: { code: 'PASSWORD_DOES_NOT_MATCH', detail: 'wrong password for username "alice"' } });
    const jwt = provider('jwt', { kind: 'refuse', refusal: { code: 'JWT_MALFORMED', detail: 'not a JWT' } });
    const out = await runAuthChain(attempt(), ctx([basic, jwt]));
    expect(out.kind).toBe('refuse');
    if (out.kind !== 'refuse') return;
    expect(out.primary.code).toBe('PASSWORD_DOES_NOT_MATCH');
    expect(out.refusals.map((r) => [r.provider, r.refusal.code])).toEqual([
      ['basic', 'PASSWORD_DOES_NOT_MATCH'],
      ['jwt', 'JWT_MALFORMED'],
    ]);
    expect(describeRefusals(out)).toBe('basic: Password Does Not Match: wrong password for username "alice"; jwt: JWT Malformed: not a JWT');

    const laterAccepts = await runAuthChain(attempt(), ctx([basic, provider('x509', accept('x509'))]));
    expect(laterAccepts.kind).toBe('accept');
  });

  it('refuses blocked clients before any provider runs, by id, username, IP, CIDR and regex', async () => {
    const basic = provider('basic', accept('basic'));
    const cases: Array<[BlockEntry, Partial<ConnectAttempt>]> = [
      [{ id: '1', kind: 'clientId', value: 'dev-1', source: 'manual', expiresAt: null }, {}],
      [{ id: '2', kind: 'username', value: 'alice', source: 'manual', expiresAt: null }, {}],
      [{ id: '3', kind: 'ip', value: '203.0.113.7', source: 'manual', expiresAt: null }, {}],
      [{ id: '4', kind: 'cidr', value: '203.0.113.0/24', source: 'manual', expiresAt: null }, {}],
      [{ id: '5', kind: 'cidr', value: '2001:db8::/32', source: 'manual', expiresAt: null }, { trusted: { ip: '2001:db8:1::5', tls: true, tlsClientAuth: null, subprotocol: 'mqtt' } }],
      [{ id: '6', kind: 'clientIdRegex', value: 'dev-\\d+', source: 'manual', expiresAt: null }, {}],
    ];
    for (const [entry, over] of cases) {
      const out = await runAuthChain(attempt(over), ctx([basic], { blocklist: new Blocklist([entry]) }));
      expect(out.kind === 'refuse' && out.primary.code, entry.kind).toBe('CLIENT_BLOCKED');
    }
    expect(basic.calls).toBe(0);
  });

  it('ignores expired blocks and reports automatic ones as temporary bans', async () => {
    const basic = provider('basic', accept('basic'));
    const expired = new Blocklist([{ id: '1', kind: 'clientId', value: 'dev-1', source: 'manual', expiresAt: 999_999 }]);
    expect((await runAuthChain(attempt(), ctx([basic], { blocklist: expired, now: 1_000_000 }))).kind).toBe('accept');
    const auto = new Blocklist([{ id: '2', kind: 'ip', value: '203.0.113.7', source: 'auto', expiresAt: 2_000_000 }]);
    const out = await runAuthChain(attempt(), ctx([basic], { blocklist: auto, now: 1_000_000 }));
    expect(out.kind === 'refuse' && out.primary.code).toBe('TEMPORARILY_BANNED');
  });

  it('enforces client id prefixes, except for identifiers the broker assigned', async () => {
    const basic = provider('basic', accept('basic'));
    const settings = { clientIdPrefixes: ['fleet-', 'ops-'] };
    const out = await runAuthChain(attempt(), ctx([basic], { settings }));
    expect(out.kind === 'refuse' && out.primary.code).toBe('CLIENT_ID_PREFIX_NOT_ALLOWED');
    expect((await runAuthChain(attempt({ clientId: 'fleet-9' }), ctx([basic], { settings }))).kind).toBe('accept');
    expect((await runAuthChain({ ...attempt({ clientId: 'edgemq-x' }), clientIdAssigned: true }, ctx([basic], { settings }))).kind).toBe('accept');
  });

  it('bans a failing client id, and only it: its neighbours on the same IP still get in', async () => {
    const refuse = provider('basic', { kind: 'refuse', refusal: { code: 'PASSWORD_DOES_NOT_MATCH', detail: 'x' } });
    const failures = new FailureTracker();
    const settings = { autoBan: { enabled: true, maxFailures: 3, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 5, scope: ['ip', 'clientId'] as Array<'ip' | 'clientId'> } };
    const bans = [];
    for (let i = 0; i < 25; i++) {
      const out = await runAuthChain(attempt({ clientId: 'broken' }), ctx([refuse], { failures, settings, now: 1_000_000 + i }));
      if (out.kind === 'refuse') bans.push(...out.bans);
    }
    // Every third failure would ban it again; the caller's blocklist stops the rest before they count.
    expect(bans[0]).toMatchObject({ kind: 'clientId', value: 'broken', until: 1_000_002 + 300_000 });
    expect(bans.some((b) => b.kind === 'ip')).toBe(false);
  });

  it('bans a client id only where its failures came from: a stranger who knows it cannot lock the device out', async () => {
    const device = { ip: '203.0.113.20', tls: true, tlsClientAuth: null, subprotocol: 'mqtt' };
    const stranger = { ip: '198.51.100.66', tls: true, tlsClientAuth: null, subprotocol: 'mqtt' };
    // The device's own password is right; the stranger's guesses are not.
    const basic = provider('basic', accept('basic'));
    basic.authenticate = async (a: ConnectAttempt) => (a.trusted.ip === device.ip ? accept('basic') : { kind: 'refuse', refusal: { code: 'PASSWORD_DOES_NOT_MATCH', detail: 'x' } });
    const failures = new FailureTracker();
    const blocklist = new Blocklist();
    const settings = { autoBan: { enabled: true, maxFailures: 10, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 100, scope: ['ip', 'clientId'] as Array<'ip' | 'clientId'> } };
    const bans = [];
    for (let i = 0; i < 12; i++) {
      const out = await runAuthChain(attempt({ clientId: 'sn-000123', trusted: stranger }), ctx([basic], { failures, blocklist, settings, now: 1_000_000 + i }));
      // What the shard does with a ban: in force at once.
      if (out.kind === 'refuse') for (const b of out.bans) blocklist.add({ id: `auto:${i}`, kind: b.kind, value: b.value, ip: b.ip, source: 'auto', expiresAt: b.until });
      if (out.kind === 'refuse') bans.push(...out.bans);
    }
    const fromDevice = await runAuthChain(attempt({ clientId: 'sn-000123', trusted: device }), ctx([basic], { failures, blocklist, settings, now: 1_000_100 }));
    expect(fromDevice.kind === 'refuse' ? fromDevice.primary.code : fromDevice.kind).toBe('accept');
    const fromStranger = await runAuthChain(attempt({ clientId: 'sn-000123', trusted: stranger }), ctx([basic], { failures, blocklist, settings, now: 1_000_100 }));
    expect(fromStranger.kind === 'refuse' && fromStranger.primary.code).toBe('TEMPORARILY_BANNED');
    expect(bans.map((b) => [b.kind, b.value, b.ip])).toEqual([['clientId', 'sn-000123', stranger.ip]]);
  });

  it('bans an IP once many different client ids or usernames fail from it within the window', async () => {
    const refuse = provider('basic', { kind: 'refuse', refusal: { code: 'PASSWORD_DOES_NOT_MATCH', detail: 'x' } });
    const settings = { autoBan: { enabled: true, maxFailures: 3, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 4, scope: ['ip', 'clientId'] as Array<'ip' | 'clientId'> } };
    const byClientId = new FailureTracker();
    const bans = [];
    for (let i = 0; i < 4; i++) {
      const out = await runAuthChain(attempt({ clientId: `c${i}` }), ctx([refuse], { failures: byClientId, settings, now: 1_000_000 + i }));
      if (out.kind === 'refuse') bans.push(...out.bans);
    }
    expect(bans).toEqual([{ kind: 'ip', value: '203.0.113.7', until: 1_000_003 + 300_000, description: '4 different client ids failed from this IP within 60s' }]);

    // Identifiers the broker assigned are new every time: they are counted by username instead.
    const byUsername = new FailureTracker();
    const spray = [];
    for (let i = 0; i < 4; i++) {
      const out = await runAuthChain({ ...attempt({ clientId: `edgemq-${i}`, username: `user${i}` }), clientIdAssigned: true }, ctx([refuse], { failures: byUsername, settings, now: 1_000_000 + i }));
      if (out.kind === 'refuse') spray.push(...out.bans);
    }
    expect(spray).toMatchObject([{ kind: 'ip', description: '4 different usernames failed from this IP within 60s' }]);

    const sameUser = new FailureTracker();
    const assigned = [];
    for (let i = 0; i < 10; i++) {
      const out = await runAuthChain({ ...attempt({ clientId: `edgemq-${i}` }), clientIdAssigned: true }, ctx([refuse], { failures: sameUser, settings, now: 1_000_000 + i }));
      if (out.kind === 'refuse') assigned.push(...out.bans);
    }
    expect(assigned).toEqual([]);
  });

  it('counts an IPv6 client by its /64: rotating addresses inside it ends in a ban of the /64, not of its neighbours', async () => {
    const refuse = provider('basic', { kind: 'refuse', refusal: { code: 'PASSWORD_DOES_NOT_MATCH', detail: 'x' } });
    const settings = { autoBan: { enabled: true, maxFailures: 3, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 4, scope: ['ip', 'clientId'] as Array<'ip' | 'clientId'> } };
    const failures = new FailureTracker();
    const blocklist = new Blocklist();
    const from = (ip: string) => ({ ip, tls: true, tlsClientAuth: null, subprotocol: 'mqtt' });
    const bans = [];
    for (let i = 0; i < 4; i++) {
      const out = await runAuthChain(attempt({ clientId: `c${i}`, trusted: from(`2001:db8:1:2::${(i + 1).toString(16)}`) }), ctx([refuse], { failures, blocklist, settings, now: 1_000_000 + i }));
      if (out.kind === 'refuse') for (const b of out.bans) blocklist.add({ id: `auto:${i}`, kind: b.kind, value: b.value, ip: b.ip, source: 'auto', expiresAt: b.until });
      if (out.kind === 'refuse') bans.push(...out.bans);
    }
    expect(bans).toEqual([{ kind: 'cidr', value: '2001:db8:1:2::/64', until: 1_000_003 + 300_000, description: '4 different client ids failed from this IPv6 /64 within 60s' }]);
    const inside = await runAuthChain(attempt({ trusted: from('2001:db8:1:2:ffff::1') }), ctx([provider('basic', accept('basic'))], { failures, blocklist, settings, now: 1_000_100 }));
    expect(inside.kind === 'refuse' && inside.primary).toEqual({
      code: 'TEMPORARILY_BANNED',
      detail: `too many failed attempts from this IPv6 /64, cidr "2001:db8:1:2::/64" (until ${new Date(1_300_003).toISOString()})`,
    });
    const outside = await runAuthChain(attempt({ trusted: from('2001:db8:1:3::1') }), ctx([provider('basic', accept('basic'))], { failures, blocklist, settings, now: 1_000_100 }));
    expect(outside.kind).toBe('accept');
  });

  it('says a client id ban holds in an IPv6 /64', async () => {
    const blocklist = new Blocklist([{ id: 'b', kind: 'clientId', value: 'dev-1', ip: '2001:db8:1:2::/64', source: 'auto', expiresAt: null }]);
    const out = await runAuthChain(attempt({ trusted: { ip: '2001:db8:1:2::7', tls: true, tlsClientAuth: null, subprotocol: 'mqtt' } }), ctx([], { blocklist }));
    expect(out.kind === 'refuse' && out.primary.detail).toBe('too many failed attempts from clientId "dev-1" in this IPv6 /64 "2001:db8:1:2::/64" (no expiry)');
  });

  it('answers busy, and counts nothing, when a provider was too busy to check, whatever its place in the chain', async () => {
    const jwt = provider('jwt', { kind: 'refuse', refusal: { code: 'JWT_MALFORMED', detail: 'not a JWT' } });
    const basic = provider('basic', { kind: 'refuse', refusal: { code: 'AUTHENTICATION_BUSY', detail: 'budget spent' } });
    const settings = { autoBan: { enabled: true, maxFailures: 1, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 2, scope: ['ip', 'clientId'] as Array<'ip' | 'clientId'> } };
    const out = await runAuthChain(attempt(), ctx([jwt, basic], { settings }));
    expect(out.kind === 'refuse' && [out.primary.code, out.bans]).toEqual(['AUTHENTICATION_BUSY', []]);
    expect(out.kind === 'refuse' && describeRefusals(out)).toBe('jwt: JWT Malformed: not a JWT; basic: Authentication Busy: budget spent');
    // A later provider that can decide without hashing still lets the client in.
    expect((await runAuthChain(attempt(), ctx([basic, provider('x509', accept('x509'))]))).kind).toBe('accept');
  });

  it('names the right reason when nobody answered', async () => {
    const skip = provider('basic', { kind: 'skip' });
    const anon = await runAuthChain(attempt({ username: null, password: null }), ctx([skip]));
    expect(anon.kind === 'refuse' && anon.primary.code).toBe('ANONYMOUS_NOT_ALLOWED');
    const method = await runAuthChain(attempt({ authenticationMethod: 'KERBEROS' }), ctx([skip]));
    expect(method.kind === 'refuse' && method.primary.code).toBe('BAD_AUTHENTICATION_METHOD');
    const none = await runAuthChain(attempt(), ctx([]));
    expect(none.kind === 'refuse' && none.primary.code).toBe('NO_PROVIDER_ENABLED');
  });

  it('denies when a provider throws', async () => {
    const broken = provider('basic', async () => {
      throw new Error('D1 unavailable');
    });
    const out = await runAuthChain(attempt(), ctx([broken, provider('anonymous', accept('anonymous'))]));
    expect(out.kind === 'refuse' && out.primary.code).toBe('AUTHENTICATION_UNAVAILABLE');
  });

  it('follows an enhanced authentication exchange to its end', async () => {
    const scram = provider('scram', {
      kind: 'continue',
      authenticationData: new Uint8Array([1]),
      next: async (data) =>
        data?.[0] === 42 ? accept('scram') : { kind: 'refuse', refusal: { code: 'SCRAM_PROOF_INVALID', detail: 'bad proof' } },
    });
    const first = await runAuthChain(attempt({ authenticationMethod: 'SCRAM-SHA-256' }), ctx([scram]));
    expect(first.kind).toBe('continue');
    if (first.kind !== 'continue') return;
    expect((await first.next(new Uint8Array([42]))).kind).toBe('accept');
    const wrong = await first.next(new Uint8Array([0]));
    expect(wrong.kind === 'refuse' && wrong.primary.code).toBe('SCRAM_PROOF_INVALID');
  });
});
