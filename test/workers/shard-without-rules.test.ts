import { env, evictDurableObject, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { RawClient } from './raw-client';
import { untilShardMayHibernate } from './hibernation';
import { whileRulesUnreadable } from './rules-unreadable';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));
const text = (p: IPublishPacket) => Buffer.from(p.payload as Uint8Array).toString();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Memory goes and the sockets stay (hibernation); the shard wakes while the rules cannot be read, and D1 answers again after. */
const wakeWithoutRules = () =>
  whileRulesUnreadable(async () => {
    await evictDurableObject(shard(), { webSockets: 'hibernate' });
    await runInDurableObject(shard(), () => undefined);
  });

describe('a shard that wakes and cannot read its rules from D1', () => {
  it('acknowledges nothing it would then drop: the publishing connection closes, and its message goes through once D1 answers', async () => {
    const sub = await RawClient.open(4);
    await sub.connect({ clientId: 'norules-sub', clean: false });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'norules/#', qos: 1 }] });
    await sub.next('suback');
    const pub = await RawClient.open(4);
    await pub.connect({ clientId: 'norules-pub', clean: false });

    // The snapshot's read fails while the table is away; memory goes, the sockets stay (hibernation).
    await whileRulesUnreadable(async () => {
      await evictDurableObject(shard(), { webSockets: 'hibernate' });
      pub.send({ cmd: 'publish', topic: 'norules/1', payload: Buffer.from('kept'), qos: 1, messageId: 7, retain: false, dup: false });
      await pub.waitClosed();
      expect(await pub.drain('puback')).toEqual([]);
    });

    // D1 answers again: the publisher resends what was never acknowledged, and the subscriber, still connected, gets it.
    const again = await RawClient.open(4);
    await again.connect({ clientId: 'norules-pub', clean: false });
    again.send({ cmd: 'publish', topic: 'norules/1', payload: Buffer.from('kept'), qos: 1, messageId: 7, retain: false, dup: true });
    await again.next('puback');
    expect(text(await sub.next<IPublishPacket>('publish'))).toBe('kept');
    sub.close();
    again.close();
  });

  it('tells a 5.0 client why it closes: DISCONNECT 0x89, Server busy', async () => {
    const pub = await RawClient.open(5);
    await pub.connect({ clientId: 'norules-pub5' });
    await untilShardMayHibernate(shard());
    await whileRulesUnreadable(async () => {
      await evictDurableObject(shard(), { webSockets: 'hibernate' });
      pub.send({ cmd: 'publish', topic: 'norules/5', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false });
      expect((await pub.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x89);
      await pub.waitClosed();
      expect(await pub.drain('puback')).toEqual([]);
    });
  });

  async function willWatcher(clientId: string, topic: string): Promise<RawClient> {
    const watcher = await RawClient.open(5);
    await watcher.connect({ clientId, properties: { sessionExpiryInterval: 60 } });
    watcher.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await watcher.next('suback');
    return watcher;
  }

  it('holds a delayed will while D1 is away and publishes it once the rules are read', async () => {
    const watcher = await willWatcher('norules-watch', 'norules-will/delayed');
    const dying = await RawClient.open(5);
    await dying.connect({
      clientId: 'norules-dying',
      properties: { sessionExpiryInterval: 60 },
      will: { topic: 'norules-will/delayed', payload: Buffer.from('delayed will'), qos: 1, retain: false, properties: { willDelayInterval: 1 } },
    });

    await whileRulesUnreadable(async () => {
      await evictDurableObject(shard(), { webSockets: 'hibernate' });
      dying.close();
      await dying.waitClosed();
      await sleep(1_100);
      // The will is due, and the rules cannot be read: the alarm holds it back rather than refuse it by deny-all.
      expect(await runDurableObjectAlarm(shard())).toBe(true);
      expect(await watcher.drain('publish')).toEqual([]);
      // The next try is seconds away, not at once: the waiting will is already due.
      const next = await runInDurableObject(shard(), (_instance, state) => state.storage.getAlarm());
      expect(next! - Date.now()).toBeGreaterThan(3_000);
    });

    // Its retry finds the rules, and the will goes out.
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    const will = await watcher.next<IPublishPacket>('publish');
    expect([will.topic, text(will)]).toEqual(['norules-will/delayed', 'delayed will']);
    watcher.close();
  });

  it('publishes the will of a connection a restart dropped once the rules can be read, not refused by deny-all before', async () => {
    const watcher = await willWatcher('norules-watch-4', 'norules-will/restart');
    const dying = await RawClient.open(5);
    await dying.connect({ clientId: 'norules-dying-4', will: { topic: 'norules-will/restart', payload: Buffer.from('dropped'), qos: 1, retain: false } });

    await whileRulesUnreadable(async () => {
      // A restart drops every socket, and the new instance cannot read its rules.
      await evictDurableObject(shard(), { webSockets: 'close' });
      await watcher.waitClosed();
      await dying.waitClosed();
      await runInDurableObject(shard(), () => undefined);
      expect(await runInDurableObject(shard(), (_instance, state) => state.storage.getAlarm())).not.toBeNull();
    });

    // The alarm's next try reads the rules, and the dropped connection ends: its will is published, its session gone.
    expect(await runDurableObjectAlarm(shard())).toBe(true);
    const sessions = await runInDurableObject(shard(), (_instance, state) =>
      state.storage.sql.exec(`SELECT client_id FROM sessions WHERE client_id = 'norules-dying-4'`).toArray(),
    );
    expect(sessions).toEqual([]);
    const back = await RawClient.open(5);
    await back.connect({ clientId: 'norules-watch-4', clean: false, properties: { sessionExpiryInterval: 60 } });
    const will = await back.next<IPublishPacket>('publish');
    expect([will.topic, text(will)]).toEqual(['norules-will/restart', 'dropped']);
    back.close();
  });

  it('sets no alarm on a shard woken with no sessions, which has no rules to wait for', async () => {
    const idle = env.BROKER.get(env.BROKER.idFromName(`idle-${crypto.randomUUID()}`));
    // Woken by something other than a CONNECT (another shard's call, the admin API): it reads nothing from D1.
    expect(await runInDurableObject(idle, (_instance, state) => state.storage.getAlarm())).toBeNull();
    expect(await runDurableObjectAlarm(idle)).toBe(false);
  });

  it('reads the rules before judging the will of a connection that ends after such a wake', async () => {
    const watcher = await willWatcher('norules-watch-2', 'norules-will/now');
    const dying = await RawClient.open(5);
    await dying.connect({ clientId: 'norules-dying-2', will: { topic: 'norules-will/now', payload: Buffer.from('last words'), qos: 1, retain: false } });

    // D1 answers again before the connection ends.
    await wakeWithoutRules();
    dying.close();
    const will = await watcher.next<IPublishPacket>('publish');
    expect([will.topic, text(will)]).toEqual(['norules-will/now', 'last words']);
    watcher.close();
  });

  it('reads the rules before an administrator ends such a session, so its will is judged by them', async () => {
    const watcher = await willWatcher('norules-watch-3', 'norules-will/admin');
    const target = await RawClient.open(5);
    await target.connect({ clientId: 'norules-admin', will: { topic: 'norules-will/admin', payload: Buffer.from('removed'), qos: 1, retain: false } });

    await wakeWithoutRules();
    // DISCONNECT 0x98, Administrative action: a server-initiated end, so the will goes out.
    expect(await shard().disconnectSession('norules-admin')).toBe(true);
    expect((await target.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x98);
    const will = await watcher.next<IPublishPacket>('publish');
    expect([will.topic, text(will)]).toEqual(['norules-will/admin', 'removed']);
    watcher.close();
  });
});
