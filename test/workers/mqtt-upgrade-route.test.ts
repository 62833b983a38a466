import { SELF, createExecutionContext, env, runInDurableObject } from 'cloudflare:test';
import app from '../../worker/index';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';
import { describe, expect, it } from 'vitest';
import { RawClient } from './raw-client';
import { chooseSubprotocol } from '../../worker/routes/mqtt-upgrade';
import { decodeTrustedContext, TRUSTED_CONTEXT_HEADER } from '../../worker/trusted-context';
import { encodeControl } from '../../worker/gateway/control';
import type { IConnackPacket, IDisconnectPacket } from 'mqtt-packet';

type SeenContext = { ip: string; tlsClientAuth: unknown; assignedClientId?: string | null; keepaliveAtEdge?: boolean };

/** The trusted context the shard holds for a connected client id. */
function trustedContextOf(clientId: string): Promise<SeenContext | undefined> {
  return runInDurableObject(env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME)), (instance) => {
    const engine = (instance as unknown as { engine: { connections: Map<string, { clientId: string | null; trusted: SeenContext }> } }).engine;
    return [...engine.connections.values()].find((conn) => conn.clientId === clientId)?.trusted;
  });
}

describe('the /mqtt upgrade route', () => {
  it('refuses a plain GET with 426 and a JSON explanation', async () => {
    const res = await SELF.fetch('https://edge.example/mqtt');
    expect(res.status).toBe(426);
    expect(await res.json()).toEqual({ error: { code: 'upgrade_required', message: expect.stringMatching(/WebSocket upgrade/) } });
  });

  it('refuses an upgrade without an MQTT subprotocol with 400', async () => {
    const res = await SELF.fetch('https://edge.example/mqtt', { headers: { Upgrade: 'websocket' } });
    expect(res.status).toBe(400);
    const other = await SELF.fetch('https://edge.example/mqtt', { headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': 'chat' } });
    expect(other.status).toBe(400);
    expect(await other.json()).toEqual({ error: { code: 'unsupported_subprotocol', message: expect.stringMatching(/Sec-WebSocket-Protocol/) } });
  });

  it('refuses other methods with 405', async () => {
    const res = await SELF.fetch('https://edge.example/mqtt', { method: 'POST', body: 'x' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET');
    expect(await res.json()).toEqual({ error: { code: 'method_not_allowed', message: expect.stringMatching(/GET upgrade/) } });
  });

  it('echoes mqtt, and mqttv3.1 for legacy clients', async () => {
    expect((await RawClient.open(4)).subprotocol).toBe('mqtt');
    expect((await RawClient.open(4, { 'Sec-WebSocket-Protocol': 'mqttv3.1' })).subprotocol).toBe('mqttv3.1');
    expect(chooseSubprotocol('foo, MQTT')).toBe('mqtt');
    expect(chooseSubprotocol(null)).toBeNull();
  });

  it('answers an upgrade with an empty Sec-WebSocket-Extensions, which makes the runtime decline compression', async () => {
    // Called directly: every Worker-to-Worker hop (SELF included) negotiates
    // compression again on its own, so only the Worker's own answer is checked.
    const request = new Request('https://edge.example/mqtt', {
      headers: { Upgrade: 'websocket', 'Sec-WebSocket-Protocol': 'mqtt', 'Sec-WebSocket-Extensions': 'permessage-deflate; client_max_window_bits' },
    });
    const res = await app.fetch(request, env, createExecutionContext());
    expect(res.status).toBe(101);
    expect(res.headers.get('sec-websocket-protocol')).toBe('mqtt');
    expect(res.headers.get('sec-websocket-extensions')).toBe('');
    res.webSocket!.accept();
    res.webSocket!.close();
  });

  it('ignores a forged trusted-context header from the client', async () => {
    const forged = encodeURIComponent(
      JSON.stringify({ ip: '10.0.0.1', tls: true, tlsClientAuth: { certVerified: 'SUCCESS' }, subprotocol: 'mqtt', assignedClientId: 'victim', keepaliveAtEdge: false }),
    );
    const c = await RawClient.open(5, { [TRUSTED_CONTEXT_HEADER]: forged, 'CF-Connecting-IP': '203.0.113.9' });
    const ack = await c.connect({ clientId: 'forger' });
    expect(ack).toMatchObject({ cmd: 'connack', reasonCode: 0 });
    const seen = await trustedContextOf('forger');
    expect(seen).toBeDefined();
    expect(seen!.ip).not.toBe('10.0.0.1');
    expect(seen!.tlsClientAuth).toBeNull();
    // What the gateway adds comes from the gateway alone.
    expect(seen!.keepaliveAtEdge).toBe(true);
    c.close();
  });

  it('routes through the edge gateway: the client id it assigns is the one the shard uses and the CONNACK carries', async () => {
    const c = await RawClient.open(5);
    const ack = (await c.connect({ clientId: '' })) as IConnackPacket;
    const assigned = ack.properties?.assignedClientIdentifier;
    expect(assigned).toMatch(/^edgemq-/);
    const seen = await trustedContextOf(assigned!);
    expect(seen?.assignedClientId).toBe(assigned);
    c.close();
  });

  it("treats a client's text frame as malformed, even one shaped like the gateway's control messages [MQTT-6.0.0-1]", async () => {
    const c = await RawClient.open(5);
    await c.connect({ clientId: 'text-sender' });
    c.sendBytes(encodeControl({ type: 'keepalive-expired' }));
    expect((await c.next<IDisconnectPacket>('disconnect')).reasonCode).toBe(0x81);
    await c.waitClosed();
  });

  it('only accepts well-formed trusted contexts', () => {
    expect(decodeTrustedContext(null)).toBeNull();
    expect(decodeTrustedContext('%7Bnot json')).toBeNull();
    expect(decodeTrustedContext(encodeURIComponent(JSON.stringify({ ip: 1 })))).toBeNull();
  });

  it('answers health checks and unknown API paths with JSON', async () => {
    expect(await (await SELF.fetch('https://edge.example/health')).json()).toEqual({ status: 'ok' });
    const missing = await SELF.fetch('https://edge.example/api/nope');
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'not found' } });
  });
});
