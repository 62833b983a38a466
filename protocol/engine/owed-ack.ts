/**
 * The shape of a withheld acknowledgement (flow-control.ts). It names the
 * publisher's connection by id and its recipients by what they hold, not by
 * the Connection and Session classes, so those classes can hold owed acks
 * without importing the module that defines them back.
 */
export interface OwedAck {
  /** The publisher's Connection.id; the engine finds the connection again when the ack may leave. */
  readonly connectionId: string;
  readonly packetId: number;
  readonly qos: 1 | 2;
  readonly reasonCode: number;
  /** Recipients that were behind when the message was accepted; the ack may leave once this is empty. */
  readonly waitingOn: Set<AckHolder>;
}

/** A recipient that holds publishers' acknowledgements back while it catches up: a Session. */
export interface AckHolder {
  readonly heldAcks: Set<OwedAck>;
}
