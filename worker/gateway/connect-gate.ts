import type { IConnectPacket } from 'mqtt-packet';
import { decodePacket } from '../../protocol/codec/decode';
import { encodePacket } from '../../protocol/codec/encode';
import { CONNACK_V3, RC } from '../../protocol/reason-codes';
import type { ProtocolVersion } from '../../protocol/store/records';

/** What the edge decided about a connection's first packet. */
export type ConnectVerdict =
  | {
      ok: true;
      protocolVersion: ProtocolVersion;
      /** The id the session will have: the client's, or the one assigned here. */
      clientId: string;
      /** Set when the client sent an empty id and the edge made one up. */
      assignedClientId: string | null;
      keepaliveSeconds: number;
    }
  | {
      ok: false;
      /** The bytes the client gets before the close (a CONNACK), if any. */
      reply: Uint8Array | null;
      closeCode: number;
      reason: string;
    };

export interface ConnectGateLimits {
  maxClientIdLength: number;
}

const utf8 = new TextEncoder();

/**
 * Reads the first packet of a connection at the edge, so a malformed or
 * unacceptable CONNECT costs no shard anything. The answers are the shard's,
 * byte for byte (protocol/engine: refuseUndecodableConnect, the first-packet
 * rule, and checkClientId in protocol/handlers/connect.ts, which stays as the
 * shard's own defence).
 */
export function readConnect(raw: Uint8Array, limits: ConnectGateLimits, newClientId: () => string): ConnectVerdict {
  const decoded = decodePacket(raw, null);
  if (!decoded.ok) {
    let reply: Uint8Array | null = null;
    if (decoded.reasonCode === RC.UNSUPPORTED_PROTOCOL_VERSION) {
      // Answer in a form the client can read [MQTT-3.1.2-2]: 3.1.1 return code 1, or 0x84 for 5.0.
      reply =
        decoded.connectProtocolVersion === 5
          ? encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode: RC.UNSUPPORTED_PROTOCOL_VERSION }, 5)
          : encodePacket({ cmd: 'connack', sessionPresent: false, returnCode: 1 }, 4);
    } else if (decoded.connectProtocolVersion === 5 && decoded.reasonCode >= 0x80) {
      // 5.0 lets the server say why before closing [MQTT-4.13.1-1].
      reply = encodePacket(
        { cmd: 'connack', sessionPresent: false, reasonCode: decoded.reasonCode, properties: { reasonString: decoded.message.slice(0, 200) } },
        5,
      );
    }
    return { ok: false, reply, closeCode: 1002, reason: decoded.message };
  }
  const packet = decoded.packet;
  if (packet.cmd !== 'connect') {
    // The first packet must be CONNECT [MQTT-3.1.0-1].
    return { ok: false, reply: null, closeCode: 1002, reason: 'first packet was not CONNECT' };
  }
  return checkClientId(packet, limits, newClientId);
}

function checkClientId(packet: IConnectPacket, limits: ConnectGateLimits, newClientId: () => string): ConnectVerdict {
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion;
  const keepaliveSeconds = packet.keepalive ?? 0;
  const clientId = packet.clientId ?? '';
  const refuse = (reason: string): ConnectVerdict => ({
    ok: false,
    reply:
      version === 5
        ? encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode: RC.CLIENT_IDENTIFIER_NOT_VALID }, 5)
        : encodePacket({ cmd: 'connack', sessionPresent: false, returnCode: CONNACK_V3.IDENTIFIER_REJECTED }, version),
    closeCode: 1000,
    reason,
  });
  if (utf8.encode(clientId).byteLength > limits.maxClientIdLength) return refuse('client identifier not valid');
  if (clientId !== '') return { ok: true, protocolVersion: version, clientId, assignedClientId: null, keepaliveSeconds };
  // 3.1 requires an id; 3.1.1 allows an empty one only with a clean session [MQTT-3.1.3-7], [MQTT-3.1.3-8].
  if (version === 3 || (version === 4 && !packet.clean)) return refuse('empty client identifier');
  // The edge assigns it, because the shard is chosen by client id; the shard's CONNACK carries it [MQTT-3.2.2-16].
  const assigned = newClientId();
  return { ok: true, protocolVersion: version, clientId: assigned, assignedClientId: assigned, keepaliveSeconds };
}
