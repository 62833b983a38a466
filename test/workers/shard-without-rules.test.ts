import { env, evictDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { RawClient } from './raw-client';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));

describe('a shard that wakes and cannot read its rules from D1', () => {
  it('acknowledges nothing it would then drop: the publishing connection closes, and its message goes through once D1 answers', async () => {
    const sub = await RawClient.open(4);
    await sub.connect({ clientId: 'norules-sub', clean: false });
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'norules/#', qos: 1 }] });
    await sub.next('suback');
    const pub = await RawClient.open(4);
    await pub.connect({ clientId: 'norules-pub', clean: false });

    // The snapshot's read fails while the table is away; memory goes, the sockets stay (hibernation).
    await env.DB.exec('ALTER TABLE acl_rules RENAME TO acl_rules_away');
    try {
      await evictDurableObject(shard(), { webSockets: 'hibernate' });
      pub.send({ cmd: 'publish', topic: 'norules/1', payload: Buffer.from('kept'), qos: 1, messageId: 7, retain: false, dup: false });
      await pub.waitClosed();
      expect(await pub.drain('puback')).toEqual([]);
    } finally {
      await env.DB.exec('ALTER TABLE acl_rules_away RENAME TO acl_rules');
    }

    // D1 answers again: the publisher resends what was never acknowledged, and the subscriber, still connected, gets it.
    const again = await RawClient.open(4);
    await again.connect({ clientId: 'norules-pub', clean: false });
    again.send({ cmd: 'publish', topic: 'norules/1', payload: Buffer.from('kept'), qos: 1, messageId: 7, retain: false, dup: true });
    await again.next('puback');
    const got = await sub.next<IPublishPacket>('publish');
    expect(Buffer.from(got.payload as Uint8Array).toString()).toBe('kept');
    sub.close();
    again.close();
  });

  it('tells a 5.0 client why it closes: DISCONNECT 0x89, Server busy', async () => {
    const pub = await RawClient.open(5);
    await pub.connect({ clientId: 'norules-pub5' });
    await env.DB.exec('ALTER TABLE acl_rules RENAME TO acl_rules_away');
    try {
      await evictDurableObject(shard(), { webSockets: 'hibernate' });
      pub.send({ cmd: 'publish', topic: 'norules/5', payload: Buffer.from('x'), qos: 1, messageId: 3, retain: false, dup: false });
      expect((await pub.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x89);
      await pub.waitClosed();
      expect(await pub.drain('puback')).toEqual([]);
    } finally {
      await env.DB.exec('ALTER TABLE acl_rules_away RENAME TO acl_rules');
    }
  });
});
