import type { ProtocolVersion } from './store/records';

/**
 * What the edge Worker vouches for about a connection. Built only from
 * platform-provided fields (CF-Connecting-IP, request.cf); client headers that
 * could impersonate these are stripped before the Durable Object sees them.
 */
export interface TrustedContext {
  ip: string;
  /** True when the client reached the edge over TLS (wss://). */
  tls: boolean;
  /** `request.cf.tlsClientAuth` exactly as the platform supplies it: every value a string. */
  tlsClientAuth: Record<string, string> | null;
  /** The negotiated WebSocket subprotocol (`mqtt` or `mqttv3.1`). */
  subprotocol: string;
  /**
   * RFC 9440 Client-Cert / Client-Cert-Chain headers as received. Only
   * believed by the X.509 provider when `ip` is a configured trusted proxy.
   */
  forwardedClientCert?: { cert: string; chain: string | null } | null;
  /**
   * Set by the edge gateway when the client sent an empty client id: the id
   * the edge chose (it picks the shard by client id), for the CONNACK's
   * Assigned Client Identifier [MQTT-3.2.2-16].
   */
  assignedClientId?: string | null;
  /**
   * True when the edge gateway answers PINGREQ and enforces the keepalive:
   * the shard then never wakes for it, and hears of an expiry from the edge.
   */
  keepaliveAtEdge?: boolean;
}

/** Sends bytes to, or closes, one live connection. Implemented by the Durable Object. */
export interface Transport {
  send(connectionId: string, bytes: Uint8Array): void;
  close(connectionId: string, code?: number, reason?: string): void;
  /** Persist the per-connection snapshot so it survives hibernation (socket attachment). */
  saveConnectionSnapshot(connectionId: string, snapshot: ConnectionSnapshot): void;
}

export interface Clock {
  now(): number;
}

/** Per-connection state that must survive hibernation. Kept small: attachments are limited to 2 KiB. */
export interface ConnectionSnapshot {
  connectionId: string;
  trusted: TrustedContext;
  openedAt: number;
  /** Set once CONNACK 0 was sent. */
  clientId: string | null;
  protocolVersion: ProtocolVersion | null;
  username: string | null;
  keepaliveSeconds: number;
  lastActivityAt: number;
  clientReceiveMaximum: number;
  clientMaxPacketSize: number;
  clientTopicAliasMaximum: number;
  requestProblemInformation: boolean;
  /** Its session ends with it, but its delivery state was spilled to the store (Session.spilled). Absent in older snapshots. */
  deliveryStateStored?: boolean;
  /** 5.0: its CONNECT asked for a Session Expiry Interval above 0 (Connection.askedSessionExpiry). Absent in older snapshots. */
  askedSessionExpiry?: boolean;
  /** 5.0: the Authentication Method it connected with, for re-authentication. Absent when none. */
  authenticationMethod?: string;
  /** Its client id was assigned by the broker (id rules do not apply at re-authentication). Absent when not. */
  clientIdAssigned?: true;
  /** A re-authentication exchange was open (Connection.reauthenticating). Absent when not. */
  reauthenticating?: true;
  /**
   * A packet of it had been arriving for a while, its first bytes held only
   * in memory (Connection.partialSince): an instance that wakes with this set
   * cannot read the rest, so it ends the connection. Absent when not.
   */
  midPacket?: true;
}

export interface AuthRequest {
  clientId: string;
  username: string | null;
  password: Uint8Array | null;
  protocolVersion: ProtocolVersion;
  trusted: TrustedContext;
  authenticationMethod: string | null;
  authenticationData: Uint8Array | null;
  /** True when the broker made the client id up (MQTT 5 empty id), so id rules like prefixes do not apply. */
  clientIdAssigned: boolean;
}

export type AuthDecision =
  | {
      ok: true;
      username: string | null;
      /** Enhanced authentication: data for the CONNACK. */
      authenticationData?: Uint8Array;
      /**
       * Called once with the CONNECT's fate: true when it was accepted, false
       * when it was refused after authenticating (a will the client may not
       * publish) or the client left before CONNACK. Whatever authentication
       * set up for this client id (the identity its ACLs use) is kept or undone.
       */
      settle?(accepted: boolean): void;
      /**
       * The authorizer's token for the identity this CONNECT was bound to
       * (Authorizer.bindingOf). Its session keeps it, so that what the session
       * leaves behind (its will) is judged as the client that set it, even
       * once a newer CONNECT for the same client id has bound another identity.
       */
      binding?: unknown;
    }
  | {
      /** Enhanced authentication needs another round trip: send AUTH 0x18 with this data, pass the reply to next(). */
      ok: 'continue';
      authenticationData: Uint8Array;
      next(data: Uint8Array | null): Promise<AuthDecision>;
    }
  | {
      ok: false;
      /** MQTT 5 CONNACK reason code (0x86, 0x87, 0x8A, 0x8C, 0x85...). */
      reasonCode: number;
      /** MQTT 3.1.1 CONNACK return code (4 or 5, 2 for identifier rejected). */
      returnCode: number;
      /** Close without any CONNACK (MQTT-293 advice for sensitive deployments). */
      silent?: boolean;
      /** Stable reason code and text for logs and the live event stream. */
      reason?: { code: string; text: string };
    };

/** Decides whether a CONNECT may proceed. May be asynchronous (D1 look-ups, hashing). */
export interface Authenticator {
  authenticate(request: AuthRequest): Promise<AuthDecision> | AuthDecision;
}

export interface Principal {
  clientId: string;
  username: string | null;
  /**
   * The binding a session was accepted under (AuthDecision.binding,
   * Authorizer.bindingOf). Given only for a will: a session replaced by a
   * newer CONNECT for its client id is judged by its own identity, not the
   * newcomer's. Absent: the identity bound to the client id now.
   */
  binding?: unknown;
}

/** Topic permissions. Synchronous so it can run on the publish hot path. */
export interface Authorizer {
  canPublish(principal: Principal, topic: string): boolean;
  canSubscribe(principal: Principal, filter: string): boolean;
  canReceive(principal: Principal, topic: string): boolean;
  /** The token of the identity bound to this client id now (null: none), for a session restored without one. */
  bindingOf?(clientId: string): unknown;
}

export const allowAllAuthorizer: Authorizer = {
  canPublish: () => true,
  canSubscribe: () => true,
  canReceive: () => true,
};

/** Broker events for logs, the admin API's live stream and counters. */
export interface BrokerEvents {
  clientConnected?(info: { clientId: string; username: string | null; ip: string; protocolVersion: ProtocolVersion }): void;
  clientDisconnected?(info: { clientId: string; reason: string }): void;
  connectRefused?(info: { clientId: string; username: string | null; ip: string; reasonCode: number; reason?: { code: string; text: string } }): void;
}
