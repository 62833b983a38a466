import { encodePacket } from '../../protocol/codec/encode';
import { FrameError, PacketFramer } from '../../protocol/codec/framer';
import { RC } from '../../protocol/reason-codes';
import type { ProtocolVersion } from '../../protocol/store/records';
import { readConnect, type ConnectVerdict } from './connect-gate';
import { encodeControl } from './control';
import { endsWithDisconnect, findConnack } from './shard-output';
import { concatBytes } from '../../protocol/codec/bytes';

/** The limits the edge enforces, read from the same vars as the shard's (protocol/config.ts). */
export interface EdgeLimits {
  maxPacketSize: number;
  maxPendingBytes: number;
  connectTimeoutMs: number;
  maxClientIdLength: number;
  /** PUBLISH packets per second, with a one-second burst; 0 = no limit (MQTT_MAX_PUBLISH_RATE). */
  maxPublishRate: number;
}

/** Everything the edge connection does to the outside world; implemented by websocket-adapter.ts. */
export interface EdgeIo {
  now(): number;
  toClient(bytes: Uint8Array): void;
  closeClient(code: number, reason: string): void;
  /** Opens the socket to the shard that owns `clientId`; answers with shardOpened() or shardFailed(). */
  openShard(clientId: string, assignedClientId: string | null): void;
  toShard(data: Uint8Array | string): void;
  closeShard(code: number, reason: string): void;
  /** The one timer of this connection: call onTimer() at `at` (replaces any earlier request). */
  wakeAt(at: number): void;
}

type EdgeState =
  /** Nothing whole yet, or still waiting for the first packet. */
  | 'awaiting-connect'
  /** CONNECT accepted at the edge; the shard socket is opening and packets wait for it. */
  | 'opening-shard'
  /** Bytes flow to the shard; its CONNACK has not been seen. */
  | 'forwarding'
  /** The shard accepted the CONNECT: PINGREQ and keepalive are the edge's. */
  | 'connected'
  /** The shard was told to end the connection: the client's further bytes are dropped, the shard's still relayed. */
  | 'ending'
  | 'closed';

const PINGRESP = new Uint8Array([0xd0, 0x00]);
const PUBLISH = 3;

/**
 * One client connection at the edge, free of platform calls. It frames the
 * client's byte stream into whole packets, reads the CONNECT, forwards what
 * one client event completes as one message to the shard, answers PINGREQ and
 * watches the keepalive, so an idle device never wakes its shard.
 *
 * Kept small on purpose: thousands of idle devices share an isolate, and
 * each holds only this object, its framer and its two sockets.
 */
export class EdgeConnection {
  private state: EdgeState = 'awaiting-connect';
  private readonly framer: PacketFramer;
  private protocolVersion: ProtocolVersion | null = null;
  private keepaliveSeconds = 0;
  private lastActivityAt: number;
  private readonly openedAt: number;
  /** Packets waiting for the shard socket, the CONNECT first. */
  private held: Uint8Array[] = [];
  private heldBytes = 0;
  /** Token bucket for MQTT_MAX_PUBLISH_RATE, the same as the shard's (protocol/handlers/publish.ts). */
  private publishTokens = 0;
  private publishTokensAt = -1;

  constructor(
    private readonly io: EdgeIo,
    private readonly limits: EdgeLimits,
    private readonly newClientId: () => string,
  ) {
    this.openedAt = io.now();
    this.lastActivityAt = this.openedAt;
    this.framer = new PacketFramer(limits.maxPacketSize);
    io.wakeAt(this.openedAt + limits.connectTimeoutMs);
  }

  get isClosed(): boolean {
    return this.state === 'closed';
  }

  // ------------------------------------------------------------- from the client

  clientBytes(chunk: Uint8Array): void {
    if (this.state === 'closed' || this.state === 'ending') return;
    let packets: Uint8Array[];
    try {
      packets = this.framer.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      // What the client sent before the broken header goes first (a DISCONNECT among it ends the
      // connection as the client asked); nothing of an oversized packet is buffered.
      this.clientPackets(err.completed);
      this.violation(err.kind === 'packet-too-large' ? RC.PACKET_TOO_LARGE : RC.MALFORMED_PACKET, err.message);
      return;
    }
    this.clientPackets(packets);
  }

  private clientPackets(packets: Uint8Array[]): void {
    if (packets.length === 0) return;
    this.lastActivityAt = this.io.now();
    switch (this.state) {
      case 'awaiting-connect':
        this.firstPackets(packets);
        return;
      case 'opening-shard':
        this.hold(packets, 0);
        return;
      case 'forwarding':
        this.io.toShard(concatBytes(packets));
        return;
      case 'connected': {
        const rest = this.answerPingsAndMeterPublishes(packets);
        if (rest.length > 0) this.io.toShard(concatBytes(rest));
        if ((this.state as EdgeState) === 'ending') {
          // 0x96 in 5.0, a closed connection in 3.1.1: the shard's answer, from the shard.
          const reason = `more than ${this.limits.maxPublishRate} PUBLISH per second`;
          this.io.toShard(encodeControl({ type: 'violation', reasonCode: RC.MESSAGE_RATE_TOO_HIGH, reason }));
        }
      }
    }
  }

  /** MQTT over WebSocket is binary only [MQTT-6.0.0-1]. */
  clientText(): void {
    if (this.state === 'closed' || this.state === 'ending') return;
    this.violation(RC.MALFORMED_PACKET, 'text WebSocket frame');
  }

  clientClosed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    const hadShard = this.state !== 'awaiting-connect';
    this.state = 'closed';
    this.held = [];
    // The shard sees its socket close and treats it as a network loss (will, session kept), as when a device drops.
    if (hadShard) this.io.closeShard(sendableCode(code), reason);
  }

  // ------------------------------------------------------------- from the shard

  shardOpened(): void {
    if (this.state !== 'opening-shard') {
      // The client left (or was refused) while the socket opened.
      this.io.closeShard(1000, 'client gone');
      return;
    }
    this.state = 'forwarding';
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    this.io.toShard(concatBytes(held));
  }

  shardFailed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.held = [];
    this.io.closeClient(1011, 'broker unavailable');
  }

  /** Everything the shard sends goes to the client unchanged; the CONNACK is only looked at. */
  shardBytes(bytes: Uint8Array): void {
    if (this.state === 'closed') return;
    if (this.state === 'forwarding') {
      const connack = findConnack(bytes, this.protocolVersion ?? 4);
      if (connack?.accepted) {
        this.state = 'connected';
        // Server Keep Alive overrides the client's value [MQTT-3.2.2-21].
        if (connack.serverKeepAlive !== undefined) this.keepaliveSeconds = connack.serverKeepAlive;
        this.lastActivityAt = this.io.now();
        this.scheduleKeepalive();
      }
    } else if (this.state === 'connected' && endsWithDisconnect(bytes)) {
      // The shard's close follows as its own event: until then the client's PINGREQs and packets must not be answered or acted on [MQTT-3.14.4-1].
      this.state = 'ending';
    }
    this.io.toClient(bytes);
  }

  shardClosed(code: number, reason: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.io.closeClient(code === 1006 ? 1001 : sendableCode(code), reason);
  }

  // ------------------------------------------------------------- timer

  onTimer(): void {
    const now = this.io.now();
    if (this.state === 'awaiting-connect' || this.state === 'opening-shard') {
      if (now >= this.openedAt + this.limits.connectTimeoutMs) {
        // No CONNECT in time: close without CONNACK, as the shard does.
        const hadShard = this.state === 'opening-shard';
        this.state = 'closed';
        this.held = [];
        this.io.closeClient(1002, 'no CONNECT received in time');
        if (hadShard) this.io.closeShard(1000, 'no CONNECT received in time');
      } else {
        this.io.wakeAt(this.openedAt + this.limits.connectTimeoutMs);
      }
      return;
    }
    if (this.state !== 'connected' || this.keepaliveSeconds === 0) return;
    const deadline = this.keepaliveDeadline();
    if (now < deadline) {
      this.io.wakeAt(deadline);
      return;
    }
    // The shard ends the connection as a keepalive loss: the will goes out, 5.0 clients get DISCONNECT 0x8D.
    this.state = 'ending';
    this.io.toShard(encodeControl({ type: 'keepalive-expired' }));
  }

  /** 1.5 x the keepalive after the last packet [MQTT-3.1.2-22]. */
  private keepaliveDeadline(): number {
    return this.lastActivityAt + this.keepaliveSeconds * 1500;
  }

  private scheduleKeepalive(): void {
    if (this.keepaliveSeconds > 0) this.io.wakeAt(this.keepaliveDeadline());
  }

  // ------------------------------------------------------------- steps

  private firstPackets(packets: Uint8Array[]): void {
    const verdict: ConnectVerdict = readConnect(packets[0], this.limits, this.newClientId);
    if (!verdict.ok) {
      this.state = 'closed';
      if (verdict.reply) this.io.toClient(verdict.reply);
      this.io.closeClient(verdict.closeCode, verdict.reason);
      return;
    }
    this.protocolVersion = verdict.protocolVersion;
    this.keepaliveSeconds = verdict.keepaliveSeconds;
    this.state = 'opening-shard';
    this.held = [packets[0]];
    this.hold(packets, 1);
    if (this.state !== 'opening-shard') return;
    this.io.openShard(verdict.clientId, verdict.assignedClientId);
  }

  /**
   * Packets sent before the shard has the CONNECT wait here, bounded like
   * the shard's own queue during authentication (MQTT_MAX_PENDING_BYTES).
   */
  private hold(packets: Uint8Array[], from: number): void {
    for (let i = from; i < packets.length; i++) {
      this.held.push(packets[i]);
      this.heldBytes += packets[i].byteLength;
    }
    if (this.heldBytes > this.limits.maxPendingBytes) {
      this.violation(RC.QUOTA_EXCEEDED, `more than ${this.limits.maxPendingBytes} bytes sent before CONNACK`);
    }
  }

  /**
   * PINGREQ is answered here [MQTT-3.12.4-1] when nothing else came before it
   * in this event, which is how an idle device sends it; the rest goes on to
   * the shard. A PINGREQ behind another packet goes on too, so the shard
   * answers it in order, or not at all if that packet ends the connection
   * [MQTT-4.8.0-1]. A PUBLISH beyond MQTT_MAX_PUBLISH_RATE ends the
   * forwarding: it and what follows never reach the shard, which is told to
   * answer 0x96 as it would.
   */
  private answerPingsAndMeterPublishes(packets: Uint8Array[]): Uint8Array[] {
    let first = 0;
    while (first < packets.length && isPingreq(packets[first])) {
      this.io.toClient(PINGRESP);
      first++;
    }
    const rest = first === 0 ? packets : packets.slice(first);
    for (let i = 0; i < rest.length; i++) {
      if (rest[i][0] >> 4 === PUBLISH && !this.withinPublishRate()) {
        this.state = 'ending';
        return rest.slice(0, i);
      }
    }
    return rest;
  }

  private withinPublishRate(): boolean {
    const rate = this.limits.maxPublishRate;
    if (rate === 0) return true;
    const now = this.io.now();
    if (this.publishTokensAt < 0) this.publishTokens = rate;
    else if (now > this.publishTokensAt) this.publishTokens = Math.min(rate, this.publishTokens + ((now - this.publishTokensAt) * rate) / 1000);
    this.publishTokensAt = Math.max(this.publishTokensAt, now);
    if (this.publishTokens < 1) return false;
    this.publishTokens -= 1;
    return true;
  }

  /**
   * Something the shard would refuse, caught here. Once the shard has the
   * connection it gives the answer itself (DISCONNECT with the reason code in
   * 5.0); before, the edge gives the answer the shard would have given.
   */
  private violation(reasonCode: number, reason: string): void {
    switch (this.state) {
      case 'forwarding':
      case 'connected':
        this.state = 'ending';
        this.io.toShard(encodeControl({ type: 'violation', reasonCode, reason }));
        return;
      case 'opening-shard':
        // Before CONNACK the reason travels in a CONNACK [MQTT-4.13.1-1]; 3.1.1 has no code for it.
        if (this.protocolVersion === 5 && reasonCode >= 0x80) {
          this.io.toClient(encodePacket({ cmd: 'connack', sessionPresent: false, reasonCode }, 5));
        }
        break;
      case 'awaiting-connect':
        break;
      case 'ending':
      case 'closed':
        return;
    }
    this.state = 'closed';
    this.held = [];
    this.io.closeClient(1000, reason);
  }
}

function isPingreq(p: Uint8Array): boolean {
  return p.byteLength === 2 && p[0] === 0xc0 && p[1] === 0x00;
}

/** 1005 and 1006 describe a close; they cannot be sent in one. */
function sendableCode(code: number): number {
  const sendable = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
  return sendable ? code : 1000;
}
