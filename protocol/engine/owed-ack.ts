/**
 * The shape of a withheld acknowledgement (flow-control.ts). It names the
 * publisher's connection by id and its recipients by what they hold, not by
 * the Connection and Session classes, so those classes can hold owed acks
 * without importing the module that defines them back.
 */
export interface OwedAck {
  /** The publisher's Connection.id, found again when the ack may leave; null for another shard's message held here (whenCaughtUp). */
  readonly connectionId: string | null;
  readonly packetId: number;
  readonly qos: 1 | 2;
  readonly reasonCode: number;
  /** Recipients that were behind when the message was accepted; the ack may leave once this is empty. */
  readonly waitingOn: Set<AckHolder>;
  /** For another shard's message held here: called once nothing holds it any more. */
  readonly released?: () => void;
}

/**
 * What an acknowledgement can wait for: a session that is behind (it has a
 * lastProgressAt, so it can be judged stuck), or a message on its way to
 * another shard, which holds its publisher's ack until that shard has it and
 * none of its recipients there is behind (protocol/cluster/cluster-node.ts).
 */
export interface AckHolder {
  readonly heldAcks: Set<OwedAck>;
  readonly lastProgressAt?: number;
}
