import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

/** Serializes a packet for a connection of the given protocol version. */
export function encodePacket(packet: Packet, protocolVersion: 3 | 4 | 5): Uint8Array {
  return mqtt.generate(packet, { protocolVersion });
}
