import { describe, expect, it } from 'vitest';
import { FailureTracker, type AutoBanSettings, type SharedIpCounter } from './failure-tracker';
import { IpIdentityWindow, type IpCount, type IpIdentity, type IpLimits } from './ip-identities';

const settings: AutoBanSettings = { enabled: true, maxFailures: 3, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 4, scope: ['ip', 'clientId'] };
const IP = '203.0.113.9';

/** What durable-objects/ban-counter.ts does for one IP, in memory, with a count of how often it was asked. */
class CountingCounter implements SharedIpCounter {
  calls = 0;
  failing = false;
  private readonly windows = new Map<string, IpIdentityWindow>();

  constructor(private readonly now: () => number) {}

  async add(ip: string, identity: IpIdentity, limits: IpLimits): Promise<IpCount> {
    this.calls++;
    if (this.failing) throw new Error('counter unreachable');
    let w = this.windows.get(ip);
    if (!w || w.expired(limits, this.now())) this.windows.set(ip, (w = new IpIdentityWindow(this.now())));
    const count = w.add(identity, limits);
    if (count.reached) this.windows.delete(ip);
    return count;
  }
}

describe('FailureTracker with a shared per-IP counter', () => {
  it('bans an IP at the same threshold when its failing client ids are spread over shards', async () => {
    let now = 1_000_000;
    const shared = new CountingCounter(() => now);
    const shards = [0, 1, 2, 3].map(() => new FailureTracker(10_000, shared));
    const bans = [];
    for (let i = 0; i < 4; i++) {
      now++;
      bans.push(...(await shards[i].record({ ip: IP, clientId: `rotating-${i}`, username: 'fleet' }, settings, now)));
    }
    expect(bans).toEqual([{ kind: 'ip', value: IP, until: now + 300_000, description: '4 different client ids failed from this IP within 60s' }]);
    // Alone, each shard saw one client id and would never have banned.
    const alone = new FailureTracker();
    expect(await alone.record({ ip: IP, clientId: 'rotating-0', username: 'fleet' }, settings, now)).toEqual([]);
  });

  it('asks the counter only about identities new to this shard, so a retrying device costs one call per window', async () => {
    let now = 2_000_000;
    const shared = new CountingCounter(() => now);
    const shard = new FailureTracker(10_000, shared);
    const retrying = { ip: IP, clientId: 'stale-password', username: 'fleet' };
    // Two retries: the third failure bans the client id, and that is decided here, without the counter.
    expect(await shard.record(retrying, settings, ++now)).toEqual([]);
    expect(await shard.record(retrying, settings, ++now)).toEqual([]);
    expect((await shard.record(retrying, settings, ++now)).map((b) => b.kind)).toEqual(['clientId']);
    expect(shared.calls).toBe(1);
    // A new identity is news; after the window the same one is news again.
    await shard.record({ ip: IP, clientId: 'other', username: 'fleet' }, settings, ++now);
    expect(shared.calls).toBe(2);
    now += 61_000;
    await shard.record(retrying, settings, now);
    expect(shared.calls).toBe(3);
  });

  it('counts on its own shard when the counter cannot be reached, as a single shard would', async () => {
    let now = 3_000_000;
    const shared = new CountingCounter(() => now);
    shared.failing = true;
    const shard = new FailureTracker(10_000, shared);
    const bans = [];
    for (let i = 0; i < 4; i++) bans.push(...(await shard.record({ ip: IP, clientId: `c${i}`, username: null }, settings, ++now)));
    expect(bans.map((b) => b.kind)).toEqual(['ip']);
  });

  it('follows the shared window: counting starts afresh for every shard when it ends', async () => {
    let now = 4_000_000;
    const shared = new CountingCounter(() => now);
    const a = new FailureTracker(10_000, shared);
    const b = new FailureTracker(10_000, shared);
    await a.record({ ip: IP, clientId: 'x1', username: 'u' }, settings, now);
    now += 50_000;
    await b.record({ ip: IP, clientId: 'x2', username: 'u' }, settings, now);
    await b.record({ ip: IP, clientId: 'x3', username: 'u' }, settings, now);
    // The shared window began with x1 and has run out. b's own window follows it, so x2 and x3
    // are news again and reach the new shared window: with x4 and x5 that makes four.
    now += 11_000;
    const bans = [];
    for (const id of ['x2', 'x3', 'x4', 'x5']) bans.push(...(await b.record({ ip: IP, clientId: id, username: 'u' }, settings, now)));
    expect(bans.map((ban) => ban.description)).toEqual(['4 different client ids failed from this IP within 60s']);
  });
});

describe('FailureTracker memory', () => {
  // Each in its own /64: addresses in one /64 are one IP to the bans.
  const attempt = (i: number, ip = `2001:db8:0:${i.toString(16)}::1`) => ({ ip, clientId: `bot-${i}`, username: `user-${i}` });

  it('drops a window that has run out once it is the least recently used, and its hashes with it', async () => {
    const tracker = new FailureTracker();
    let now = 1_000_000;
    await tracker.record(attempt(1), settings, now);
    await tracker.record(attempt(2), settings, now);
    // Two windows per attempt (its client id and its IP), the IP's holding two hashes.
    expect([tracker.size(), tracker.heldIdentities()]).toEqual([4, 4]);
    now += settings.windowSeconds * 1000;
    await tracker.record(attempt(3), settings, now);
    expect([tracker.size(), tracker.heldIdentities()]).toEqual([2, 2]);
  });

  it('holds no more identity hashes than its bound, however many /64s fail just below their ban', async () => {
    const tracker = new FailureTracker(10_000, null, 50);
    const now = 1_000_000;
    // Each /64 gets three distinct failing identities, one short of ipMaxDistinct (4).
    for (let ip = 0; ip < 100; ip++) {
      for (let k = 0; k < 3; k++) await tracker.record({ ip: `2001:db8:0:${ip.toString(16)}::1`, clientId: `bot-${ip}-${k}`, username: `user-${ip}-${k}` }, settings, now);
    }
    expect(tracker.heldIdentities()).toBeLessThanOrEqual(50);
    expect(tracker.heldIdentities()).toBeGreaterThan(40);
  });

  it('still bans an IP whose identities arrive while the bound is being enforced', async () => {
    const tracker = new FailureTracker(10_000, null, 50);
    const now = 1_000_000;
    for (let ip = 0; ip < 100; ip++) await tracker.record(attempt(ip), settings, now);
    const bans = [];
    for (let k = 0; k < 4; k++) bans.push(...(await tracker.record({ ip: IP, clientId: `rotating-${k}`, username: `u-${k}` }, settings, now)));
    expect(bans.map((b) => [b.kind, b.value])).toEqual([['ip', IP]]);
  });
});

describe('FailureTracker client id bans', () => {
  const tenFailures: AutoBanSettings = { enabled: true, maxFailures: 10, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 100, scope: ['ip', 'clientId'] };
  const ATTACKER = '198.51.100.66';
  const DEVICE = '203.0.113.20';

  it('bans a client id only at the IP its failures came from', async () => {
    const tracker = new FailureTracker();
    const now = 1_000_000;
    const bans = [];
    for (let i = 0; i < 10; i++) bans.push(...(await tracker.record({ ip: ATTACKER, clientId: 'sn-000123', username: 'sn-000123' }, tenFailures, now + i)));
    expect(bans).toEqual([
      { kind: 'clientId', value: 'sn-000123', ip: ATTACKER, until: now + 9 + 300_000, description: '10 failed attempts by this client id from this IP within 60s' },
    ]);
  });

  it('counts a client id at each IP apart, so failures elsewhere never add up to a ban', async () => {
    const tracker = new FailureTracker();
    const now = 2_000_000;
    const bans = [];
    // Nine from the attacker and nine from the device itself: eighteen for the client id, nine at each IP.
    for (let i = 0; i < 9; i++) {
      bans.push(...(await tracker.record({ ip: ATTACKER, clientId: 'sn-000123', username: 'sn-000123' }, tenFailures, now + i)));
      bans.push(...(await tracker.record({ ip: DEVICE, clientId: 'sn-000123', username: 'sn-000123' }, tenFailures, now + i)));
    }
    expect(bans).toEqual([]);
    // The device's tenth failure bans the device where it is, and only there.
    const own = await tracker.record({ ip: DEVICE, clientId: 'sn-000123', username: 'sn-000123' }, tenFailures, now + 9);
    expect(own.map((b) => [b.kind, b.value, b.ip])).toEqual([['clientId', 'sn-000123', DEVICE]]);
  });

  it('adds nothing to the IP-wide count: one client id failing at one IP is still one identity there', async () => {
    const tracker = new FailureTracker();
    const few: AutoBanSettings = { ...tenFailures, maxFailures: 3, ipMaxDistinct: 2 };
    const bans = [];
    for (let i = 0; i < 30; i++) bans.push(...(await tracker.record({ ip: DEVICE, clientId: 'broken', username: 'fleet' }, few, 3_000_000 + i)));
    expect(bans.length).toBeGreaterThan(0);
    expect(bans.every((b) => b.kind === 'clientId' && b.ip === DEVICE)).toBe(true);
  });
});

describe('FailureTracker with IPv6 clients: one subscriber, one /64', () => {
  const tenFailures: AutoBanSettings = { enabled: true, maxFailures: 10, windowSeconds: 60, banSeconds: 300, ipMaxDistinct: 4, scope: ['ip', 'clientId'] };
  /** Addresses inside one /64 are free to its holder: the attacker takes a new one for every attempt. */
  const rotating = (i: number) => `2001:db8:1:2:${(i + 1).toString(16)}:0:0:${(0xbeef + i).toString(16)}`;
  const NEIGHBOUR = '2001:db8:1:3::9';

  it('adds up failing identities from different addresses in one /64 to a ban of the /64', async () => {
    const tracker = new FailureTracker();
    const now = 1_000_000;
    const bans = [];
    for (let i = 0; i < 4; i++) bans.push(...(await tracker.record({ ip: rotating(i), clientId: `rotating-${i}`, username: 'fleet' }, tenFailures, now + i)));
    expect(bans).toEqual([
      { kind: 'cidr', value: '2001:db8:1:2::/64', until: now + 3 + 300_000, description: '4 different client ids failed from this IPv6 /64 within 60s' },
    ]);
  });

  it('adds up one client id failing from different addresses in one /64 to a client id ban at the /64', async () => {
    const tracker = new FailureTracker();
    const now = 2_000_000;
    const bans = [];
    for (let i = 0; i < 10; i++) bans.push(...(await tracker.record({ ip: rotating(i), clientId: 'sn-000123', username: 'sn-000123' }, tenFailures, now + i)));
    expect(bans).toEqual([
      {
        kind: 'clientId',
        value: 'sn-000123',
        ip: '2001:db8:1:2::/64',
        until: now + 9 + 300_000,
        description: '10 failed attempts by this client id from this IPv6 /64 within 60s',
      },
    ]);
  });

  it('leaves a device in another /64 alone: its failures are counted apart', async () => {
    const tracker = new FailureTracker();
    const now = 3_000_000;
    const bans = [];
    // Ten from the attacker's /64 and nine from the device's own: only the attacker's /64 is banned.
    for (let i = 0; i < 10; i++) {
      bans.push(...(await tracker.record({ ip: rotating(i), clientId: 'sn-000123', username: 'sn-000123' }, tenFailures, now + i)));
      if (i < 9) bans.push(...(await tracker.record({ ip: NEIGHBOUR, clientId: 'sn-000123', username: 'sn-000123' }, tenFailures, now + i)));
    }
    // Three more identities each: the attacker's /64 reaches four, the device's stays at three.
    for (let i = 0; i < 3; i++) {
      bans.push(...(await tracker.record({ ip: rotating(20 + i), clientId: `guess-${i}`, username: 'fleet' }, tenFailures, now + 10)));
      if (i < 2) bans.push(...(await tracker.record({ ip: NEIGHBOUR, clientId: `other-${i}`, username: 'fleet' }, tenFailures, now + 10)));
    }
    expect(bans.map((b) => [b.kind, b.value, b.ip])).toEqual([
      ['clientId', 'sn-000123', '2001:db8:1:2::/64'],
      ['cidr', '2001:db8:1:2::/64', undefined],
    ]);
  });

  it('counts a /64 in the shared counter under the /64', async () => {
    let now = 4_000_000;
    const shared = new CountingCounter(() => now);
    const asked: string[] = [];
    const spy: SharedIpCounter = { add: (ip, identity, limits) => (asked.push(ip), shared.add(ip, identity, limits)) };
    const shards = [0, 1, 2, 3].map(() => new FailureTracker(10_000, spy));
    const bans = [];
    for (let i = 0; i < 4; i++) bans.push(...(await shards[i].record({ ip: rotating(i), clientId: `rotating-${i}`, username: 'fleet' }, tenFailures, ++now)));
    expect(new Set(asked)).toEqual(new Set(['2001:db8:1:2::/64']));
    expect(bans.map((b) => [b.kind, b.value])).toEqual([['cidr', '2001:db8:1:2::/64']]);
  });

  it('keeps IPv4 exact, and counts an IPv4-mapped IPv6 address as the IPv4 address it is', async () => {
    const tracker = new FailureTracker();
    const now = 5_000_000;
    const bans = [];
    for (let i = 0; i < 4; i++) {
      const ip = i % 2 === 0 ? `::ffff:${IP}` : IP;
      bans.push(...(await tracker.record({ ip, clientId: `rotating-${i}`, username: 'fleet' }, tenFailures, now + i)));
    }
    expect(bans).toEqual([{ kind: 'ip', value: IP, until: now + 3 + 300_000, description: '4 different client ids failed from this IP within 60s' }]);
    // Neighbours in one IPv4 /24 are still counted apart.
    const apart = new FailureTracker();
    const none = [];
    for (let i = 0; i < 4; i++) none.push(...(await apart.record({ ip: `203.0.113.${i + 1}`, clientId: `rotating-${i}`, username: 'fleet' }, tenFailures, now + i)));
    expect(none).toEqual([]);
  });
});
