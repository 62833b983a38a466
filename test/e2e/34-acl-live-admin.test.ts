import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminBroker } from '../support/admin-broker';
import type { AdminCall } from '../support/admin-session';
import type { BrokerHandle } from '../support/broker-process';
import { end, open, publish, received, subDenied, subscribe, topicsOf, VERSIONS, type AclClient } from './acl-clients';

/**
 * A topic rule edited through the admin API reaches connections that are
 * already open, before the API answers: the shard is told (configChanged) and
 * reloads at once. The periodic recheck is an hour here, so nothing else could
 * have applied the change; every assertion runs right after the API call.
 */

const ADMIN = { username: 'acl-admin', password: 'acl-admin-password' };
const PASSWORD = 'live-pw';
let broker: BrokerHandle;
let api: AdminCall;


const userRule = (username: string, access: string, topic: string) => ({ kind: 'topic', principalType: 'user', username, access, topic });
let liveRuleId: string;

beforeAll(async () => {
  ({ broker, api } = await startAdminBroker(ADMIN, {
    ALLOW_ANONYMOUS: 'false',
    AUTH_PROVIDERS: 'basic',
    ACL_DEFAULT_POLICY: 'deny',
    CONFIG_RECHECK_SECONDS: '3600',
  }));
  for (const username of ['root', 'livy']) {
    expect((await api('POST', '/credentials', { type: 'basic', name: username, username, password: PASSWORD })).status).toBe(201);
  }
  expect((await api('POST', '/acl-rules', userRule('root', 'readwrite', '#'))).status).toBe(201);
  const live = await api<{ id: string }>('POST', '/acl-rules', userRule('livy', 'readwrite', 'live/#'));
  expect(live.status).toBe(201);
  liveRuleId = live.body.id;
  expect((await api('POST', '/acl-rules', userRule('livy', 'read', 'marker/#'))).status).toBe(201);
});
afterAll(async () => {
  await broker?.stop();
});

describe('34 topic ACLs changed through the admin API', () => {
  it('takes rights away from open connections at once and gives them back, without reconnecting', async () => {
    const root = await open(broker.wsUrl, 5, { clientId: 'live-root', username: 'root', password: PASSWORD });
    expect(await subscribe(root, 'live/pub/#')).toEqual([1]);
    const livy = new Map<number, AclClient>();
    for (const v of VERSIONS) {
      const c = await open(broker.wsUrl, v, { clientId: `livy-${v}`, username: 'livy', password: PASSWORD });
      expect(await subscribe(c, 'live/sub/#', 'marker/#')).toEqual([1, 1]);
      livy.set(v, c);
    }

    const allowedBothWays = async (tag: string) => {
      for (const v of VERSIONS) {
        const c = livy.get(v)!;
        expect(await publish(c, `live/pub/${v}-${tag}`, 'from livy', 1)).toBe(0);
        await received(root, `live/pub/${v}-${tag}`, 'from livy');
        await publish(root, `live/sub/${v}-${tag}`, 'for livy', 1);
        await received(c, `live/sub/${v}-${tag}`, 'for livy');
        expect(await subscribe(c, `live/sub/${v}-${tag}/extra`)).toEqual([1]);
      }
    };
    await allowedBothWays('before');

    const revoked = await api('PUT', `/acl-rules/${liveRuleId}`, userRule('livy', 'readwrite', 'elsewhere/#'));
    expect(revoked.status, JSON.stringify(revoked.body)).toBe(200);
    for (const v of VERSIONS) {
      const c = livy.get(v)!;
      // (a) The same PUBLISH is now denied: 0x87 in 5.0, dropped but acknowledged in 3.1.1.
      expect(await publish(c, `live/pub/${v}-revoked`, 'from livy', 1)).toBe(v === 5 ? 0x87 : 0);
      await publish(root, `live/pub/${v}-marker`, 'marker', 1);
      await received(root, `live/pub/${v}-marker`, 'marker');
      expect(topicsOf(root)).not.toContain(`live/pub/${v}-revoked`);
      // (b) The subscription made while it was allowed stays, but delivers nothing the rules no longer grant.
      await publish(root, `live/sub/${v}-revoked`, 'for livy', 1);
      await publish(root, `marker/${v}-revoked`, 'marker', 1);
      await received(c, `marker/${v}-revoked`, 'marker');
      expect(topicsOf(c)).not.toContain(`live/sub/${v}-revoked`);
      expect(await subscribe(c, `live/sub/${v}-revoked/extra`)).toEqual([subDenied(v)]);
      expect(c.client.connected).toBe(true);
    }

    const granted = await api('PUT', `/acl-rules/${liveRuleId}`, userRule('livy', 'readwrite', 'live/#'));
    expect(granted.status, JSON.stringify(granted.body)).toBe(200);
    // Granted again: the same connections and the same subscriptions work as before.
    await allowedBothWays('granted');
    await end(root, ...livy.values());
  });
});
