import { describe, expect, it } from 'vitest';
import type { IConnackPacket, IDisconnectPacket, IPubackPacket, IPublishPacket, IPubrecPacket, ISubackPacket } from 'mqtt-packet';
import { EngineHarness, type TestClient } from '../../protocol/engine/testing/engine-harness';
import type { AuthDecision } from '../../protocol/ports';
import type { AuthenticatedIdentity } from '../provider';
import { AclAuthorizer } from './acl-authorizer';
import type { AclRuleRecord, AclSnapshot, CredentialRules } from './evaluator';

/**
 * Topic ACLs enforced by the engine, through real MQTT bytes, for 3.1.1 and
 * 5.0: what an allowed client gets next to what a denied one gets.
 */

let seq = 0;
function user(username: string, topic: string, access: AclRuleRecord['access']): AclRuleRecord {
  seq++;
  return { id: `r${seq}`, kind: 'topic', principalType: 'user', username, access, topic, position: seq };
}

const RULES: AclRuleRecord[] = [
  user('root', '#', 'readwrite'),
  user('alice', 'a/#', 'readwrite'),
  user('alice', 'plant/#', 'read'),
  user('alice', 'plant/secret/#', 'deny'),
  user('alice', 'jobs/#', 'read'),
  user('bob', 'jobs/+', 'read'),
  user('bob', 'jobs/private', 'deny'),
  user('watch', 'a/#', 'read'),
  user('watch', 'b/#', 'read'),
  user('ops', '$SYS/#', 'read'),
];

function snapshot(aclRules: AclRuleRecord[], credentials: Record<string, CredentialRules> = {}, version = 1): AclSnapshot {
  return { aclRules, credentialRules: new Map(Object.entries(credentials)), defaultPolicy: 'deny', version };
}

function identityOf(username: string | null): AuthenticatedIdentity {
  return {
    provider: username === null ? 'anonymous' : 'basic',
    credentialId: username === 'device' ? 'cred-device' : null,
    username,
    cn: null,
    rules: null,
  };
}

/**
 * A broker whose authenticator binds each client to an identity and lets the
 * engine settle the binding, as the Durable Object does. With `gate`, every
 * authentication waits for it, like a D1 look-up.
 */
function broker(options: { denialsBeforeDisconnect?: number; credentials?: Record<string, CredentialRules>; gate?: () => Promise<void> } = {}) {
  const acl = new AclAuthorizer(snapshot(RULES, options.credentials));
  const bind = (clientId: string, username: string | null): AuthDecision => {
    const binding = acl.bindPrincipal(clientId, identityOf(username));
    return { ok: true, username, settle: (accepted) => (accepted ? binding.keep() : binding.undo()), binding: binding.binding };
  };
  const h = new EngineHarness({
    authorizer: acl,
    config: { aclDenialsBeforeDisconnect: options.denialsBeforeDisconnect ?? 0 },
    authenticator: {
      authenticate: (r) => (options.gate ? options.gate().then(() => bind(r.clientId, r.username)) : bind(r.clientId, r.username)),
    },
  });
  return { h, acl };
}

const publish = (topic: string, qos: 0 | 1 | 2, messageId?: number, retain = false) => ({
  cmd: 'publish',
  topic,
  payload: Buffer.from(topic),
  qos,
  messageId,
  retain,
  dup: false,
});

async function connected(h: EngineHarness, version: 4 | 5, username: string, fields: Record<string, unknown> = {}): Promise<TestClient> {
  const c = h.client(version);
  const connack = (await c.connect({ username, ...fields })) as IConnackPacket;
  expect(version === 5 ? connack.reasonCode : connack.returnCode).toBe(0);
  return c;
}

async function subscribed(c: TestClient, ...filters: string[]): Promise<number[]> {
  await c.send({ cmd: 'subscribe', messageId: 1, subscriptions: filters.map((topic) => ({ topic, qos: 1 })) });
  return c.take<ISubackPacket>('suback').granted as number[];
}

const topics = (c: TestClient) => c.all<IPublishPacket>('publish').map((p) => p.topic);

describe.each([4, 5] as const)('topic ACLs over MQTT %s', (v) => {
  const NOT_AUTHORIZED_SUBACK = v === 5 ? 0x87 : 0x80;

  it('routes an allowed PUBLISH and drops a denied one, still acknowledging it', async () => {
    const { h } = broker();
    const watch = await connected(h, v, 'watch');
    expect(await subscribed(watch, 'a/#', 'b/#')).toEqual([1, 1]);
    const alice = await connected(h, v, 'alice');

    await alice.send(publish('a/1', 1, 1));
    expect(alice.take<IPubackPacket>('puback').reasonCode ?? 0).toBe(0);
    await alice.send(publish('b/1', 1, 2));
    const denied = alice.take<IPubackPacket>('puback');
    expect(denied.messageId).toBe(2);
    // 3.1.1 cannot say no: the message is dropped and acknowledged as usual.
    expect(denied.reasonCode ?? 0).toBe(v === 5 ? 0x87 : 0);
    await alice.send(publish('b/2', 2, 3));
    const rec = alice.take<IPubrecPacket>('pubrec');
    expect([rec.messageId, rec.reasonCode ?? 0]).toEqual([3, v === 5 ? 0x87 : 0]);
    await alice.send(publish('b/3', 0));

    expect(topics(watch)).toEqual(['a/1']);
    expect(alice.received).toEqual([]);
    expect(alice.closed).toBe(false);
  });

  it('answers each SUBSCRIBE filter on its own', async () => {
    const { h } = broker();
    const alice = await connected(h, v, 'alice');
    expect(await subscribed(alice, 'a/+', 'b/+', '#', 'a/x')).toEqual([1, NOT_AUTHORIZED_SUBACK, NOT_AUTHORIZED_SUBACK, 1]);
    const root = await connected(h, v, 'root');
    for (const t of ['a/1', 'b/1', 'a/x']) await root.send(publish(t, 0));
    expect(topics(alice)).toEqual(['a/1', 'a/x']);
  });

  it('filters wildcard deliveries by topic', async () => {
    const { h } = broker();
    const alice = await connected(h, v, 'alice');
    expect(await subscribed(alice, 'plant/#')).toEqual([1]);
    const root = await connected(h, v, 'root');
    expect(await subscribed(root, 'plant/#')).toEqual([1]);
    for (const t of ['plant/line', 'plant/secret/recipe', 'plant/secret']) await root.send(publish(t, 1, 1));
    expect(topics(alice)).toEqual(['plant/line']);
    expect(topics(root)).toEqual(['plant/line', 'plant/secret/recipe', 'plant/secret']);
  });

  it('sends only the retained messages the subscriber may receive', async () => {
    const { h } = broker();
    const root = await connected(h, v, 'root');
    for (const t of ['plant/line', 'plant/secret/recipe']) await root.send(publish(t, 1, 1, true));
    const alice = await connected(h, v, 'alice');
    expect(await subscribed(alice, 'plant/#')).toEqual([1]);
    const got = alice.all<IPublishPacket>('publish');
    expect(got.map((p) => [p.topic, p.retain])).toEqual([['plant/line', true]]);
  });

  it('gives a shared subscription message to a member that may receive it', async () => {
    const { h } = broker();
    const alice = await connected(h, v, 'alice');
    const bob = await connected(h, v, 'bob');
    expect(await subscribed(alice, '$share/g/jobs/+')).toEqual([1]);
    expect(await subscribed(bob, '$share/g/jobs/+')).toEqual([1]);
    const root = await connected(h, v, 'root');
    for (let i = 0; i < 4; i++) await root.send(publish('jobs/private', 0));
    expect(topics(alice)).toEqual(['jobs/private', 'jobs/private', 'jobs/private', 'jobs/private']);
    expect(topics(bob)).toEqual([]);
    for (let i = 0; i < 4; i++) await root.send(publish('jobs/public', 0));
    expect(topics(alice)).toHaveLength(2);
    expect(topics(bob)).toHaveLength(2);
  });

  it('checks the will topic at CONNECT', async () => {
    const { h } = broker();
    const watch = await connected(h, v, 'watch');
    await subscribed(watch, 'a/#', 'b/#');

    const refused = h.client(v);
    const connack = (await refused.connect({ username: 'alice', will: { topic: 'b/dead', payload: Buffer.from('x'), qos: 0, retain: false } })) as IConnackPacket;
    if (v === 5) {
      expect(connack.reasonCode).toBe(0x87);
      expect(refused.closed).toBe(true);
    } else {
      // 3.1.1 has no way to refuse a will alone: the client is accepted and its will never sent.
      expect(connack.returnCode).toBe(0);
      refused.close();
    }
    const allowed = await connected(h, v, 'alice', { will: { topic: 'a/dead', payload: Buffer.from('x'), qos: 0, retain: false } });
    allowed.close();
    expect(topics(watch)).toEqual(['a/dead']);
  });

  it('leaves a connected session under its own identity when a CONNECT for its client id is refused after authenticating', async () => {
    const { h, acl } = broker();
    const alice = await connected(h, v, 'alice', { clientId: 'shared' });
    expect(await subscribed(alice, 'a/#')).toEqual([1]);
    // bob authenticates for the same client id, but may not publish his will: refused before any takeover.
    const intruder = h.client(5);
    const connack = (await intruder.connect({ clientId: 'shared', username: 'bob', will: { topic: 'a/dead', payload: Buffer.from('x'), qos: 0, retain: false } })) as IConnackPacket;
    expect(connack.reasonCode).toBe(0x87);
    expect(intruder.closed).toBe(true);

    expect(acl.boundIdentity('shared')?.username).toBe('alice');
    const root = await connected(h, v, 'root');
    await root.send(publish('a/after', 0));
    expect(topics(alice)).toEqual(['a/after']);
    await alice.send(publish('a/mine', 1, 7));
    expect(alice.take<IPubackPacket>('puback').reasonCode ?? 0).toBe(0);
    expect(alice.closed).toBe(false);
  });

  it('undoes the binding of a client that leaves while it is being authenticated', async () => {
    let open!: () => void;
    let gated = false;
    const { h, acl } = broker({ gate: () => (gated ? new Promise<void>((resolve) => (open = resolve)) : Promise.resolve()) });
    const alice = await connected(h, v, 'alice', { clientId: 'shared' });
    expect(await subscribed(alice, 'a/#')).toEqual([1]);
    gated = true;
    const leaving = h.client(v);
    const connecting = leaving.connect({ clientId: 'shared', username: 'bob' }).catch(() => null);
    await Promise.resolve();
    leaving.close();
    open();
    await connecting;
    gated = false;

    expect(acl.boundIdentity('shared')?.username).toBe('alice');
    const root = await connected(h, v, 'root');
    await root.send(publish('a/after', 0));
    expect(topics(alice)).toEqual(['a/after']);
    expect(alice.closed).toBe(false);
  });

  it('checks the will topic again when the will is published', async () => {
    const { h, acl } = broker();
    const watch = await connected(h, v, 'watch');
    await subscribed(watch, 'a/#');
    const alice = await connected(h, v, 'alice', { will: { topic: 'a/dead', payload: Buffer.from('x'), qos: 0, retain: false } });
    acl.replaceSnapshot(snapshot(RULES.map((r) => (r.username === 'alice' && r.topic === 'a/#' ? { ...r, access: 'read' as const } : r)), {}, 2));
    alice.close();
    expect(topics(watch)).toEqual([]);
  });

  it('judges the will of a session taken over as the client that set it, not as the newcomer', async () => {
    const { h, acl } = broker();
    const watch = await connected(h, v, 'watch');
    await subscribed(watch, 'a/#');
    const will = { topic: 'a/dead', payload: Buffer.from('x'), qos: 0, retain: false };
    await connected(h, v, 'alice', { clientId: 'shared', will });
    // bob may not publish to a/#: alice's will still goes out when his CONNECT takes her session over.
    await connected(h, v, 'bob', { clientId: 'shared' });
    expect(topics(watch)).toEqual(['a/dead']);

    // And the other way round: rules that now deny alice her will are not lifted by root taking over.
    await connected(h, v, 'alice', { clientId: 'shared2', will });
    acl.replaceSnapshot(snapshot(RULES.map((r) => (r.username === 'alice' && r.topic === 'a/#' ? { ...r, access: 'read' as const } : r)), {}, 2));
    await connected(h, v, 'root', { clientId: 'shared2' });
    expect(topics(watch)).toEqual([]);
  });

  it('judges the will of a session restored after eviction as its own client when a newcomer takes it over', async () => {
    const { h } = broker();
    const will = { topic: 'a/dead', payload: Buffer.from('x'), qos: 0, retain: false };
    await connected(h, v, 'alice', { clientId: 'shared', will });
    h.hibernate();
    const watch = await connected(h, v, 'watch');
    await subscribed(watch, 'a/#');
    await connected(h, v, 'bob', { clientId: 'shared' });
    expect(topics(watch)).toEqual(['a/dead']);
  });

  it('disconnects a client whose denied publishes reach the configured limit', async () => {
    const { h } = broker({ denialsBeforeDisconnect: 2 });
    const alice = await connected(h, v, 'alice');
    await alice.send(publish('b/1', 1, 1));
    expect(alice.take<IPubackPacket>('puback').messageId).toBe(1);
    await alice.send(publish('a/ok', 1, 2));
    expect(alice.take<IPubackPacket>('puback').messageId).toBe(2);
    expect(alice.closed).toBe(false);
    await alice.send(publish('$SYS/fake', 1, 3));
    expect(alice.take<IPubackPacket>('puback').messageId).toBe(3);
    if (v === 5) expect(alice.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x87);
    expect(alice.closed).toBe(true);

    const { h: lenient } = broker();
    const bob = await connected(lenient, v, 'bob');
    for (let i = 1; i <= 5; i++) await bob.send(publish('b/1', 1, i));
    expect(bob.all('puback')).toHaveLength(5);
    expect(bob.closed).toBe(false);
  });

  it('stops delivering on an open subscription once new rules take its rights away', async () => {
    const credentials = { 'cred-device': { rules: { publish: [], subscribe: ['dev/.*'] }, cnRules: null } };
    const { h, acl } = broker({ credentials });
    const alice = await connected(h, v, 'alice');
    expect(await subscribed(alice, 'a/#')).toEqual([1]);
    const device = await connected(h, v, 'device');
    expect(await subscribed(device, 'dev/#')).toEqual([1]);
    const root = await connected(h, v, 'root');
    await root.send(publish('a/1', 0));
    await root.send(publish('dev/1', 0));
    expect(topics(alice)).toEqual(['a/1']);
    expect(topics(device)).toEqual(['dev/1']);

    const withoutAliceA = RULES.filter((r) => !(r.username === 'alice' && r.topic === 'a/#'));
    acl.replaceSnapshot(snapshot(withoutAliceA, { 'cred-device': { rules: { publish: [], subscribe: ['other/.*'] }, cnRules: null } }, 2));
    await root.send(publish('a/2', 0));
    await root.send(publish('dev/2', 0));
    expect(topics(alice)).toEqual([]);
    expect(topics(device)).toEqual([]);
    expect(alice.closed || device.closed).toBe(false);
  });

  it('serves $SYS only to a client granted it by name', async () => {
    const { h } = broker();
    const root = await connected(h, v, 'root');
    expect(await subscribed(root, '$SYS/broker/#', '#')).toEqual([NOT_AUTHORIZED_SUBACK, 1]);
    const ops = await connected(h, v, 'ops');
    expect(await subscribed(ops, '$SYS/broker/#')).toEqual([1]);
    expect(topics(ops)).toContain('$SYS/broker/version');
    expect(topics(root)).toEqual([]);
  });
});

describe('topic ACLs and the will of a session a Clean Start discards', () => {
  it('judges the pending will as the client that set it, not as the newcomer', async () => {
    const { h } = broker();
    const watch = await connected(h, 5, 'watch');
    await subscribed(watch, 'a/#');
    const alice = await connected(h, 5, 'alice', {
      clientId: 'shared',
      properties: { sessionExpiryInterval: 600 },
      will: { topic: 'a/dead', payload: Buffer.from('x'), qos: 0, retain: false, properties: { willDelayInterval: 300 } },
    });
    alice.close();
    expect(topics(watch)).toEqual([]);
    // bob's Clean Start ends alice's session, and with it her will delay [MQTT-3.1.3-9].
    await connected(h, 5, 'bob', { clientId: 'shared', clean: true });
    expect(topics(watch)).toEqual(['a/dead']);
  });
});
