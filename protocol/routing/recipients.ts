import type { Delivery } from '../store/records';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';

/** The sessions of this shard as routing sees them: found by client id, asked about, handed messages. */
export interface Recipients {
  /** The session of this client id on this shard, if there is one. */
  findSession(clientId: string): Session | undefined;
  /** The session's connection, if it is connected. */
  connectionOf(session: Session): Connection | undefined;
  /** Whether the ACLs let this session receive messages on this topic. */
  mayReceive(session: Session, topic: string): boolean;
  /** Sends, queues or drops; true when the session is behind and the publisher's ack should wait for it. */
  deliver(session: Session, delivery: Delivery, now: number): boolean;
}
