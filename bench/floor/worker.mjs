// The floor reference: the least an MQTT forwarder in one Durable Object can
// do, run on the same runtime as EdgeMQ, so the benchmark can show what any
// broker in one Durable Object reaches on this machine.
//
// It handles CONNECT, SUBSCRIBE, PUBLISH at QoS 0/1, PUBACK, PINGREQ and
// DISCONNECT with `+`/`#` matching, and nothing else: no authentication, no
// validation beyond what it needs to find packet boundaries, no sessions, no
// retained messages, no persistence, no keepalive, no retransmission. Like
// EdgeMQ it accepts sockets through the Hibernation API and sends at most one
// WebSocket message per socket per event. Per-connection state lives in
// memory only (a real broker would have to keep it in the attachment).
//
// Hand-rolled parsing rather than mqtt-packet: a careful minimal forwarder
// reads the fixed header, the topic and the packet identifier and forwards
// the bytes it received, which is all this one does.
import { DurableObject } from 'cloudflare:workers';
import { relayThroughWorker } from './edge-relay.mjs';

export default {
  /** Every request goes to the one object, as EdgeMQ routes every client to one shard. */
  fetch(request, env) {
    const path = new URL(request.url).pathname;
    if (path === '/health') return new Response('ok');
    const stub = env.FLOOR.get(env.FLOOR.idFromName('floor'));
    if (path === '/stats') return stub.fetch(request);
    if (request.headers.get('upgrade')?.toLowerCase() !== 'websocket') return new Response('expected a WebSocket upgrade', { status: 426 });
    // "floor behind a gateway": the Worker keeps the client's socket and relays, as a sharded broker must.
    if (env.GATEWAY === 'relay') return relayThroughWorker(stub);
    return stub.fetch(request);
  },
};

const CONNECT = 1;
const PUBLISH = 3;
const PUBACK = 4;
const SUBSCRIBE = 8;
const PINGREQ = 12;
const DISCONNECT = 14;

const decoder = new TextDecoder();
const PINGRESP = new Uint8Array([0xd0, 0x00]);

export class FloorShard extends DurableObject {
  /** WebSocket → { pending: bytes of an incomplete packet, subs: [{ levels, qos }], version, nextId } */
  conns = new Map();
  /** WebSocket events received (frames), for the benchmark's per-message count. */
  frames = 0;

  fetch(request) {
    if (new URL(request.url).pathname === '/stats') return Response.json({ frames: this.frames, connections: this.conns.size });
    const pair = new WebSocketPair();
    this.ctx.acceptWebSocket(pair[1]);
    this.conns.set(pair[1], { pending: null, subs: [], version: 4, nextId: 0 });
    return new Response(null, { status: 101, webSocket: pair[0], headers: { 'Sec-WebSocket-Protocol': 'mqtt' } });
  }

  webSocketMessage(ws, data) {
    this.frames++;
    const conn = this.conns.get(ws);
    if (!conn || typeof data === 'string') {
      ws.close(1002, 'binary frames only');
      return;
    }
    let bytes = new Uint8Array(data);
    if (conn.pending) {
      const joined = new Uint8Array(conn.pending.length + bytes.length);
      joined.set(conn.pending);
      joined.set(bytes, conn.pending.length);
      bytes = joined;
      conn.pending = null;
    }
    /** socket → packets to send once this event's work is done */
    const out = new Map();
    let at = 0;
    while (at < bytes.length) {
      // Fixed header: type byte, then a Remaining Length of up to four bytes.
      let remaining = 0;
      let multiplier = 1;
      let i = at + 1;
      let complete = false;
      while (i < bytes.length && i - at <= 4) {
        const b = bytes[i++];
        remaining += (b & 0x7f) * multiplier;
        multiplier *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete && i - at > 4) {
        ws.close(1002, 'malformed remaining length');
        return;
      }
      if (!complete || i + remaining > bytes.length) {
        conn.pending = bytes.slice(at);
        break;
      }
      this.handle(ws, conn, bytes, at, i, i + remaining, out);
      at = i + remaining;
    }
    for (const [socket, packets] of out) {
      try {
        socket.send(packets.length === 1 ? packets[0] : concat(packets));
      } catch {
        // gone; webSocketClose follows
      }
    }
  }

  /** One packet: bytes[start] is its type byte, bytes[body..end) its variable header and payload. */
  handle(ws, conn, bytes, start, body, end, out) {
    const type = bytes[start] >> 4;
    switch (type) {
      case CONNECT: {
        // Protocol name (2 + 4 bytes), then the level.
        conn.version = bytes[body + 6];
        queue(out, ws, conn.version === 5 ? new Uint8Array([0x20, 0x03, 0x00, 0x00, 0x00]) : new Uint8Array([0x20, 0x02, 0x00, 0x00]));
        return;
      }
      case SUBSCRIBE: {
        let i = body + 2;
        if (conn.version === 5) i += 1 + bytes[i]; // short property lengths only
        const granted = [];
        while (i < end) {
          const len = (bytes[i] << 8) | bytes[i + 1];
          const filter = decoder.decode(bytes.subarray(i + 2, i + 2 + len));
          const qos = Math.min(bytes[i + 2 + len] & 0x03, 1);
          conn.subs.push({ levels: filter.split('/'), qos });
          granted.push(qos);
          i += 3 + len;
        }
        const suback = new Uint8Array(4 + granted.length + (conn.version === 5 ? 1 : 0));
        suback[0] = 0x90;
        suback[1] = suback.length - 2;
        suback[2] = bytes[body];
        suback[3] = bytes[body + 1];
        suback.set(granted, suback.length - granted.length);
        queue(out, ws, suback);
        return;
      }
      case PUBLISH: {
        this.publish(ws, conn, bytes, start, body, end, out);
        return;
      }
      case PUBACK:
        return;
      case PINGREQ:
        queue(out, ws, PINGRESP);
        return;
      case DISCONNECT:
        ws.close(1000, '');
        this.conns.delete(ws);
        return;
      default:
        ws.close(1002, 'not supported by the floor reference');
    }
  }

  publish(ws, conn, bytes, start, body, end, out) {
    const qos = (bytes[start] >> 1) & 0x03;
    const topicLength = (bytes[body] << 8) | bytes[body + 1];
    const topicEnd = body + 2 + topicLength;
    const levels = decoder.decode(bytes.subarray(body + 2, topicEnd)).split('/');
    const payloadStart = topicEnd + (qos > 0 ? 2 : 0) + (conn.version === 5 ? 1 + bytes[topicEnd + (qos > 0 ? 2 : 0)] : 0);
    if (qos === 1) queue(out, ws, new Uint8Array([0x40, 0x02, bytes[topicEnd], bytes[topicEnd + 1]]));
    let atQos0 = null;
    for (const [socket, sub] of this.conns) {
      let granted = -1;
      for (const s of sub.subs) if (s.qos > granted && matches(s.levels, levels)) granted = s.qos;
      if (granted < 0) continue;
      if (Math.min(granted, qos) === 0) {
        atQos0 ??= qos === 0 && (bytes[start] & 0x01) === 0 ? bytes.subarray(start, end) : encodeQos0(bytes, body, topicEnd, payloadStart, end);
        queue(out, socket, atQos0);
      } else {
        // Same bytes with the subscriber's own packet identifier.
        const copy = bytes.slice(start, end);
        copy[0] &= 0xfe;
        sub.nextId = (sub.nextId % 0xffff) + 1;
        copy[topicEnd - start] = sub.nextId >> 8;
        copy[topicEnd - start + 1] = sub.nextId & 0xff;
        queue(out, socket, copy);
      }
    }
  }

  webSocketClose(ws) {
    this.conns.delete(ws);
    try {
      ws.close(1000, '');
    } catch {
      // already closed
    }
  }

  webSocketError(ws) {
    this.conns.delete(ws);
  }
}

/** A QoS 0 PUBLISH (3.1.1 form) with the same topic and payload. */
function encodeQos0(bytes, body, topicEnd, payloadStart, end) {
  const remaining = topicEnd - body + (end - payloadStart);
  const header = [0x30];
  let r = remaining;
  do {
    let b = r % 128;
    r = Math.floor(r / 128);
    if (r > 0) b |= 0x80;
    header.push(b);
  } while (r > 0);
  const out = new Uint8Array(header.length + remaining);
  out.set(header);
  out.set(bytes.subarray(body, topicEnd), header.length);
  out.set(bytes.subarray(payloadStart, end), header.length + topicEnd - body);
  return out;
}

function matches(filter, topic) {
  // Wildcards do not match topics starting with '$' [MQTT-4.7.2-1].
  if (topic[0].startsWith('$') && (filter[0] === '+' || filter[0] === '#')) return false;
  for (let i = 0; i < filter.length; i++) {
    const f = filter[i];
    if (f === '#') return true;
    if (i >= topic.length) return false;
    if (f !== '+' && f !== topic[i]) return false;
  }
  return filter.length === topic.length;
}

function queue(out, socket, packet) {
  const list = out.get(socket);
  if (list) list.push(packet);
  else out.set(socket, [packet]);
}

function concat(parts) {
  let length = 0;
  for (const p of parts) length += p.length;
  const joined = new Uint8Array(length);
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return joined;
}
