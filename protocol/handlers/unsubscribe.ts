import type { IUnsubscribePacket } from 'mqtt-packet';
import type { EngineApi } from '../engine/engine-api';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import { RC } from '../reason-codes';
import { filterSyntaxProblem } from '../topics/validate';

/**
 * UNSUBSCRIBE: remove each filter; 5.0 reports per filter whether it existed
 * [MQTT-3.11.3-1], and 0x8F for a filter that breaks the spec's rules (3.1.1
 * closed the connection on one before this handler, see codec/decode.ts).
 */
export function handleUnsubscribe(engine: EngineApi, conn: Connection, session: Session, packet: IUnsubscribePacket): void {
  const reasonCodes: number[] = [];
  for (const filter of packet.unsubscriptions) {
    if (filterSyntaxProblem(filter) !== null) {
      reasonCodes.push(RC.TOPIC_FILTER_INVALID);
      continue;
    }
    const existed = engine.removeSubscription(session.clientId, filter);
    reasonCodes.push(existed ? RC.SUCCESS : RC.NO_SUBSCRIPTION_EXISTED);
  }
  engine.sys.subscriptionsChanged();
  // mqtt-packet carries UNSUBACK reason codes in `granted`; 3.1.1 has none on the wire.
  engine.send(conn, { cmd: 'unsuback', messageId: packet.messageId, granted: conn.protocolVersion === 5 ? reasonCodes : [] });
}
