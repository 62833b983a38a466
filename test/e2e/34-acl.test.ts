import type { IClientOptions, IConnackPacket } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aclRuleSql, userRule } from '../support/acl-fixtures';
import { startBroker, testShardCount, type BrokerHandle } from '../support/broker-process';
import { idsOnShards } from '../support/shard-ids';
import { runPaho } from '../support/paho';
import { autoBanOffSql, basicCredentialSql, configure, mosquittoHash, settingSql } from '../support/security-fixtures';
import { closed, disconnectOf, end, open, publish, received, subDenied, subscribe, topicsOf, VERSIONS, type AclClient, type Version } from './acl-clients';
import { connackOf, connackPacket, connectClient, until } from './mqtt-clients';

/**
 * Topic ACLs as real MQTT.js clients meet them, in 3.1.1 and 5.0: every
 * decision is read from the wire, allowed and denied side by side. Something
 * "not delivered" is shown by an allowed message sent after it on the same
 * path arriving alone.
 */

const PASSWORD = 'acl-e2e-pw';
let broker: BrokerHandle;

beforeAll(async () => {
  broker = await startBroker({
    vars: {
      ALLOW_ANONYMOUS: 'true',
      AUTH_PROVIDERS: 'basic',
      ACL_DEFAULT_POLICY: 'deny',
      // The var says one denied PUBLISH ends a connection; the D1 setting below says never, and wins.
      MQTT_ACL_DENIALS_BEFORE_DISCONNECT: '1',
      MQTT_SYS_INTERVAL_SECONDS: '1',
    },
  });
  const hash = mosquittoHash(PASSWORD);
  const users = ['root', 'pubber', 'reader', 'viewer', 'willer', 'ops', 'wide', 'alice', 'bob'];
  await configure(
    broker,
    autoBanOffSql,
    settingSql('aclDenialsBeforeDisconnect', 0),
    ...users.map((u) => basicCredentialSql({ id: u, username: u, passwordHash: hash })),
    // Identity rules (TBMQ style): the credential's regular expressions decide alone.
    basicCredentialSql({
      id: 'devuser',
      username: 'devuser',
      passwordHash: hash,
      rules: {
        publish: ['telemetry/${clientId}/up'],
        subscribe: ['telemetry/${clientId}/cmd', 'users/${username}/inbox', 'sensors/#', 'sensors/public/.*'],
      },
    }),
    basicCredentialSql({ id: 'greedy', username: 'greedy', passwordHash: hash, rules: { publish: [], subscribe: ['.*'] } }),
    userRule('root-all', 'root', 'readwrite', '#', 1),
    userRule('pubber-ok', 'pubber', 'write', 'pub/ok/#', 2),
    userRule('reader-pub', 'reader', 'read', 'pub/#', 3),
    userRule('viewer-sensors', 'viewer', 'read', 'sensors/#', 4),
    userRule('viewer-no-secret', 'viewer', 'deny', 'sensors/secret/#', 5),
    userRule('willer-ok', 'willer', 'write', 'will/ok/#', 6),
    userRule('ops-sys', 'ops', 'read', '$SYS/#', 7),
    userRule('wide-levels', 'wide', 'read', '+/#', 8),
    userRule('alice-a', 'alice', 'readwrite', 'a/#', 9),
    userRule('bob-b', 'bob', 'write', 'bob/#', 10),
    aclRuleSql({ id: 'anon-area', principalType: 'anonymous', access: 'readwrite', topic: 'anon/#', position: 11 }),
    aclRuleSql({ id: 'own-device', principalType: 'all', access: 'readwrite', topic: 'devices/%c/#', position: 12 }),
    aclRuleSql({ id: 'own-inbox', principalType: 'all', access: 'read', topic: 'inbox/%u', position: 13 }),
  );
});
afterAll(async () => {
  await broker?.stop();
});

let seq = 0;
/** A client logged in as `username` (null: anonymous). */
function as(username: string | null, v: Version, options: IClientOptions = {}): Promise<AclClient> {
  const login = username === null ? {} : { username, password: PASSWORD };
  return open(broker.wsUrl, v, { clientId: `${username ?? 'anon'}-${v}-${++seq}`, ...login, ...options });
}

/** Publish denial as the publisher sees it: 0x87 in 5.0, an ordinary acknowledgement in 3.1.1. */
const pubDenied = (v: Version) => (v === 5 ? 0x87 : 0);

describe('34 topic ACLs from real clients', () => {
  it('drops a denied PUBLISH (0x87 in 5.0, acknowledged as usual in 3.1.1) and routes the allowed one', async () => {
    for (const v of VERSIONS) {
      const reader = await as('reader', v);
      expect(await subscribe(reader, 'pub/#')).toEqual([1]);
      const pubber = await as('pubber', v);
      expect(await publish(pubber, `pub/no/q1-${v}`, 'denied', 1)).toBe(pubDenied(v));
      expect(await publish(pubber, `pub/no/q2-${v}`, 'denied', 2)).toBe(pubDenied(v));
      await publish(pubber, `pub/no/q0-${v}`, 'denied', 0);
      expect(await publish(pubber, `pub/ok/q1-${v}`, 'allowed', 1)).toBe(0);
      expect(await publish(pubber, `pub/ok/q2-${v}`, 'allowed', 2)).toBe(0);
      await publish(pubber, `pub/ok/q0-${v}`, 'allowed', 0);
      await received(reader, `pub/ok/q0-${v}`, 'allowed');
      expect(topicsOf(reader)).toEqual([`pub/ok/q1-${v}`, `pub/ok/q2-${v}`, `pub/ok/q0-${v}`]);
      // The stored setting 0 overrides MQTT_ACL_DENIALS_BEFORE_DISCONNECT=1: three denials, still connected.
      expect(pubber.client.connected).toBe(true);
      expect(disconnectOf(pubber)).toBeUndefined();
      await end(reader, pubber);
    }
  });

  it('disconnects repeat offenders after aclDenialsBeforeDisconnect from D1 (DISCONNECT 0x87 in 5.0, closed in 3.1.1), else after the var', async () => {
    const offend = async (v: Version, allowedDenials: number) => {
      const pubber = await as('pubber', v);
      for (let i = 1; i <= allowedDenials; i++) {
        expect(await publish(pubber, `pub/no/offence-${i}`, 'x', 1)).toBe(pubDenied(v));
        // Allowed publishes in between do not wipe the slate.
        expect([0, 0x10]).toContain(await publish(pubber, `pub/ok/fine-${i}`, 'x', 1));
      }
      expect(pubber.client.connected).toBe(true);
      // The last straw is still acknowledged, then the connection ends.
      expect(await publish(pubber, 'pub/no/last', 'x', 1)).toBe(pubDenied(v));
      await closed(pubber);
      if (v === 5) expect(disconnectOf(pubber)?.reasonCode).toBe(0x87);
      else expect(disconnectOf(pubber)).toBeUndefined();
    };

    await configure(broker, settingSql('aclDenialsBeforeDisconnect', 3));
    for (const v of VERSIONS) await offend(v, 2);

    // Without a stored value, MQTT_ACL_DENIALS_BEFORE_DISCONNECT (1) applies.
    await configure(broker, `DELETE FROM broker_settings WHERE key = 'aclDenialsBeforeDisconnect'`);
    for (const v of VERSIONS) await offend(v, 0);

    await configure(broker, settingSql('aclDenialsBeforeDisconnect', 0));
  });

  it('answers each filter of one SUBSCRIBE on its own (0x80 in 3.1.1, 0x87 in 5.0)', async () => {
    for (const v of VERSIONS) {
      const reader = await as('reader', v);
      const no = subDenied(v);
      expect(await subscribe(reader, `pub/ok/s${v}`, `secret/s${v}`, `pub/+/t${v}`, '#', '$SYS/broker/version')).toEqual([1, no, 1, no, no]);
      const root = await as('root', v);
      await publish(root, `secret/s${v}`, 'not subscribed', 1);
      await publish(root, `pub/ok/s${v}`, 'granted', 1);
      await publish(root, `pub/x/t${v}`, 'granted', 1);
      await received(reader, `pub/x/t${v}`, 'granted');
      expect(topicsOf(reader)).toEqual([`pub/ok/s${v}`, `pub/x/t${v}`]);
      await end(reader, root);
    }
  });

  it('delivers from a broad wildcard subscription, retained messages included, only the topics the subscriber may read', async () => {
    for (const v of VERSIONS) {
      const root = await as('root', v);
      // Accepted (5.0 may add 0x10: nobody subscribes yet) and kept for later subscribers.
      expect([0, 0x10]).toContain(await publish(root, `sensors/secret/r${v}`, 'retained secret', 1, true));
      expect([0, 0x10]).toContain(await publish(root, `sensors/public/r${v}`, 'retained public', 1, true));
      // An ACL user with `read sensors/#` and `deny sensors/secret/#`, and a credential whose regex list grants the
      // literal filter `sensors/#` but only `sensors/public/...` topics.
      const viewer = await as('viewer', v);
      const device = await as('devuser', v, { clientId: `dev-${v}` });
      for (const c of [viewer, device]) expect(await subscribe(c, 'sensors/#')).toEqual([1]);
      await publish(root, `sensors/secret/l${v}`, 'live secret', 1);
      await publish(root, `sensors/public/l${v}`, 'live public', 1);
      for (const c of [viewer, device]) {
        await received(c, `sensors/public/l${v}`, 'live public');
        expect(c.got).toContainEqual({ topic: `sensors/public/r${v}`, payload: 'retained public', retain: true });
        expect(topicsOf(c).filter((t) => t.startsWith('sensors/secret'))).toEqual([]);
      }
      await publish(root, `sensors/secret/r${v}`, '', 1, true);
      await publish(root, `sensors/public/r${v}`, '', 1, true);
      await end(root, viewer, device);
    }
  });

  it('gives a shared subscription message only to a group member that may read it', async () => {
    for (const v of VERSIONS) {
      const filter = `$share/g${v}/sensors/#`;
      // Members and publisher on one shard: with more shards, a member on the publisher's shard would
      // otherwise take every message it may read (prefer_local), and the sharing would not show.
      const [viewerId, rootId, publisherId] = idsOnShards(`shared-acl-${v}-`, [0, 0, 0], Number(testShardCount()));
      const viewer = await as('viewer', v, { clientId: viewerId });
      const root = await as('root', v, { clientId: rootId });
      for (const c of [viewer, root]) expect(await subscribe(c, filter)).toEqual([1]);
      const publisher = await as('root', v, { clientId: publisherId });
      for (let i = 0; i < 4; i++) await publish(publisher, `sensors/secret/sh${v}`, `s${i}`, 1);
      for (let i = 0; i < 4; i++) await publish(publisher, `sensors/public/sh${v}`, `p${i}`, 1);
      await until(() => viewer.got.length + root.got.length === 8, 10_000, 'eight shared deliveries');
      // Every secret went to the member allowed to read it; none was lost, none went to the other.
      expect(topicsOf(root).filter((t) => t.includes('secret'))).toHaveLength(4);
      expect(topicsOf(viewer).filter((t) => t.includes('secret'))).toEqual([]);
      // Public messages are still shared between both.
      expect(topicsOf(viewer).length).toBeGreaterThan(0);
      await end(viewer, root, publisher);
    }
  });

  it('checks the will at CONNECT: refused with CONNACK 0x87 in 5.0, accepted but never sent in 3.1.1', async () => {
    for (const v of VERSIONS) {
      const watcher = await as('root', v);
      expect(await subscribe(watcher, 'will/#')).toEqual([1]);
      const clientId = `willer-will-${v}`;
      const login = { protocolVersion: v, clientId, username: 'willer', password: PASSWORD };
      const forbidden = { topic: `will/no/${v}`, payload: Buffer.from('must never be sent'), qos: 1 as const, retain: false };
      if (v === 5) {
        const ack = (await connackOf(broker.wsUrl, { ...login, will: forbidden })) as IConnackPacket;
        expect(ack.reasonCode).toBe(0x87);
      } else {
        const accepted = await connectClient(broker.wsUrl, { ...login, will: forbidden });
        expect(connackPacket(accepted).returnCode).toBe(0);
        // Network loss, no DISCONNECT: a will would go out now.
        accepted.stream.destroy();
      }
      // The same client id with an allowed will: its CONNECT ends whatever is left of the first one, and its will is the marker.
      const allowed = await connectClient(broker.wsUrl, { ...login, will: { topic: `will/ok/${v}`, payload: Buffer.from('gone'), qos: 1, retain: false } });
      expect(connackPacket(allowed).reasonCode ?? connackPacket(allowed).returnCode).toBe(0);
      allowed.stream.destroy();
      await received(watcher, `will/ok/${v}`, 'gone');
      expect(topicsOf(watcher)).toEqual([`will/ok/${v}`]);
      await end(watcher);
    }
  });

  it('lets only principals granted $SYS read it, and nobody publish to it', async () => {
    for (const v of VERSIONS) {
      const no = subDenied(v);
      const ops = await as('ops', v);
      expect(await subscribe(ops, '$SYS/broker/#')).toEqual([1]);
      const alice = await as('alice', v);
      expect(await subscribe(alice, '$SYS/broker/#', '$SYS/broker/version', 'a/#')).toEqual([no, no, 1]);
      // `readwrite #` reaches everything but `$` topics.
      const root = await as('root', v);
      expect(await subscribe(root, '$SYS/#', '#')).toEqual([no, 1]);
      expect(await publish(root, '$SYS/broker/fake', 'x', 1)).toBe(pubDenied(v));
      // Two periodic rounds reach ops; the others see none of them.
      await until(() => ops.got.filter((m) => m.topic === '$SYS/broker/uptime').length >= 3, 10_000, 'periodic $SYS values');
      expect(topicsOf(ops)).toContain('$SYS/broker/version');
      expect(topicsOf(ops)).not.toContain('$SYS/broker/fake');
      expect(topicsOf(alice).filter((t) => t.startsWith('$'))).toEqual([]);
      expect(topicsOf(root).filter((t) => t.startsWith('$'))).toEqual([]);
      await end(ops, alice, root);
    }
  });

  it('refuses wildcard-only filters unless a rule grants that breadth on purpose', async () => {
    for (const v of VERSIONS) {
      const no = subDenied(v);
      const cases: Array<[string, string[], number[]]> = [
        // `topic read +/#` grants +/# and narrower wildcard-only filters, not #.
        ['wide', ['#', '+/#', '+/+', 'x/+/#'], [no, 1, 1, 1]],
        ['viewer', ['#', '+/#', 'sensors/+'], [no, no, 1]],
        ['root', ['#', '+/#'], [1, 1]],
        // The regex `.*` matches the string `#` but does not grant it.
        ['greedy', ['#', '+/#', 'x/y'], [no, no, 1]],
      ];
      for (const [user, filters, expected] of cases) {
        const c = await as(user, v);
        expect(await subscribe(c, ...filters), `${user} v${v}`).toEqual(expected);
        await end(c);
      }
    }
  });

  it('substitutes ${clientId} and ${username} in credential rules', async () => {
    for (const v of VERSIONS) {
      const no = subDenied(v);
      const watcher = await as('root', v);
      expect(await subscribe(watcher, 'telemetry/#')).toEqual([1]);
      const device = await as('devuser', v, { clientId: `dev-${v}` });
      expect(await subscribe(device, `telemetry/dev-${v}/cmd`, 'telemetry/dev-x/cmd', 'users/devuser/inbox', 'users/other/inbox')).toEqual([1, no, 1, no]);
      expect(await publish(device, 'telemetry/dev-x/up', 'not mine', 1)).toBe(pubDenied(v));
      expect(await publish(device, `telemetry/dev-${v}/up`, 'mine', 1)).toBe(0);
      await received(watcher, `telemetry/dev-${v}/up`, 'mine');
      expect(topicsOf(watcher)).toEqual([`telemetry/dev-${v}/up`]);
      await publish(watcher, `telemetry/dev-${v}/cmd`, 'reboot', 1);
      await received(device, `telemetry/dev-${v}/cmd`, 'reboot');
      await end(watcher, device);
    }
  });

  it('applies mosquitto pattern rows with %c and %u, and anonymous topic rows only to clients without a username', async () => {
    for (const v of VERSIONS) {
      const no = subDenied(v);
      const watcher = await as('root', v);
      expect(await subscribe(watcher, 'devices/#', 'anon/#')).toEqual([1, 1]);

      const alice = await as('alice', v, { clientId: `pc-${v}` });
      expect(await subscribe(alice, 'inbox/alice', 'inbox/bob', `devices/pc-${v}/#`, 'anon/#')).toEqual([1, no, 1, no]);
      expect(await publish(alice, 'devices/other/x', 'not hers', 1)).toBe(pubDenied(v));
      expect(await publish(alice, `devices/pc-${v}/x`, 'hers', 1)).toBe(0);

      // No username: the anonymous rows apply, `%u` patterns do not, `%c` patterns do.
      const anon = await as(null, v, { clientId: `anon-${v}` });
      expect(await subscribe(anon, 'anon/#', 'inbox/x', `devices/anon-${v}/#`, 'pub/#')).toEqual([1, no, 1, no]);
      expect(await publish(anon, 'pub/ok/anon', 'not anonymous', 1)).toBe(pubDenied(v));
      expect(await publish(anon, `anon/in-${v}`, 'anonymous', 1)).toBe(0);

      await received(watcher, `anon/in-${v}`, 'anonymous');
      expect(topicsOf(watcher)).toEqual([`devices/pc-${v}/x`, `anon/in-${v}`]);
      await end(watcher, alice, anon);
    }
  });

  it('keeps a connected session under its own identity when a CONNECT for its client id authenticates as someone else and is refused', async () => {
    for (const v of VERSIONS) {
      const clientId = `shared-${v}`;
      const alice = await as('alice', v, { clientId });
      expect(await subscribe(alice, 'a/#')).toEqual([1]);
      // bob's password is right, but he may not publish his will: refused before any takeover.
      const ack = (await connackOf(broker.wsUrl, {
        protocolVersion: 5,
        clientId,
        username: 'bob',
        password: PASSWORD,
        will: { topic: 'a/bob-will', payload: Buffer.from('x'), qos: 0, retain: false },
      })) as IConnackPacket;
      expect(ack.reasonCode).toBe(0x87);
      expect(alice.client.connected).toBe(true);

      // Still judged as alice: she receives what alice may read and publishes where alice may write.
      const root = await as('root', v);
      await publish(root, `a/after-${v}`, 'for alice', 1);
      await received(alice, `a/after-${v}`, 'for alice');
      expect(await publish(alice, `a/mine-${v}`, 'from alice', 1)).toBe(0);
      await received(alice, `a/mine-${v}`, 'from alice');
      await end(alice, root);
    }
  });

  it('publishes the will of a session taken over as the client that set it, not as the newcomer', async () => {
    for (const v of VERSIONS) {
      const watcher = await as('root', v);
      expect(await subscribe(watcher, 'a/#')).toEqual([1]);
      const clientId = `taken-over-${v}`;
      // alice may write a/#; her will is allowed at CONNECT.
      const alice = await as('alice', v, { clientId, will: { topic: `a/alice-will-${v}`, payload: Buffer.from('alice gone'), qos: 1, retain: false } });
      // bob may write only bob/#: his CONNECT with her client id takes her session over, and her will goes out as hers.
      const bob = await as('bob', v, { clientId });
      await received(watcher, `a/alice-will-${v}`, 'alice gone');
      expect(topicsOf(watcher)).toEqual([`a/alice-will-${v}`]);
      await end(alice, bob, watcher);
    }
  });

  it('answers a Debian paho-mqtt SUBSCRIBE filter by filter (MQTT 3.1.1 and 5.0)', async () => {
    const port = new URL(broker.url).port;
    for (const [protocol, denied] of [['311', 0x80], ['5', 0x87]] as const) {
      const run = await runPaho('acl_subscribe.py', ['127.0.0.1', port, protocol, 'reader', PASSWORD, `paho-acl-${protocol}`, 'pub/ok/paho', 'secret/paho', '#'], 60_000);
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
      expect(result).toEqual({ connack: 0, granted: [1, denied, denied] });
    }
  });
});
