import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, waitFor, type BrokerHandle } from '../support/broker-process';
import { socketDescriptors } from '../support/runtime-process';
import { connectClient } from './mqtt-clients';

/**
 * The HTTP side of the runtime, no MQTT needed: if these fail, every other
 * end-to-end suite fails for reasons that have nothing to do with the engine.
 */

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, init: { method?: string; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers, agent: false });
    req.setTimeout(10_000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    // Node hands a 101 to 'upgrade' instead of 'response'.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
    });
    req.end();
  });
}

function upgradeHeaders(extra: Record<string, string> = {}) {
  const key = randomBytes(16).toString('base64');
  const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
  return {
    accept,
    headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': key, ...extra },
  };
}

function openWebSocket(url: string, protocols: string[]): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols);
    const timer = setTimeout(() => reject(new Error('WebSocket did not open')), 10_000);
    ws.addEventListener('open', () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.addEventListener('error', () => {
      clearTimeout(timer);
      reject(new Error('WebSocket handshake failed'));
    });
  });
}

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

describe('00 transport: HTTP and the WebSocket handshake', () => {
  it('answers /health with 200 JSON', async () => {
    const res = await request(`${broker.url}/health`);
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.body)).toMatchObject({ status: 'ok' });
  });

  it('answers a plain GET /mqtt with 426 and a JSON error', async () => {
    const res = await request(`${broker.url}/mqtt`);
    expect(res.status).toBe(426);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(JSON.parse(res.body)).toHaveProperty('error');
  });

  it('refuses an upgrade without Sec-WebSocket-Protocol with 400', async () => {
    const res = await request(`${broker.url}/mqtt`, { headers: upgradeHeaders().headers });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toHaveProperty('error');
  });

  it('refuses an upgrade offering only unknown subprotocols with 400', async () => {
    const res = await request(`${broker.url}/mqtt`, { headers: upgradeHeaders({ 'Sec-WebSocket-Protocol': 'chat, stomp' }).headers });
    expect(res.status).toBe(400);
  });

  for (const [offered, chosen] of [
    ['mqtt', 'mqtt'],
    ['mqttv3.1', 'mqttv3.1'],
    ['chat, mqtt', 'mqtt'],
  ] as const) {
    it(`switches protocols when offered "${offered}" and echoes "${chosen}"`, async () => {
      const { headers, accept } = upgradeHeaders({ 'Sec-WebSocket-Protocol': offered });
      const res = await request(`${broker.url}/mqtt`, { headers });
      expect(res.status).toBe(101);
      expect(res.headers['sec-websocket-protocol']).toBe(chosen);
      expect(res.headers['sec-websocket-accept']).toBe(accept);
    });
  }

  for (const protocol of ['mqtt', 'mqttv3.1']) {
    it(`completes a real WebSocket handshake with subprotocol ${protocol}`, async () => {
      const ws = await openWebSocket(broker.wsUrl, [protocol]);
      expect(ws.protocol).toBe(protocol);
      ws.close();
    });
  }

  it('is not disturbed by a client-sent x-edgemq-trusted-context header', async () => {
    // Same encoding the Worker uses, so a naive pass-through would be believed.
    const forged = encodeURIComponent(JSON.stringify({ ip: '10.0.0.1', tls: true, tlsClientAuth: { certPresented: '1', certVerified: 'SUCCESS' }, subprotocol: 'mqttv3.1' }));
    const upgrade = upgradeHeaders({ 'Sec-WebSocket-Protocol': 'mqtt', 'x-edgemq-trusted-context': forged });
    const res = await request(`${broker.url}/mqtt`, { headers: upgrade.headers });
    expect(res.status).toBe(101);
    expect(res.headers['sec-websocket-protocol']).toBe('mqtt');

    const garbage = await request(`${broker.url}/mqtt`, { headers: upgradeHeaders({ 'Sec-WebSocket-Protocol': 'mqtt', 'x-edgemq-trusted-context': '%E0%A4%A{not json' }).headers });
    expect(garbage.status).toBe(101);

    const health = await request(`${broker.url}/health`, { headers: { 'x-edgemq-trusted-context': forged } });
    expect(health.status).toBe(200);
  });

  it('rejects a non-GET /mqtt with 405', async () => {
    const res = await request(`${broker.url}/mqtt`, { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.allow).toBe('GET');
  });
});

describe('00 transport: the local runtime holds nothing per device beyond its socket', () => {
  // Miniflare posts a log line per HTTP request to its Node process over a loopback connection, and for a
  // WebSocket upgrade that connection stayed open for as long as the device's socket, and after it: two
  // more descriptors per device, a refused-CONNECT flood ran workerd out of descriptors and idle devices
  // cost it memory (docs/reliability.md). workerd itself holds each accepted socket under two descriptors.
  const devices = 40;

  it(`${devices} connected MQTT.js devices cost workerd at most two socket descriptors each, and none once they leave`, async () => {
    const pid = await broker.workerdPid();
    expect(pid, 'the local runtime\'s workerd process').not.toBeNull();
    const warm = await connectClient(broker.wsUrl, { clientId: 'fd-warm' });
    await warm.endAsync();
    const before = await socketDescriptors(pid!);

    const clients = await Promise.all(Array.from({ length: devices }, (_, i) => connectClient(broker.wsUrl, { clientId: `fd-device-${i}` })));
    const held = (await socketDescriptors(pid!)) - before;
    await Promise.all(clients.map((c) => c.endAsync()));

    expect(held, `socket descriptors added for ${devices} connected devices`).toBeGreaterThanOrEqual(devices);
    expect(held).toBeLessThanOrEqual(2 * devices + 4);
    // Closing every device gives every descriptor back (allowing for a connection the runtime opens on its own).
    let left = Number.POSITIVE_INFINITY;
    await waitFor(async () => (left = (await socketDescriptors(pid!)) - before) <= 4, 10_000).catch(() => undefined);
    expect(left, 'socket descriptors still held after every device left').toBeLessThanOrEqual(4);
  });
});
