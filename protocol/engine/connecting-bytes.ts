import type { Connection } from './connection';

/**
 * The bytes a shard holds for connections whose CONNECT it has not accepted
 * yet, summed over all of them: the packet each is still receiving
 * (PacketFramer.reservedBytes) and the packets waiting behind its
 * authentication (Connection.pendingBytes). Each connection is bounded on its
 * own (MQTT_MAX_PACKET_SIZE, MQTT_MAX_PENDING_BYTES), but a few hundred
 * unauthenticated sockets, each sending most of a large packet, would
 * together fill the object's memory and reset it for every client. Past the
 * shard's bound the connection holding most is refused, which is the one
 * costing the shard most, not whichever device connects next.
 */
export class ConnectingBytes {
  private total = 0;
  /** The connections counted now (connectingBytes > 0): the only ones a refusal searches. */
  private readonly holders = new Set<Connection>();

  constructor(private readonly limit: () => number) {}

  get bytes(): number {
    return this.total;
  }

  /**
   * Counts what `conn` holds now (nothing once it is accepted or closed).
   * Returns the connections to refuse, largest first, until the total is
   * within the bound again; empty while it is.
   */
  update(conn: Connection): Connection[] {
    const held = conn.state === 'connected' || conn.state === 'closed' ? 0 : conn.framer.reservedBytes + conn.pendingBytes;
    if (held === conn.connectingBytes) return [];
    this.total += held - conn.connectingBytes;
    conn.connectingBytes = held;
    if (held === 0) this.holders.delete(conn);
    else this.holders.add(conn);
    if (this.total <= this.limit()) return [];
    return this.largestUntilWithin();
  }

  /** The connection ended: what it held no longer counts. */
  release(conn: Connection): void {
    this.total -= conn.connectingBytes;
    conn.connectingBytes = 0;
    this.holders.delete(conn);
  }

  private largestUntilWithin(): Connection[] {
    // Only past the bound, and only among the holders: each search refuses at least the largest holding.
    const byHolding = [...this.holders].sort((a, b) => b.connectingBytes - a.connectingBytes);
    const refused: Connection[] = [];
    let total = this.total;
    for (const conn of byHolding) {
      if (total <= this.limit()) break;
      refused.push(conn);
      total -= conn.connectingBytes;
    }
    return refused;
  }
}
