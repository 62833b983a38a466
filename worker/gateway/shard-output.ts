import { Buffer } from 'node:buffer';
import * as mqtt from 'mqtt-packet';
import type { IConnackPacket } from 'mqtt-packet';

const CONNACK = 2;
const DISCONNECT = 14;

/** What the gateway needs from the shard's CONNACK: whether it accepted, and a Server Keep Alive override. */
export interface ConnackSeen {
  accepted: boolean;
  serverKeepAlive: number | undefined;
}

/**
 * Finds the CONNACK in a message from the shard. The shard sends whole
 * packets (an enhanced-authentication AUTH may come first), so the fixed
 * headers are walked without buffering; only the CONNACK itself is decoded.
 * Returns null while no CONNACK has come.
 */
export function findConnack(bytes: Uint8Array, protocolVersion: 3 | 4 | 5): ConnackSeen | null {
  const connack = findPacket(bytes, CONNACK);
  return connack ? readConnack(connack, protocolVersion) : null;
}

/** Whether the shard's message ends the connection with a DISCONNECT (5.0): nothing may follow it [MQTT-3.14.4-1]. */
export function endsWithDisconnect(bytes: Uint8Array): boolean {
  return findPacket(bytes, DISCONNECT) !== null;
}

/**
 * The first packet of type `type` among the whole packets of a message from
 * the shard; the fixed headers are walked, nothing is decoded or copied.
 */
function findPacket(bytes: Uint8Array, type: number): Uint8Array | null {
  let at = 0;
  while (at < bytes.length) {
    let remaining = 0;
    let multiplier = 1;
    let i = at + 1;
    for (;;) {
      if (i >= bytes.length || i - at > 4) return null;
      const b = bytes[i++];
      remaining += (b & 0x7f) * multiplier;
      multiplier *= 128;
      if ((b & 0x80) === 0) break;
    }
    const end = i + remaining;
    if (bytes[at] >> 4 === type) return bytes.subarray(at, end);
    at = end;
  }
  return null;
}

function readConnack(packet: Uint8Array, protocolVersion: 3 | 4 | 5): ConnackSeen | null {
  if (protocolVersion !== 5) {
    // 3.1.1: no properties; the return code is the fourth byte.
    return packet.length >= 4 ? { accepted: packet[3] === 0, serverKeepAlive: undefined } : null;
  }
  let connack: IConnackPacket | null = null;
  const parser = mqtt.parser({ protocolVersion: 5 });
  parser.on('packet', (p) => {
    if (p.cmd === 'connack') connack = p;
  });
  parser.on('error', () => undefined);
  parser.parse(Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength));
  if (!connack) return null;
  const seen = connack as IConnackPacket;
  return { accepted: (seen.reasonCode ?? 0) === 0, serverKeepAlive: seen.properties?.serverKeepAlive };
}
