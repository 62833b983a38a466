import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';

const CONFIRMATIONS = new Set(['puback', 'pubrec', 'pubrel', 'pubcomp']);

/** Serializes a packet for a connection of the given protocol version. */
export function encodePacket(packet: Packet, protocolVersion: 3 | 4 | 5): Uint8Array {
  if (protocolVersion === 5 && CONFIRMATIONS.has(packet.cmd) && (packet as { reasonCode?: number }).reasonCode === undefined) {
    // Success acknowledgements go out in the two-byte form the spec allows
    // [MQTT-3.4.2-1]; some clients (paho 1.6) accept nothing longer for PUBREL.
    packet = { ...packet, reasonCode: 0 } as Packet;
  }
  return mqtt.generate(packet, { protocolVersion });
}
