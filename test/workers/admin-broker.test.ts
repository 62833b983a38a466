import { env, runDurableObjectAlarm, runInDurableObject, SELF } from 'cloudflare:test';
import type { IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';
import { api, auditEntries, BASE, expectError, expectGuarded, tokens } from './admin-support';
import { RawClient } from './raw-client';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const value = await read();
    if (ok(value)) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

async function openEvents(token: string, how: 'subprotocol' | 'query' = 'subprotocol') {
  const headers: Record<string, string> = { Upgrade: 'websocket' };
  let url = `${BASE}/events`;
  if (how === 'subprotocol') headers['Sec-WebSocket-Protocol'] = `bearer.${token}`;
  else url += `?token=${encodeURIComponent(token)}`;
  const res = await SELF.fetch(url, { headers });
  expect(res.status).toBe(101);
  const ws = res.webSocket!;
  ws.accept();
  const events: Array<Record<string, unknown>> = [];
  ws.addEventListener('message', (e) => {
    events.push(JSON.parse(e.data as string));
  });
  return { ws, events, protocol: res.headers.get('sec-websocket-protocol') };
}

describe('/sessions', () => {
  it('lists sessions with filters, sort and paging, shows one with its subscriptions, disconnects with 0x98 and removes', async () => {
    const { admin, viewer } = await tokens();
    const a = await RawClient.open(5, { 'CF-Connecting-IP': '192.0.2.50' });
    await a.connect({ clientId: 'sess-a', clean: true, keepalive: 30, properties: { sessionExpiryInterval: 600 } });
    a.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'plant/+/temp', qos: 1 }, { topic: '$share/grp/jobs/#', qos: 2 }] });
    await a.next('suback');
    const b = await RawClient.open(4, { 'CF-Connecting-IP': '198.51.100.60' });
    await b.connect({ clientId: 'sess-b', clean: true });

    const all = await api('GET', '/sessions?clientId=sess-', { token: viewer });
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ page: 0, totalElements: 2, totalPages: 1, hasNext: false });
    const [first, second] = all.body.data;
    expect(first).toMatchObject({ clientId: 'sess-a', connected: true, ip: '192.0.2.50', protocolVersion: 5, cleanStart: false, sessionExpiryInterval: 600, keepAlive: 30, subscriptions: 2 });
    expect(second).toMatchObject({ clientId: 'sess-b', connected: true, ip: '198.51.100.60', protocolVersion: 4, cleanStart: true, sessionExpiryInterval: 0, subscriptions: 0 });
    expect(Date.parse(first.connectedAt)).toBeGreaterThan(0);

    const ids = async (q: string) => (await api('GET', `/sessions?${q}`, { token: viewer })).body.data.map((s: { clientId: string }) => s.clientId);
    expect(await ids('clientId=SESS-A')).toEqual(['sess-a']);
    expect(await ids('clientId=sess-&ip=198.51')).toEqual(['sess-b']);
    expect(await ids('clientId=sess-&cleanStart=false')).toEqual(['sess-a']);
    expect(await ids('clientId=sess-&sort=subscriptions&order=desc')).toEqual(['sess-a', 'sess-b']);
    expect(await ids('clientId=sess-&order=desc')).toEqual(['sess-b', 'sess-a']);
    const paged = await api('GET', '/sessions?clientId=sess-&pageSize=1&page=1', { token: viewer });
    expect(paged.body).toMatchObject({ page: 1, pageSize: 1, totalElements: 2, totalPages: 2, hasNext: false });
    expect(paged.body.data[0].clientId).toBe('sess-b');

    const detail = await api('GET', '/sessions/sess-a', { token: viewer });
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ clientId: 'sess-a', inflight: 0, queueDepth: 0, willPending: false });
    expect(detail.body.subscriptionList.map((s: { topicFilter: string; shareGroup: string | null; qos: number }) => [s.topicFilter, s.shareGroup, s.qos]).sort()).toEqual([
      ['jobs/#', 'grp', 2],
      ['plant/+/temp', null, 1],
    ]);

    // A disconnected persistent session stays, with its subscriptions.
    const disconnected = await api('POST', '/sessions/sess-a/disconnect', { token: admin });
    expect(disconnected.status).toBe(204);
    const packet = await a.next<IDisconnectPacket>('disconnect');
    expect(packet.reasonCode).toBe(0x98);
    await a.waitClosed();
    const after = await until(
      () => api('GET', '/sessions/sess-a', { token: viewer }),
      (r) => r.body.connected === false,
      'sess-a to show disconnected',
    );
    expect(after.body).toMatchObject({ connected: false, ip: null, subscriptions: 2 });
    expect(after.body.expiresAt).not.toBeNull();
    expect(await ids('clientId=sess-&connected=false')).toEqual(['sess-a']);
    expectError(await api('POST', '/sessions/sess-a/disconnect', { token: admin }), 404, 'not_found');

    // Removing ends the session for good; a 3.1.1 client is simply closed.
    expect((await api('DELETE', '/sessions/sess-b', { token: admin })).status).toBe(204);
    await b.waitClosed();
    expect((await api('DELETE', '/sessions/sess-a', { token: admin })).status).toBe(204);
    expectError(await api('GET', '/sessions/sess-a', { token: viewer }), 404, 'not_found');
    expectError(await api('DELETE', '/sessions/sess-a', { token: admin }), 404, 'not_found');
    expect((await api('GET', '/subscriptions?clientId=sess-a', { token: viewer })).body.totalElements).toBe(0);
    expect((await auditEntries(admin, '?resource=sessions')).map((e) => [e.action, e.resourceId])).toEqual([
      ['delete', 'sess-a'],
      ['delete', 'sess-b'],
      ['disconnect', 'sess-a'],
    ]);

    expectError(await api('GET', '/sessions?connected=maybe', { token: viewer }), 400, 'validation_error', 'connected');
    expectError(await api('GET', '/sessions?sort=ip,clientId', { token: viewer }), 400, 'validation_error', 'sort');
    await expectGuarded('GET', '/sessions', null);
    await expectGuarded('GET', '/sessions/sess-a', null);
    await expectGuarded('POST', '/sessions/sess-a/disconnect', viewer);
    await expectGuarded('DELETE', '/sessions/sess-a', viewer);
  });
});

describe('/subscriptions', () => {
  it('lists subscriptions filtered by topic filter, QoS and shared group', async () => {
    const { viewer } = await tokens();
    const c = await RawClient.open(5);
    await c.connect({ clientId: 'subs-1' });
    c.send({
      cmd: 'subscribe',
      messageId: 1,
      subscriptions: [
        { topic: 'fleet/+/gps', qos: 0 },
        { topic: 'fleet/alerts', qos: 1 },
        { topic: '$share/workers/fleet/jobs', qos: 2 },
      ],
    });
    await c.next('suback');
    const filters = async (q: string) =>
      (await api('GET', `/subscriptions?clientId=subs-1&${q}`, { token: viewer })).body.data.map((s: { topicFilter: string }) => s.topicFilter);
    expect(await filters('')).toEqual(['fleet/+/gps', 'fleet/alerts', 'fleet/jobs']);
    expect(await filters('topicFilter=ALERT')).toEqual(['fleet/alerts']);
    expect(await filters('qos=1,2')).toEqual(['fleet/alerts', 'fleet/jobs']);
    expect(await filters('shareGroup=workers')).toEqual(['fleet/jobs']);
    expect(await filters('shared=false')).toEqual(['fleet/+/gps', 'fleet/alerts']);
    const page = await api('GET', '/subscriptions?clientId=subs-1&pageSize=2&page=1', { token: viewer });
    expect(page.body).toMatchObject({ totalElements: 3, totalPages: 2, hasNext: false });
    expect(page.body.data[0]).toMatchObject({ clientId: 'subs-1', topicFilter: 'fleet/jobs', shareGroup: 'workers', qos: 2, noLocal: false });
    expectError(await api('GET', '/subscriptions?qos=3', { token: viewer }), 400, 'validation_error', 'qos');
    await expectGuarded('GET', '/subscriptions', null);
    c.close();
  });
});

describe('/retained', () => {
  it('lists retained messages by topic, filter and time; shows, deletes one and all', async () => {
    const { admin, viewer } = await tokens();
    const c = await RawClient.open(5);
    await c.connect({ clientId: 'retainer' });
    const publish = (topic: string, payload: Uint8Array | string, properties?: Record<string, unknown>) =>
      c.send({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: true, dup: false, properties });
    publish('site/1/status', 'online', { contentType: 'text/plain' });
    publish('site/2/status', 'offline');
    publish('site/2/raw', new Uint8Array([0xff, 0x00, 0xfe]));
    publish('site/big', 'x'.repeat(3000));
    const listed = await until(
      () => api('GET', '/retained?topic=site/', { token: viewer }),
      (r) => r.body.totalElements === 4,
      'four retained messages',
    );
    expect(listed.body.data.map((m: { topic: string }) => m.topic)).toEqual(['site/1/status', 'site/2/raw', 'site/2/status', 'site/big']);
    expect(listed.body.data[0]).toMatchObject({ qos: 0, payload: 'online', payloadBase64: btoa('online'), payloadSize: 6, payloadTruncated: false, contentType: 'text/plain' });
    expect(listed.body.data[1]).toMatchObject({ payload: null, payloadBase64: btoa('\xff\x00\xfe'), payloadSize: 3 });
    expect(listed.body.data[3]).toMatchObject({ payloadSize: 3000, payloadTruncated: true });
    expect(listed.body.data[3].payload).toHaveLength(1024);

    const topics = async (q: string) => (await api('GET', `/retained?${q}`, { token: viewer })).body.data.map((m: { topic: string }) => m.topic);
    expect(await topics('filter=site/%2B/status')).toEqual(['site/1/status', 'site/2/status']);
    expect(await topics('filter=site/2/%23')).toEqual(['site/2/raw', 'site/2/status']);
    expect(await topics('topic=site&from=2999-01-01T00:00:00Z')).toEqual([]);
    expect(await topics(`topic=site&to=${Date.now() + 60_000}`)).toHaveLength(4);
    expectError(await api('GET', '/retained?filter=site/%23/x', { token: viewer }), 400, 'validation_error', 'filter');

    const big = await api('GET', `/retained/${encodeURIComponent('site/big')}`, { token: viewer });
    expect(big.status).toBe(200);
    expect(big.body).toMatchObject({ topic: 'site/big', payloadTruncated: false });
    expect(big.body.payload).toHaveLength(3000);
    expectError(await api('GET', `/retained/${encodeURIComponent('site/none')}`, { token: viewer }), 404, 'not_found');

    expect((await api('DELETE', `/retained/${encodeURIComponent('site/1/status')}`, { token: admin })).status).toBe(204);
    expectError(await api('DELETE', `/retained/${encodeURIComponent('site/1/status')}`, { token: admin }), 404, 'not_found');
    // A new subscriber no longer receives the deleted message.
    const s = await RawClient.open(5);
    await s.connect({ clientId: 'retained-check' });
    s.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'site/+/status', qos: 0 }] });
    await s.next('suback');
    const got = await s.drain<IPublishPacket>('publish', 300);
    expect(got.map((p) => p.topic)).toEqual(['site/2/status']);

    const cleared = await api('DELETE', '/retained', { token: admin });
    expect(cleared.status).toBe(200);
    expect(cleared.body.deleted).toBeGreaterThanOrEqual(3);
    expect((await api('GET', '/retained', { token: viewer })).body.totalElements).toBe(0);
    await expectGuarded('GET', '/retained', null);
    await expectGuarded('GET', '/retained/x', null);
    await expectGuarded('DELETE', '/retained/x', viewer);
    await expectGuarded('DELETE', '/retained', viewer);
    c.close();
    s.close();
  });
});

describe('/stats', () => {
  it('reports counters and keeps per-minute history only while clients are connected', async () => {
    const { viewer } = await tokens();
    const c = await RawClient.open(4);
    await c.connect({ clientId: 'stats-1' });
    c.send({ cmd: 'publish', topic: 'stats/x', payload: Buffer.from('hello'), qos: 0, retain: false, dup: false });
    const stats = await until(
      () => api('GET', '/stats', { token: viewer }),
      (r) => r.body.publishIn >= 1,
      'the publish to be counted',
    );
    expect(stats.body.connections).toBeGreaterThanOrEqual(1);
    expect(stats.body.sessions).toBeGreaterThanOrEqual(1);
    expect(stats.body.bytesIn).toBeGreaterThan(0);
    expect(stats.body.messagesOut).toBeGreaterThan(0);
    expect(stats.body.uptimeSeconds).toBeGreaterThanOrEqual(0);
    for (const key of ['connectionsTotal', 'messagesIn', 'publishOut', 'bytesOut', 'dropped', 'authFailures', 'subscriptions', 'retained']) {
      expect(typeof stats.body[key], key).toBe('number');
    }

    // With a client connected the sample is due: the shard's alarm takes it.
    await runDurableObjectAlarm(shard());
    const history = await api('GET', '/stats/history', { token: viewer });
    expect(history.status).toBe(200);
    expect(history.body.data.length).toBeGreaterThanOrEqual(1);
    expect(history.body.data.at(-1).connections).toBeGreaterThanOrEqual(1);
    expect((await api('GET', '/stats/history?from=2999-01-01T00:00:00Z', { token: viewer })).body.data).toEqual([]);
    expectError(await api('GET', '/stats/history?from=noon', { token: viewer }), 400, 'validation_error', 'from');

    // Without clients nothing keeps the object awake for samples.
    c.close();
    await until(
      () => runInDurableObject(shard(), (_i, state) => state.storage.getAlarm()),
      (alarm) => alarm === null,
      'the alarm to be cleared once the last client left',
    );
    await expectGuarded('GET', '/stats', null);
    await expectGuarded('GET', '/stats/history', null);
  });
});

describe('/events', () => {
  it('streams connects, refusals and disconnects to a WebSocket authenticated by subprotocol or query', async () => {
    const { admin, viewer } = await tokens();
    const byProtocol = await openEvents(viewer, 'subprotocol');
    expect(byProtocol.protocol).toBe(`bearer.${viewer}`);
    const byQuery = await openEvents(admin, 'query');

    const c = await RawClient.open(5, { 'CF-Connecting-IP': '192.0.2.99' });
    // Anonymous: the test bindings allow it, and a username would send it to the basic provider.
    await c.connect({ clientId: 'live-1' });
    await api('POST', '/blocked-clients', { token: admin, body: { kind: 'clientId', value: 'live-blocked' } });
    const refused = await RawClient.open(5, { 'CF-Connecting-IP': '192.0.2.98' });
    await refused.connect({ clientId: 'live-blocked' });
    c.close();

    for (const stream of [byProtocol, byQuery]) {
      const events = await until(
        async () => stream.events,
        (e) => e.some((x) => x.type === 'disconnected'),
        `a disconnected event; got ${JSON.stringify(stream.events)}`,
      );
      const mine = events.filter((e) => e.clientId === 'live-1' || e.clientId === 'live-blocked');
      expect(mine.map((e) => [e.type, e.clientId])).toEqual([
        ['connected', 'live-1'],
        ['auth-failure', 'live-blocked'],
        ['disconnected', 'live-1'],
      ]);
      expect(mine[0]).toMatchObject({ username: null, ip: '192.0.2.99' });
      expect(mine[1]).toMatchObject({ ip: '192.0.2.98', reasonCode: 'CLIENT_BLOCKED' });
      expect(mine[2]).toMatchObject({ username: null, ip: '192.0.2.99' });
      expect(Date.parse(mine[0].at as string)).toBeGreaterThan(0);
      stream.ws.close(1000, 'done');
    }

    // Nobody listens now; connects go by unannounced. A dashboard that opens the stream afterwards still gets the next ones.
    const unwatched = await RawClient.open(5);
    await unwatched.connect({ clientId: 'live-unwatched' });
    unwatched.close();
    const late = await openEvents(admin, 'query');
    const again = await RawClient.open(5);
    await again.connect({ clientId: 'live-2' });
    const seen = await until(
      async () => late.events,
      (e) => e.some((x) => x.type === 'connected' && x.clientId === 'live-2'),
      `a connected event after the stream reopened; got ${JSON.stringify(late.events)}`,
    );
    expect(seen.some((e) => e.clientId === 'live-unwatched')).toBe(false);
    again.close();
    late.ws.close(1000, 'done');

    const anonymous = await SELF.fetch(`${BASE}/events`, { headers: { Upgrade: 'websocket' } });
    expect(anonymous.status).toBe(401);
    const badToken = await SELF.fetch(`${BASE}/events`, { headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': 'bearer.nope' } });
    expect(badToken.status).toBe(401);
    expectError(await api('GET', '/events', { token: viewer }), 426, 'upgrade_required');
  });
});
