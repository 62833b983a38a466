import { describe, expect, it } from 'vitest';
import { generate, packet, str, u16 } from '../../protocol/codec/test-support';
import { decodeControl } from './control';
import { EdgeConnection, type EdgeIo, type EdgeLimits } from './edge-connection';
import { findConnack } from './shard-output';

const limits: EdgeLimits = { maxPacketSize: 1024, maxPendingBytes: 2048, connectTimeoutMs: 10_000, maxClientIdLength: 23, maxPublishRate: 5 };

/** Records what the edge does; time only moves when the test says so. */
class FakeIo implements EdgeIo {
  time = 1_000_000;
  client: Uint8Array[] = [];
  shard: Array<Uint8Array | string> = [];
  clientClose: { code: number; reason: string } | null = null;
  shardClose: { code: number; reason: string } | null = null;
  opened: Array<{ clientId: string; assigned: string | null }> = [];
  wake: number | null = null;
  now = () => this.time;
  toClient = (bytes: Uint8Array) => void this.client.push(bytes.slice());
  closeClient = (code: number, reason: string) => void (this.clientClose = { code, reason });
  openShard = (clientId: string, assigned: string | null) => void this.opened.push({ clientId, assigned });
  toShard = (data: Uint8Array | string) => void this.shard.push(typeof data === 'string' ? data : data.slice());
  closeShard = (code: number, reason: string) => void (this.shardClose = { code, reason });
  wakeAt = (at: number) => void (this.wake = at);
}

function edge(): { io: FakeIo; conn: EdgeConnection } {
  const io = new FakeIo();
  let n = 0;
  return { io, conn: new EdgeConnection(io, limits, () => `edgemq-assigned-${++n}`) };
}

const connect = (p: Record<string, unknown>, v: 4 | 5 = 5) => generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, keepalive: 60, ...p }, v);
const connackOk = (v: 4 | 5, properties?: Record<string, unknown>) =>
  generate(v === 5 ? { cmd: 'connack', sessionPresent: false, reasonCode: 0, properties } : { cmd: 'connack', sessionPresent: false, returnCode: 0 }, v);
const publish = (topic: string, payload: string) => generate({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, 5);
const PINGREQ = Uint8Array.from([0xc0, 0x00]);

/** A connection the shard has accepted. */
function connected(v: 4 | 5 = 5, keepalive = 60, properties?: Record<string, unknown>) {
  const e = edge();
  e.conn.clientBytes(connect({ clientId: 'dev-1', keepalive }, v));
  e.conn.shardOpened();
  e.conn.shardBytes(connackOk(v, properties));
  e.io.shard = [];
  e.io.client = [];
  return e;
}

describe('edge connection: the CONNECT', () => {
  it('opens the shard socket for the client id once a whole CONNECT has arrived, however it was split', () => {
    const { io, conn } = edge();
    const bytes = connect({ clientId: 'sensor-9' });
    for (let i = 0; i < bytes.length; i += 3) conn.clientBytes(bytes.subarray(i, i + 3));
    expect(io.opened).toEqual([{ clientId: 'sensor-9', assigned: null }]);
    expect(io.shard).toEqual([]);
    conn.shardOpened();
    expect(io.shard).toEqual([bytes]);
  });

  it('assigns the id of a 5.0 client that sent an empty one, and of a clean 3.1.1 client [MQTT-3.1.3-8]', () => {
    const a = edge();
    a.conn.clientBytes(connect({ clientId: '' }, 5));
    expect(a.io.opened).toEqual([{ clientId: 'edgemq-assigned-1', assigned: 'edgemq-assigned-1' }]);
    const b = edge();
    b.conn.clientBytes(connect({ clientId: '', clean: true }, 4));
    expect(b.io.opened[0].assigned).toBe('edgemq-assigned-1');
  });

  it('refuses an empty id with a persistent 3.1.1 session: return code 2, and no shard is involved', () => {
    const { io, conn } = edge();
    // Built by hand: MQTT.js refuses to encode it. Connect flags 0x00: Clean Session = 0.
    conn.clientBytes(packet(0x10, str('MQTT'), [4, 0x00], u16(60), str('')));
    expect(io.opened).toEqual([]);
    expect([...io.client[0]]).toEqual([0x20, 0x02, 0x00, 0x02]);
    expect(io.clientClose).toEqual({ code: 1000, reason: 'empty client identifier' });
  });

  it('refuses a client id longer than MQTT_MAX_CLIENT_ID_LENGTH with 0x85 in 5.0', () => {
    const { io, conn } = edge();
    conn.clientBytes(connect({ clientId: 'x'.repeat(24) }, 5));
    expect(io.opened).toEqual([]);
    expect(findConnack(io.client[0], 5)).toEqual({ accepted: false, serverKeepAlive: undefined });
    expect(io.client[0][3]).toBe(0x85);
    expect(io.clientClose?.code).toBe(1000);
  });

  it('refuses a malformed CONNECT with the reason in a 5.0 CONNACK, and an unknown level with return code 1', () => {
    const bad = edge();
    // Reserved connect flag set [MQTT-3.1.2-3].
    bad.conn.clientBytes(packet(0x10, str('MQTT'), [5, 0x03], u16(60), [0], str('c')));
    expect(bad.io.opened).toEqual([]);
    expect(bad.io.client[0][0]).toBe(0x20);
    expect(bad.io.client[0][3]).toBeGreaterThanOrEqual(0x80);
    expect(bad.io.clientClose?.code).toBe(1002);

    const level = edge();
    level.conn.clientBytes(packet(0x10, str('MQTT'), [9, 0x02], u16(60), str('c')));
    expect([...level.io.client[0]]).toEqual([0x20, 0x02, 0x00, 0x01]);
    expect(level.io.clientClose?.code).toBe(1002);
  });

  it('closes a connection whose first packet is not CONNECT [MQTT-3.1.0-1]', () => {
    const { io, conn } = edge();
    conn.clientBytes(PINGREQ);
    expect(io.client).toEqual([]);
    expect(io.clientClose).toEqual({ code: 1002, reason: 'the first packet must be CONNECT' });
  });

  it('closes a connection that sends no CONNECT in time', () => {
    const { io, conn } = edge();
    expect(io.wake).toBe(io.time + limits.connectTimeoutMs);
    io.time += limits.connectTimeoutMs;
    conn.onTimer();
    expect(io.clientClose).toEqual({ code: 1002, reason: 'no CONNECT received in time' });
  });

  it('holds what follows the CONNECT until the shard socket is open, then sends it all as one message', () => {
    const { io, conn } = edge();
    const c = connect({ clientId: 'd' });
    const p = publish('a/b', 'x');
    conn.clientBytes(Uint8Array.from([...c, ...p]));
    conn.clientBytes(p);
    conn.shardOpened();
    expect(io.shard).toHaveLength(1);
    expect(io.shard[0]).toEqual(Uint8Array.from([...c, ...p, ...p]));
  });

  it('bounds what waits for the shard: more than MQTT_MAX_PENDING_BYTES gets 0x97 before CONNACK', () => {
    const { io, conn } = edge();
    conn.clientBytes(connect({ clientId: 'd' }));
    const big = publish('a', 'y'.repeat(900));
    conn.clientBytes(big);
    conn.clientBytes(big);
    expect(io.clientClose).toBeNull();
    conn.clientBytes(big);
    expect(io.client[0][0]).toBe(0x20);
    expect(io.client[0][3]).toBe(0x97);
    expect(io.clientClose?.code).toBe(1000);
    // The shard socket that opens afterwards is closed unused.
    conn.shardOpened();
    expect(io.shard).toEqual([]);
    expect(io.shardClose?.code).toBe(1000);
  });
});

describe('edge connection: forwarding', () => {
  it('sends what one client event completes as one message: a PUBLISH split over five frames arrives once', () => {
    const { io, conn } = connected();
    const p = publish('t/1', 'x'.repeat(40));
    for (const cut of [[0, 1], [1, 2], [2, 30], [30, 50], [50, p.length]]) conn.clientBytes(p.subarray(cut[0], cut[1]));
    expect(io.shard).toEqual([p]);
  });

  it('passes everything from the shard to the client unchanged', () => {
    const { io, conn } = connected();
    const bytes = publish('t', 'from shard');
    conn.shardBytes(bytes);
    expect(io.client).toEqual([bytes]);
  });

  it('propagates closes both ways with their codes', () => {
    const a = connected();
    a.conn.clientClosed(4000, 'bye');
    expect(a.io.shardClose).toEqual({ code: 4000, reason: 'bye' });
    const b = connected();
    b.conn.clientClosed(1006, '');
    expect(b.io.shardClose).toEqual({ code: 1000, reason: '' });
    const c = connected();
    c.conn.shardClosed(1000, 'session taken over');
    expect(c.io.clientClose).toEqual({ code: 1000, reason: 'session taken over' });
  });

  it('closes the client when no shard can be reached', () => {
    const { io, conn } = edge();
    conn.clientBytes(connect({ clientId: 'd' }));
    conn.shardFailed();
    expect(io.clientClose).toEqual({ code: 1011, reason: 'broker unavailable' });
  });

  it('reports an oversized packet to the shard once it has the connection, which answers as it always did', () => {
    const { io, conn } = connected();
    conn.clientBytes(Uint8Array.from([0x30, 0xff, 0x7f]));
    expect(io.shard.map((m) => (typeof m === 'string' ? decodeControl(m) : m))).toEqual([
      { type: 'violation', reasonCode: 0x95, reason: expect.stringMatching(/exceeds the maximum of 1024/) },
    ]);
    expect(io.clientClose).toBeNull();
  });

  it('forwards what the client sent before a broken header, then reports it: a DISCONNECT there reaches the shard [MQTT-3.14.4-3]', () => {
    const { io, conn } = connected(4);
    conn.clientBytes(Uint8Array.from([0xe0, 0x00, 0x30, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expect(io.shard.map((m) => (typeof m === 'string' ? decodeControl(m) : [...m]))).toEqual([
      [0xe0, 0x00],
      { type: 'violation', reasonCode: 0x81, reason: 'remaining length longer than four bytes' },
    ]);
  });

  it('reports a client text frame to the shard, and refuses it alone before any shard is involved [MQTT-6.0.0-1]', () => {
    const a = connected();
    a.conn.clientText();
    expect(decodeControl(a.io.shard[0] as string)).toEqual({ type: 'violation', reasonCode: 0x81, reason: 'text WebSocket frame' });
    const b = edge();
    b.conn.clientText();
    expect(b.io.clientClose).toEqual({ code: 1000, reason: 'text WebSocket frame' });
  });
});

describe('edge connection: PINGREQ and keepalive', () => {
  it('answers PINGREQ itself once connected, and forwards the other packets of the same event', () => {
    const { io, conn } = connected();
    const p = publish('t', 'x');
    conn.clientBytes(Uint8Array.from([...PINGREQ, ...PINGREQ, ...p]));
    expect(io.client).toEqual([Uint8Array.from([0xd0, 0x00]), Uint8Array.from([0xd0, 0x00])]);
    expect(io.shard).toEqual([p]);
  });

  it('leaves a PINGREQ behind another packet to the shard, which answers in order or closes first [MQTT-4.8.0-1]', () => {
    const { io, conn } = connected(4);
    // A PUBLISH to a topic with a wildcard, which the shard refuses by closing, then a PINGREQ in the same frame.
    const bad = generate({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, 4);
    bad[4] = 0x2b;
    conn.clientBytes(Uint8Array.from([...bad, ...PINGREQ]));
    expect(io.client).toEqual([]);
    expect(io.shard).toEqual([Uint8Array.from([...bad, ...PINGREQ])]);
  });

  it('answers nothing and forwards nothing once the shard has sent DISCONNECT [MQTT-3.14.4-1]', () => {
    const { io, conn } = connected(5);
    const takenOver = Uint8Array.from([0xe0, 0x01, 0x8e]);
    conn.shardBytes(takenOver);
    expect(io.client).toEqual([takenOver]);
    conn.clientBytes(Uint8Array.from([...PINGREQ, ...publish('t', 'x')]));
    expect(io.client).toEqual([takenOver]);
    expect(io.shard).toEqual([]);
  });

  it('leaves a PINGREQ before CONNACK to the shard', () => {
    const { io, conn } = edge();
    conn.clientBytes(connect({ clientId: 'd' }));
    conn.shardOpened();
    conn.clientBytes(PINGREQ);
    expect(io.shard[1]).toEqual(PINGREQ);
    expect(io.client).toEqual([]);
  });

  it('tells the shard when 1.5 x the keepalive passes without a packet [MQTT-3.1.2-22]', () => {
    const { io, conn } = connected(5, 10);
    expect(io.wake).toBe(io.time + 15_000);
    io.time += 10_000;
    conn.clientBytes(PINGREQ);
    io.time += 5_000;
    conn.onTimer();
    // A packet came: the timer is moved, nothing is said.
    expect(io.shard).toEqual([]);
    expect(io.wake).toBe(io.time + 10_000);
    io.time += 10_000;
    conn.onTimer();
    expect(io.shard.map((m) => decodeControl(m as string))).toEqual([{ type: 'keepalive-expired' }]);
    // The shard answers with DISCONNECT 0x8D and a close; the edge relays both.
    const disconnect = generate({ cmd: 'disconnect', reasonCode: 0x8d }, 5);
    conn.shardBytes(disconnect);
    conn.shardClosed(1000, 'keepalive timeout');
    expect(io.client.at(-1)).toEqual(disconnect);
    expect(io.clientClose).toEqual({ code: 1000, reason: 'keepalive timeout' });
  });

  it('uses the Server Keep Alive of the CONNACK over the client value [MQTT-3.2.2-21]', () => {
    const { io } = connected(5, 600, { serverKeepAlive: 20 });
    expect(io.wake).toBe(io.time + 30_000);
  });

  it('keeps no timer for a keepalive of 0', () => {
    const { io } = connected(4, 0);
    expect(io.wake).toBe(1_000_000 + limits.connectTimeoutMs);
  });
});

describe('edge connection: publish rate', () => {
  it('forwards up to MQTT_MAX_PUBLISH_RATE in a burst, then tells the shard to answer 0x96 and forwards nothing more', () => {
    const { io, conn } = connected();
    const p = publish('t', 'x');
    conn.clientBytes(Uint8Array.from(Array.from({ length: 7 }, () => [...p]).flat()));
    expect(io.shard[0]).toEqual(Uint8Array.from(Array.from({ length: 5 }, () => [...p]).flat()));
    expect(decodeControl(io.shard[1] as string)).toEqual({ type: 'violation', reasonCode: 0x96, reason: 'more than 5 PUBLISH per second' });
    conn.clientBytes(p);
    conn.clientBytes(PINGREQ);
    expect(io.shard).toHaveLength(2);
    expect(io.client).toEqual([]);
  });

  it('refills the bucket with time', () => {
    const { io, conn } = connected();
    const p = publish('t', 'x');
    for (let i = 0; i < 5; i++) conn.clientBytes(p);
    io.time += 1000;
    for (let i = 0; i < 5; i++) conn.clientBytes(p);
    expect(io.shard).toHaveLength(10);
    expect(io.shard.every((m) => typeof m !== 'string')).toBe(true);
  });
});

describe('shard output', () => {
  it('finds the CONNACK after an AUTH and reads its Server Keep Alive', () => {
    const auth = generate({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256' } }, 5);
    const ack = connackOk(5, { serverKeepAlive: 7, assignedClientIdentifier: 'edgemq-x' });
    expect(findConnack(auth, 5)).toBeNull();
    expect(findConnack(Uint8Array.from([...auth, ...ack]), 5)).toEqual({ accepted: true, serverKeepAlive: 7 });
    expect(findConnack(generate({ cmd: 'connack', sessionPresent: false, returnCode: 5 }, 4), 4)).toEqual({ accepted: false, serverKeepAlive: undefined });
  });
});
