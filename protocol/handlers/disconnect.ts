import type { IDisconnectPacket } from 'mqtt-packet';
import type { EngineApi } from '../engine/engine-api';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import { RC } from '../reason-codes';

/**
 * Client DISCONNECT. 0x00 discards the will [MQTT-3.14.4-3]; 0x04 asks for it.
 * A Session Expiry Interval may be changed here, but not when the CONNECT
 * asked for 0 [MQTT-3.14.2-2]: what the CONNECT said, not what the broker's cap
 * granted.
 */
export function handleDisconnect(engine: EngineApi, conn: Connection, session: Session, packet: IDisconnectPacket): void {
  if (conn.protocolVersion === 5) {
    const newExpiry = packet.properties?.sessionExpiryInterval;
    if (newExpiry !== undefined) {
      const zeroAtConnect = conn.askedSessionExpiry === null ? session.record.expiryInterval === 0 : !conn.askedSessionExpiry;
      if (zeroAtConnect && newExpiry > 0) {
        engine.disconnect(conn, RC.PROTOCOL_ERROR, 'session expiry cannot be set after connecting with 0');
        return;
      }
      session.record.expiryInterval = Math.min(newExpiry, engine.config.maxSessionExpirySeconds);
    }
  }
  const withWill = conn.protocolVersion === 5 && packet.reasonCode === RC.DISCONNECT_WITH_WILL;
  const cause = withWill ? 'client-disconnect-with-will' : conn.protocolVersion === 5 && (packet.reasonCode ?? 0) >= 0x80 ? 'network' : 'client-disconnect';
  conn.endCause = cause;
  engine.closeConnection(conn, cause, 1000, 'client disconnected');
}
