import { evictDurableObject, runDurableObjectAlarm, SELF } from 'cloudflare:test';
import type { IDisconnectPacket } from 'mqtt-packet';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { api, BASE, expectError, tokens } from '../admin-support';
import { RawClient } from '../raw-client';
import { clusterSettled, idsOnShards, SHARDS, shardOf, shardStub, until } from './cluster-support';

const open: RawClient[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) {
    c.close();
    await c.waitClosed().catch(() => undefined);
  }
});

async function connected(clientId: string, fields: Record<string, unknown> = {}): Promise<RawClient> {
  const c = await RawClient.open(5);
  open.push(c);
  const ack = await c.connect({ clientId, ...fields });
  expect(ack).toMatchObject({ cmd: 'connack', reasonCode: 0 });
  return c;
}

const sorted = (ids: string[]) => [...ids].sort();


// Nothing may be in flight between shards when this file's environment closes.
afterAll(clusterSettled);

describe('the admin API over four shards', () => {
  it('spreads the ids of these tests over every shard, and each shard knows its place from the name it was addressed by', async () => {
    const ids = idsOnShards('spread-', [0, 1, 2, 3]);
    expect(ids.map(shardOf)).toEqual([0, 1, 2, 3]);
    for (const id of ids) await connected(id);
    for (const shard of [0, 1, 2, 3]) expect(await shardStub(shard).shardIdentity()).toEqual({ index: shard, count: SHARDS });
  });

  it('lists sessions from every shard in one order and one page cut, each with its shard; one session goes to its own shard', async () => {
    const { admin, viewer } = await tokens();
    const ids = idsOnShards('fan-s', [0, 1, 2, 3, 2]);
    const clients = new Map<string, RawClient>();
    for (const id of ids) clients.set(id, await connected(id, { keepalive: 30, properties: { sessionExpiryInterval: 600 } }));

    const all = await api('GET', '/sessions?clientId=fan-s', { token: viewer });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ page: 0, totalElements: 5, totalPages: 1, hasNext: false });
    expect(all.body.data.map((s: { clientId: string }) => s.clientId)).toEqual(sorted(ids));
    for (const row of all.body.data) expect(row.shard, row.clientId).toBe(shardOf(row.clientId));
    expect(new Set(all.body.data.map((s: { shard: number }) => s.shard))).toEqual(new Set([0, 1, 2, 3]));

    // The page is cut once, after the merge: page 1 of size 2 is the 3rd and 4th id of all shards together.
    const page1 = await api('GET', '/sessions?clientId=fan-s&pageSize=2&page=1', { token: viewer });
    expect(page1.body).toMatchObject({ page: 1, pageSize: 2, totalElements: 5, totalPages: 3, hasNext: true });
    expect(page1.body.data.map((s: { clientId: string }) => s.clientId)).toEqual(sorted(ids).slice(2, 4));
    const last = await api('GET', '/sessions?clientId=fan-s&pageSize=2&page=2&order=desc', { token: viewer });
    expect(last.body.data.map((s: { clientId: string }) => s.clientId)).toEqual(sorted(ids).reverse().slice(4));
    expect(last.body.hasNext).toBe(false);

    const onThree = ids[3];
    const subscriber = clients.get(onThree)!;
    subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'fan/detail/#', qos: 1 }] });
    await subscriber.next('suback');
    const detail = await api('GET', `/sessions/${onThree}`, { token: viewer });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ clientId: onThree, shard: 3, connected: true, subscriptions: 1 });
    expect(detail.body.subscriptionList).toEqual([expect.objectContaining({ topicFilter: 'fan/detail/#', shard: 3 })]);
    expectError(await api('GET', '/sessions/fan-s-none', { token: viewer }), 404, 'not_found');

    const onOne = ids[1];
    expect((await api('POST', `/sessions/${onOne}/disconnect`, { token: admin })).status).toBe(204);
    expect((await clients.get(onOne)!.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x98);
    await clients.get(onOne)!.waitClosed();
    const after = await until(
      () => api('GET', `/sessions/${onOne}`, { token: viewer }),
      (r) => r.body.connected === false,
      `${onOne} to show disconnected`,
    );
    expect(after.body.shard).toBe(1);
    expectError(await api('POST', `/sessions/${onOne}/disconnect`, { token: admin }), 404, 'not_found');

    const secondOnTwo = ids[4];
    expect((await api('DELETE', `/sessions/${secondOnTwo}`, { token: admin })).status).toBe(204);
    await clients.get(secondOnTwo)!.waitClosed();
    expectError(await api('GET', `/sessions/${secondOnTwo}`, { token: viewer }), 404, 'not_found');
    expectError(await api('DELETE', `/sessions/${secondOnTwo}`, { token: admin }), 404, 'not_found');
    const left = await api('GET', '/sessions?clientId=fan-s', { token: viewer });
    expect(left.body.data.map((s: { clientId: string; shard: number }) => [s.clientId, s.shard])).toEqual(
      sorted(ids.filter((id) => id !== secondOnTwo)).map((id) => [id, shardOf(id)]),
    );
    for (const id of ids) await api('DELETE', `/sessions/${id}`, { token: admin });
  });

  it('lists subscriptions of every shard merged by topic filter, each with its shard', async () => {
    const { viewer } = await tokens();
    const ids = idsOnShards('fan-sub', [3, 2, 1, 0]);
    for (const [k, id] of ids.entries()) {
      const c = await connected(id);
      c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `fansub/${k}/+`, qos: 1 }, { topic: `fansub/all`, qos: 0 }] });
      await c.next('suback');
    }
    const list = await api('GET', '/subscriptions?topicFilter=fansub/', { token: viewer });
    expect(list.body.totalElements).toBe(8);
    const rows = list.body.data as Array<{ topicFilter: string; clientId: string; shard: number }>;
    expect(rows.map((r) => r.topicFilter)).toEqual(['fansub/0/+', 'fansub/1/+', 'fansub/2/+', 'fansub/3/+', 'fansub/all', 'fansub/all', 'fansub/all', 'fansub/all']);
    for (const r of rows) expect(r.shard, r.clientId).toBe(shardOf(r.clientId));
    expect(rows.slice(4).map((r) => r.clientId)).toEqual(sorted(ids));
    const page = await api('GET', '/subscriptions?topicFilter=fansub/&pageSize=3&page=1', { token: viewer });
    expect(page.body).toMatchObject({ totalElements: 8, totalPages: 3, hasNext: true });
    expect(page.body.data.map((r: { topicFilter: string; clientId: string }) => [r.topicFilter, r.clientId])).toEqual(
      rows.slice(3, 6).map((r) => [r.topicFilter, r.clientId]),
    );
  });

  it('lists retained messages of every shard, shows and deletes one wherever it lives, and deletes all', async () => {
    const { admin, viewer } = await tokens();
    const ids = idsOnShards('fan-ret', [0, 1, 2, 3]);
    for (const [k, id] of ids.entries()) {
      const c = await connected(id);
      c.send({ cmd: 'publish', topic: `fanret/${k}`, payload: Buffer.from(`v${k}`), qos: 1, messageId: 1, retain: true, dup: false });
      await c.next('puback');
    }
    const list = await until(
      () => api('GET', '/retained?topic=fanret/', { token: viewer }),
      (r) => r.body.totalElements === 4,
      'four retained messages',
    );
    const rows = list.body.data as Array<{ topic: string; shard: number; payload: string }>;
    expect(rows.map((m) => [m.topic, m.payload])).toEqual([0, 1, 2, 3].map((k) => [`fanret/${k}`, `v${k}`]));
    for (const m of rows) {
      expect(m.shard).toBeGreaterThanOrEqual(0);
      expect(m.shard).toBeLessThan(SHARDS);
      const one = await api('GET', `/retained/${encodeURIComponent(m.topic)}`, { token: viewer });
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ topic: m.topic, shard: m.shard, payload: m.payload });
    }
    const paged = await api('GET', '/retained?topic=fanret/&pageSize=3&page=1', { token: viewer });
    expect(paged.body.data.map((m: { topic: string }) => m.topic)).toEqual(['fanret/3']);

    expect((await api('DELETE', `/retained/${encodeURIComponent('fanret/2')}`, { token: admin })).status).toBe(204);
    expectError(await api('DELETE', `/retained/${encodeURIComponent('fanret/2')}`, { token: admin }), 404, 'not_found');
    expectError(await api('GET', `/retained/${encodeURIComponent('fanret/2')}`, { token: viewer }), 404, 'not_found');
    const cleared = await api('DELETE', '/retained', { token: admin });
    expect(cleared.status).toBe(200);
    expect(cleared.body.deleted).toBeGreaterThanOrEqual(3);
    expect((await api('GET', '/retained', { token: viewer })).body.totalElements).toBe(0);
  });

  it('reports cluster totals as the sums of the shards, each shard on its own, and history summed per minute', async () => {
    const { viewer } = await tokens();
    const ids = idsOnShards('fan-stat', [0, 1, 2, 3, 3]);
    for (const id of ids) {
      const c = await connected(id);
      c.send({ cmd: 'publish', topic: `fanstat/${id}`, payload: Buffer.from('x'), qos: 1, messageId: 7, retain: false, dup: false });
      await c.next('puback');
    }
    const stats = await api('GET', '/stats', { token: viewer });
    expect(stats.status).toBe(200);
    const shards = stats.body.shards as Array<Record<string, number> & { shard: number; durableObject: Record<string, number> }>;
    expect(shards.map((s) => s.shard)).toEqual([0, 1, 2, 3]);
    for (const key of ['connections', 'connectionsTotal', 'messagesIn', 'messagesOut', 'publishIn', 'bytesIn', 'sessions', 'subscriptions', 'retained', 'authFailures']) {
      expect(stats.body[key], key).toBe(shards.reduce((n, s) => n + s[key], 0));
    }
    for (const key of ['webSocketMessagesIn', 'webSocketMessagesOut', 'upgrades', 'alarms']) {
      expect(stats.body.durableObject[key], key).toBe(shards.reduce((n, s) => n + s.durableObject[key], 0));
    }
    // Each shard saw the publishes of its own clients only.
    for (const shard of [0, 1, 2, 3]) {
      const mine = ids.filter((id) => shardOf(id) === shard).length;
      expect(shards[shard].connections, `shard ${shard}`).toBeGreaterThanOrEqual(mine);
      expect(shards[shard].publishIn, `shard ${shard}`).toBeGreaterThanOrEqual(mine);
      expect(shards[shard].durableObject.upgrades, `shard ${shard}`).toBeGreaterThanOrEqual(mine);
    }
    expect(shards[3].connections).toBeGreaterThanOrEqual(2);

    // Every shard has clients, so each takes samples; the history is their sum per minute.
    for (const shard of [0, 1, 2, 3]) await runDurableObjectAlarm(shardStub(shard));
    const history = await api('GET', '/stats/history', { token: viewer });
    expect(history.status).toBe(200);
    const latest = history.body.data.at(-1);
    expect(latest.at).toMatch(/:00\.000Z$/);
    const minute = Date.parse(latest.at);
    const perShard = await Promise.all([0, 1, 2, 3].map((shard) => shardStub(shard).statsHistory({})));
    const latestOf = perShard.map((rows) => rows.filter((r) => Date.parse(r.at) < minute + 60_000).at(-1)!);
    for (const [shard, row] of latestOf.entries()) expect(row, `shard ${shard} sampled`).toBeDefined();
    expect(latest.publishIn).toBe(latestOf.reduce((n, r) => n + r.publishIn, 0));
    expect(latest.connectionsTotal).toBe(latestOf.reduce((n, r) => n + r.connectionsTotal, 0));
  });

  it('fans live events in from every shard, each tagged with its shard', async () => {
    const { admin, viewer } = await tokens();
    const res = await SELF.fetch(`${BASE}/events`, { headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': `bearer.${viewer}` } });
    expect(res.status).toBe(101);
    expect(res.headers.get('sec-websocket-protocol')).toBe(`bearer.${viewer}`);
    const ws = res.webSocket!;
    ws.accept();
    const events: Array<{ type: string; clientId: string; shard: number; reasonCode?: string }> = [];
    ws.addEventListener('message', (e) => {
      events.push(JSON.parse(e.data as string));
    });

    const ids = idsOnShards('fan-live', [0, 1, 2, 3]);
    const clients = [];
    for (const id of ids) clients.push(await connected(id));
    const [blocked] = idsOnShards('fan-live-blocked', [2]);
    await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: blocked } });
    const refused = await RawClient.open(5);
    open.push(refused);
    expect(((await refused.connect({ clientId: blocked })) as { reasonCode: number }).reasonCode).not.toBe(0);
    clients[1].close();

    const mine = (type: string) => events.filter((e) => e.type === type && e.clientId.startsWith('fan-live'));
    await until(
      async () => events,
      () => mine('connected').length === 4 && mine('auth-failure').length === 1 && mine('disconnected').length === 1,
      `every shard's events; got ${JSON.stringify(events)}`,
    );
    expect(mine('connected').map((e) => [e.clientId, e.shard]).sort()).toEqual(ids.map((id) => [id, shardOf(id)]).sort());
    expect(mine('auth-failure')[0]).toMatchObject({ clientId: blocked, shard: 2, reasonCode: 'CLIENT_BLOCKED' });
    expect(mine('disconnected')[0]).toMatchObject({ clientId: ids[1], shard: 1 });
    ws.close(1000, 'done');
  });

  it('closes the fanned-in stream with 1012 when one shard restarts, so the dashboard reopens all of them', async () => {
    const { viewer } = await tokens();
    const res = await SELF.fetch(`${BASE}/events?token=${encodeURIComponent(viewer)}`, { headers: { Upgrade: 'websocket' } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    ws.accept();
    const closed = new Promise<number>((resolve) => ws.addEventListener('close', (e) => resolve(e.code)));
    await evictDurableObject(shardStub(2), { webSockets: 'close' });
    expect(await closed).toBe(1012);
  });
});
