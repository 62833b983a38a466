import { PacketFramer } from '../codec/framer';
import { TopicMemo } from '../codec/topic-memo';
import type { ConnectionSnapshot, TrustedContext } from '../ports';
import type { ProtocolVersion } from '../store/records';
import type { OwedAck } from './owed-ack';

export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

/** Why a connection ended, which decides whether its will is published. */
export type EndCause =
  | 'client-disconnect'
  | 'client-disconnect-with-will'
  | 'network'
  | 'keepalive'
  | 'takeover'
  | 'protocol-error'
  | 'administrative';

/** In-memory state of one WebSocket. What must survive hibernation is mirrored in the snapshot. */
export class Connection {
  state: ConnectionState = 'awaiting-connect';
  readonly framer: PacketFramer;
  protocolVersion: ProtocolVersion | null = null;
  clientId: string | null = null;
  username: string | null = null;
  keepaliveSeconds = 0;
  lastActivityAt: number;
  lastSnapshotAt = 0;
  /** How many unacknowledged QoS 1/2 PUBLISHes the client accepts from us. */
  clientReceiveMaximum = 65_535;
  /** 0 = no limit announced. */
  clientMaxPacketSize = 0;
  clientTopicAliasMaximum = 0;
  requestProblemInformation = true;
  /**
   * 5.0: its CONNECT asked for a Session Expiry Interval above 0, before the
   * broker's cap. Only then may its DISCONNECT set one [MQTT-3.14.2-2]; a
   * client whose ask the broker capped to 0 did nothing wrong. null: not known.
   */
  askedSessionExpiry: boolean | null = null;
  inboundTopicAliases = new Map<number, string>();
  /** The last topic this client published to, decoded once (TopicMemo), and the last one found valid. */
  readonly topics = new TopicMemo();
  validTopic: string | null = null;
  /** Raw packets that arrived while an asynchronous step (authentication) was running. */
  pending: Uint8Array[] = [];
  pendingBytes = 0;
  /** Token bucket for the PUBLISH rate limit: tokens left, and when they were counted. */
  publishTokens = 0;
  publishTokensAt = -1;
  /**
   * Acknowledgements of this client's QoS 1/2 PUBLISHes not sent yet, in
   * arrival order (flow control). Memory only: after hibernation they are
   * gone, and the client resends those PUBLISHes when it reconnects.
   */
  owedAcks: OwedAck[] = [];
  /** QoS 1 entries of owedAcks: with the session's open QoS 2 flows, what counts against our Receive Maximum. */
  owedQos1 = 0;
  /** The client's input broke off (BrokerEngine.endInputWith): nothing more it sends is read. */
  inputEnded = false;
  /** Set while an asynchronous step runs, so later packets wait their turn. */
  busy: Promise<void> | null = null;
  /** An identifier the broker made up (for the CONNACK, and re-authentication), and a Server Keep Alive override. */
  assignedClientId: string | null = null;
  serverKeepAlive: number | undefined;
  /** MQTT 5 enhanced authentication: the method it connected with, and what to do with the client's next AUTH while an exchange runs. */
  authenticationMethod: string | null = null;
  authContinuation: ((data: Uint8Array | null) => Promise<void>) | null = null;
  /** A re-authentication exchange is open (auth.ts); kept in the snapshot, since its continuation is not. */
  reauthenticating = false;
  /** Server data for the CONNACK that ends an enhanced authentication exchange. */
  connackAuthenticationData: Uint8Array | null = null;
  /** Mirrors Session.spilled for the instance that wakes after hibernation. */
  deliveryStateStored = false;
  /** Set once the client sent DISCONNECT, so the close that follows is not a network loss. */
  endCause: EndCause | null = null;
  /**
   * Since when the framer has held part of a packet (null: nothing held).
   * Those bytes live in memory only, so one that stays partial long enough
   * for the shard to hibernate is marked in the snapshot (midPacketMarked),
   * and an instance that wakes with the mark ends the connection rather than
   * read the rest of the packet as packets of its own.
   */
  partialSince: number | null = null;
  midPacketMarked = false;

  /** Restored with the mark but without the packet's start, which went with the memory of the instance that hibernated. */
  get lostPartialPacket(): boolean {
    return this.midPacketMarked && this.partialSince === null;
  }
  /** What ConnectingBytes counts for it: bytes held before its CONNECT is accepted. */
  connectingBytes = 0;

  constructor(
    readonly id: string,
    readonly trusted: TrustedContext,
    readonly openedAt: number,
    maxPacketSize: number,
  ) {
    this.lastActivityAt = openedAt;
    this.framer = new PacketFramer(maxPacketSize);
  }

  snapshot(): ConnectionSnapshot {
    return {
      connectionId: this.id,
      // Certificates are only needed to authenticate, and attachments are limited to 2 KiB.
      trusted: {
        ip: this.trusted.ip,
        tls: this.trusted.tls,
        subprotocol: this.trusted.subprotocol,
        tlsClientAuth: null,
        forwardedClientCert: null,
        keepaliveAtEdge: this.trusted.keepaliveAtEdge,
      },
      openedAt: this.openedAt,
      clientId: this.state === 'connected' ? this.clientId : null,
      protocolVersion: this.protocolVersion,
      username: this.username,
      keepaliveSeconds: this.keepaliveSeconds,
      lastActivityAt: this.lastActivityAt,
      clientReceiveMaximum: this.clientReceiveMaximum,
      clientMaxPacketSize: this.clientMaxPacketSize,
      clientTopicAliasMaximum: this.clientTopicAliasMaximum,
      requestProblemInformation: this.requestProblemInformation,
      ...(this.deliveryStateStored ? { deliveryStateStored: true } : {}),
      ...(this.askedSessionExpiry !== null ? { askedSessionExpiry: this.askedSessionExpiry } : {}),
      // Only once accepted: before, it is whatever the client sent, and the alarm may snapshot a connection still authenticating.
      ...(this.authenticationMethod !== null && this.state === 'connected' ? { authenticationMethod: this.authenticationMethod } : {}),
      ...(this.assignedClientId !== null ? { clientIdAssigned: true as const } : {}),
      ...(this.reauthenticating ? { reauthenticating: true as const } : {}),
      ...(this.midPacketMarked ? { midPacket: true as const } : {}),
    };
  }

  static fromSnapshot(s: ConnectionSnapshot, maxPacketSize: number): Connection {
    const c = new Connection(s.connectionId, s.trusted, s.openedAt, maxPacketSize);
    c.protocolVersion = s.protocolVersion;
    c.clientId = s.clientId;
    c.username = s.username;
    c.keepaliveSeconds = s.keepaliveSeconds;
    c.lastActivityAt = s.lastActivityAt;
    c.lastSnapshotAt = s.lastActivityAt;
    c.clientReceiveMaximum = s.clientReceiveMaximum;
    c.clientMaxPacketSize = s.clientMaxPacketSize;
    c.clientTopicAliasMaximum = s.clientTopicAliasMaximum;
    c.requestProblemInformation = s.requestProblemInformation;
    c.deliveryStateStored = s.deliveryStateStored === true;
    c.askedSessionExpiry = s.askedSessionExpiry ?? null;
    c.authenticationMethod = s.authenticationMethod ?? null;
    if (s.clientIdAssigned && s.clientId) c.assignedClientId = s.clientId;
    c.reauthenticating = s.reauthenticating === true;
    c.midPacketMarked = s.midPacket === true;
    // A socket that hibernated before CONNACK lost its half-done handshake; the
    // connect timeout closes it.
    c.state = s.clientId ? 'connected' : 'awaiting-connect';
    return c;
  }

  /**
   * Keepalive deadline: 1.5 x the interval after the last packet [MQTT-3.1.2-22].
   * None when the edge gateway keeps it: the shard must not wake for idle devices.
   */
  keepaliveDeadline(): number | null {
    if (this.state !== 'connected' || this.keepaliveSeconds === 0 || this.trusted.keepaliveAtEdge) return null;
    return this.lastActivityAt + this.keepaliveSeconds * 1500;
  }
}
