import type { Buffer } from 'node:buffer';
import type { IAuthPacket, IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { EngineApi } from '../engine/engine-api';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import type { AuthDecision } from '../ports';
import { CONNACK_V3, RC, connackReturnCodeFor } from '../reason-codes';
import type { BrokerMessage, ProtocolVersion, SessionRecord, WillRecord } from '../store/records';
import { SESSION_NEVER_EXPIRES } from '../store/records';
import { exceedsByteLength, validateTopicName } from '../topics/validate';
import { isValidUtf8 } from './utf8';

/**
 * CONNECT, as a list of named steps in spec order:
 * checkClientId, negotiateKeepalive, readClientLimits, readWill, authenticate
 * (with MQTT 5 enhanced AUTH continuing it), authorizeWill, takeOverExisting,
 * negotiateSessionExpiry, openSession, markConnected, connack,
 * announceConnected, resumeInflight.
 */
export function handleConnect(engine: EngineApi, conn: Connection, packet: IConnectPacket, now: number): Promise<void> | void {
  const version = (packet.protocolVersion ?? 4) as ProtocolVersion;
  conn.protocolVersion = version;
  conn.state = 'authenticating';

  const clientId = checkClientId(engine, conn, packet, version);
  if (clientId === null) return;
  negotiateKeepalive(engine, conn, packet, version);
  readClientLimits(conn, packet, version);
  const will = readWill(engine, conn, packet, version, now);
  if (will === false) return;
  keepIdentityOfExisting(engine, clientId);
  const decision = authenticate(engine, conn, packet, clientId, version);
  if (decision instanceof Promise) return decision.then((d) => afterAuthentication(engine, conn, packet, clientId, will, d));
  return afterAuthentication(engine, conn, packet, clientId, will, decision);
}

/** The rest of CONNECT, once the authenticator has decided (or asked for another AUTH round). */
function afterAuthentication(
  engine: EngineApi,
  conn: Connection,
  packet: IConnectPacket,
  clientId: string,
  will: WillRecord | null,
  d: AuthDecision,
): Promise<void> | void {
  if (conn.state === 'closed') {
    // Gone while authenticating (connect timeout, socket closed): nothing was accepted.
    if (d.ok === true) d.settle?.(false);
    return;
  }
  if (d.ok === 'continue') {
    return continueAuthentication(engine, conn, d, (next) => afterAuthentication(engine, conn, packet, clientId, will, next));
  }
  if (!d.ok) return refuse(engine, conn, d, clientId, packet);
  conn.username = d.username;
  conn.connackAuthenticationData = d.authenticationData ?? null;
  const willAllowed = authorizeWill(engine, conn, clientId, will, d.username);
  if (!willAllowed && conn.protocolVersion === 5) {
    d.settle?.(false);
    return refuse(engine, conn, { ok: false, reasonCode: RC.NOT_AUTHORIZED, returnCode: CONNACK_V3.NOT_AUTHORIZED }, clientId, packet);
  }
  d.settle?.(true);
  // 3.1.1 has no way to refuse a will alone: accept the connection, never send the will.
  accept(engine, conn, packet, clientId, willAllowed ? will : null, d.binding, engine.clock.now());
}

/** The accepted CONNECT: the session is opened, then CONNACK, then what was in flight resumes. */
function accept(engine: EngineApi, conn: Connection, packet: IConnectPacket, clientId: string, will: WillRecord | null, binding: unknown, now: number): void {
  const version = conn.protocolVersion ?? 4;
  takeOverExisting(engine, clientId, now);
  const expiry = negotiateSessionExpiry(engine, packet, version);
  const { session, sessionPresent } = openSession(engine, conn, clientId, version, packet.clean ?? true, expiry.interval, will, now);
  session.binding = binding;
  markConnected(engine, conn, clientId);
  connack(engine, conn, version, sessionPresent, expiry.capped);
  announceConnected(engine, conn, clientId, version, now);
  if (sessionPresent) engine.resumeInflight(conn, session, now);
}

function readClientLimits(conn: Connection, packet: IConnectPacket, version: ProtocolVersion): void {
  const props = version === 5 ? packet.properties ?? {} : {};
  conn.clientReceiveMaximum = props.receiveMaximum ?? 65_535;
  conn.clientMaxPacketSize = props.maximumPacketSize ?? 0;
  conn.clientTopicAliasMaximum = props.topicAliasMaximum ?? 0;
  conn.requestProblemInformation = props.requestProblemInformation ?? true;
  if (version === 5) conn.askedSessionExpiry = (props.sessionExpiryInterval ?? 0) > 0;
}

function authenticate(
  engine: EngineApi,
  conn: Connection,
  packet: IConnectPacket,
  clientId: string,
  version: ProtocolVersion,
): AuthDecision | Promise<AuthDecision> {
  const props = version === 5 ? packet.properties ?? {} : {};
  const method = version === 5 ? props.authenticationMethod ?? null : null;
  conn.authenticationMethod = method;
  return engine.authenticator.authenticate({
    clientId,
    username: packet.username ?? null,
    password: packet.password ? new Uint8Array(packet.password) : null,
    protocolVersion: version,
    trusted: conn.trusted,
    authenticationMethod: method,
    authenticationData: method !== null && props.authenticationData ? new Uint8Array(props.authenticationData) : null,
    clientIdAssigned: conn.assignedClientId !== null,
  });
}

/**
 * The session this CONNECT may replace keeps the identity it was accepted
 * under: authentication is about to bind the newcomer's identity to the
 * client id, and the old session's will, published when it is taken over or
 * discarded, is the old client's. A session opened by this shard instance
 * knows its binding already; one restored after eviction learns it here,
 * before any newer CONNECT for its id has bound another.
 */
function keepIdentityOfExisting(engine: EngineApi, clientId: string): void {
  const session = engine.findSession(clientId);
  if (session && session.binding === undefined) session.binding = engine.authorizer.bindingOf?.(clientId);
}

/** The will is checked as the identity just authenticated, which is why that identity is in force before the CONNECT is settled. */
function authorizeWill(engine: EngineApi, conn: Connection, clientId: string, will: WillRecord | null, username: string | null): boolean {
  return !will || engine.authorizer.canPublish({ clientId, username }, will.message.topic);
}

/**
 * Enhanced authentication (MQTT 5, 4.12): the server answers with AUTH 0x18
 * and waits for the client's AUTH before deciding. At CONNECT the connect
 * timeout keeps running, so a client that never answers is closed like one
 * that never connects. Re-authentication continues the same way (auth.ts).
 */
export function continueAuthentication(
  engine: EngineApi,
  conn: Connection,
  d: Extract<AuthDecision, { ok: 'continue' }>,
  proceed: (d: AuthDecision) => Promise<void> | void,
): void {
  conn.authContinuation = async (data) => {
    conn.authContinuation = null;
    await proceed(await d.next(data));
  };
  engine.send(conn, {
    cmd: 'auth',
    reasonCode: RC.CONTINUE_AUTHENTICATION,
    properties: { authenticationMethod: conn.authenticationMethod!, authenticationData: d.authenticationData as Buffer },
  });
}

/** The client's AUTH during the CONNECT exchange. */
export function handleConnectAuth(engine: EngineApi, conn: Connection, packet: IAuthPacket): Promise<void> | void {
  const continuation = conn.authContinuation;
  const method = packet.properties?.authenticationMethod;
  if (!continuation || packet.reasonCode !== RC.CONTINUE_AUTHENTICATION || method !== conn.authenticationMethod) {
    // Wrong step or method mid-exchange: refuse the CONNECT [MQTT-4.12.0-4].
    conn.authContinuation = null;
    engine.countAuthFailure();
    engine.send(conn, connackFailure(conn, 5, method !== conn.authenticationMethod ? RC.BAD_AUTHENTICATION_METHOD : RC.PROTOCOL_ERROR));
    engine.closeConnection(conn, 'protocol-error', 1000, 'unexpected AUTH');
    return;
  }
  const data = packet.properties?.authenticationData;
  return continuation(data ? new Uint8Array(data) : null);
}

function connackFailure(conn: Connection, version: ProtocolVersion, reasonCode: number, returnCode?: number): IConnackPacket {
  return version === 5
    ? { cmd: 'connack', sessionPresent: false, reasonCode }
    : { cmd: 'connack', sessionPresent: false, returnCode: returnCode ?? connackReturnCodeFor(reasonCode) };
}

function refuse(engine: EngineApi, conn: Connection, d: Extract<AuthDecision, { ok: false }>, clientId: string, packet: IConnectPacket): void {
  const version = conn.protocolVersion ?? 4;
  engine.countAuthFailure();
  engine.events.connectRefused?.({ clientId, username: packet.username ?? null, ip: conn.trusted.ip, reasonCode: d.reasonCode, reason: d.reason });
  if (!d.silent) engine.send(conn, connackFailure(conn, version, d.reasonCode, d.returnCode));
  // A refused CONNECT is followed by closing the connection [MQTT-3.2.2-7].
  engine.closeConnection(conn, 'protocol-error', 1000, 'connection refused');
}

function checkClientId(engine: EngineApi, conn: Connection, packet: IConnectPacket, version: ProtocolVersion): string | null {
  let clientId = packet.clientId ?? '';
  const tooLong = exceedsByteLength(clientId, engine.config.maxClientIdLength);
  if (tooLong) {
    engine.send(conn, connackFailure(conn, version, RC.CLIENT_IDENTIFIER_NOT_VALID, CONNACK_V3.IDENTIFIER_REJECTED));
    engine.closeConnection(conn, 'protocol-error', 1000, 'client identifier not valid');
    return null;
  }
  if (clientId === '') {
    // 3.1 requires an id; 3.1.1 allows an empty one only with a clean session [MQTT-3.1.3-7], [MQTT-3.1.3-8].
    if (version === 3 || (version === 4 && !packet.clean)) {
      engine.send(conn, connackFailure(conn, version, RC.CLIENT_IDENTIFIER_NOT_VALID, CONNACK_V3.IDENTIFIER_REJECTED));
      engine.closeConnection(conn, 'protocol-error', 1000, 'empty client identifier');
      return null;
    }
    // The edge gateway assigns the id (it routes by client id); otherwise the shard does.
    clientId = conn.trusted.assignedClientId || `edgemq-${crypto.randomUUID()}`;
    conn.assignedClientId = clientId;
  }
  return clientId;
}

function negotiateKeepalive(engine: EngineApi, conn: Connection, packet: IConnectPacket, version: ProtocolVersion): void {
  const requested = packet.keepalive ?? 0;
  const max = engine.config.maxKeepaliveSeconds;
  conn.keepaliveSeconds = requested;
  if (version === 5 && max > 0 && (requested === 0 || requested > max)) {
    // Server Keep Alive overrides what the client asked for [MQTT-3.2.2-21].
    conn.keepaliveSeconds = max;
    conn.serverKeepAlive = max;
  }
}

/** Validates and captures the will; false when the CONNECT was refused because of it. */
function readWill(engine: EngineApi, conn: Connection, packet: IConnectPacket, version: ProtocolVersion, now: number): WillRecord | null | false {
  const will = packet.will;
  if (!will) return null;
  const topicProblem = validateTopicName(will.topic, { maxLength: engine.config.maxTopicLength, maxLevels: engine.config.maxTopicLevels });
  const fail = (reasonCode: number) => {
    engine.send(conn, connackFailure(conn, version, reasonCode, CONNACK_V3.NOT_AUTHORIZED));
    engine.closeConnection(conn, 'protocol-error', 1000, 'will refused');
    return false as const;
  };
  if (topicProblem !== null) return fail(RC.TOPIC_NAME_INVALID);
  const payload = typeof will.payload === 'string' ? new TextEncoder().encode(will.payload) : new Uint8Array(will.payload ?? new Uint8Array(0));
  const p = version === 5 ? will.properties ?? {} : {};
  if (p.payloadFormatIndicator && !isValidUtf8(payload)) return fail(RC.PAYLOAD_FORMAT_INVALID);
  const message: BrokerMessage = {
    topic: will.topic,
    payload,
    qos: (will.qos ?? 0) as 0 | 1 | 2,
    retain: will.retain ?? false,
    properties: {
      payloadFormatIndicator: p.payloadFormatIndicator,
      contentType: p.contentType,
      responseTopic: p.responseTopic,
      correlationData: p.correlationData ? new Uint8Array(p.correlationData) : undefined,
      // A plain copy of the decoder's prototype-less object, so the will can travel to other shards.
      userProperties: p.userProperties && { ...p.userProperties },
    },
    expiresAt: null,
    origin: packet.clientId || null,
    createdAt: now,
  };
  stripUndefined(message.properties as Record<string, unknown>);
  // The will's Message Expiry Interval counts from when it is published, so it is kept relative.
  return { message, delaySeconds: p.willDelayInterval ?? 0, expirySeconds: p.messageExpiryInterval ?? null };
}

function stripUndefined(o: Record<string, unknown>): void {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
}

/** Session Expiry Interval as granted: the client's ask, capped by the broker's limit (announced in 5.0). */
function negotiateSessionExpiry(engine: EngineApi, packet: IConnectPacket, version: ProtocolVersion): { interval: number; capped: number | undefined } {
  let interval: number;
  let capped: number | undefined;
  if (version === 5) {
    interval = packet.properties?.sessionExpiryInterval ?? 0;
  } else {
    // 3.1.1: a persistent session lives until the broker's expiry limit (mosquitto's persistent_client_expiration).
    interval = (packet.clean ?? true) ? 0 : SESSION_NEVER_EXPIRES;
  }
  const max = engine.config.maxSessionExpirySeconds;
  if (interval > max) {
    interval = max;
    if (version === 5) capped = max;
  }
  return { interval, capped };
}

/** Resumes or starts the client's session and binds it to this connection. */
function openSession(
  engine: EngineApi,
  conn: Connection,
  clientId: string,
  version: ProtocolVersion,
  cleanStart: boolean,
  expiryInterval: number,
  will: WillRecord | null,
  now: number,
): { session: Session; sessionPresent: boolean } {
  let session = engine.findSession(clientId);
  let sessionPresent = false;
  if (session && (cleanStart || session.hasExpired(now))) {
    // Clean Start discards the old session [MQTT-3.1.2-4]; its pending will goes out now.
    // So does an expired one the alarm has not ended yet (it may be late, or wait for the ACL
    // rules): the Session Expiry Interval is how long the server keeps it, not a lower bound.
    engine.endSession(session, now);
    session = undefined;
  }
  if (session) {
    sessionPresent = true;
    engine.ensureLoaded(session);
    // Reconnecting before the will delay elapses cancels the will [MQTT-3.1.3-9].
    session.record.will = null;
    session.record.willDueAt = null;
  } else {
    const record: SessionRecord = {
      clientId,
      protocolVersion: version,
      expiryInterval,
      disconnectedAt: null,
      will: null,
      willDueAt: null,
      droppedMessages: 0,
      username: conn.username,
      createdAt: now,
    };
    session = engine.startSession(record);
  }
  const wasPersistent = session.persistent;
  session.record.protocolVersion = version;
  session.record.expiryInterval = expiryInterval;
  session.record.disconnectedAt = null;
  session.record.username = conn.username;
  session.record.will = will;
  session.connectionId = conn.id;
  engine.saveOpenedSession(session, wasPersistent);
  return { session, sessionPresent };
}

function markConnected(engine: EngineApi, conn: Connection, clientId: string): void {
  conn.clientId = clientId;
  conn.state = 'connected';
  engine.countConnection();
}

/** CONNACK 0x00; in 5.0 it also announces the broker's limits and what it decided for the client. */
function connack(engine: EngineApi, conn: Connection, version: ProtocolVersion, sessionPresent: boolean, cappedExpiry: number | undefined): void {
  const packet: IConnackPacket = { cmd: 'connack', sessionPresent, returnCode: 0 };
  if (version === 5) {
    delete packet.returnCode;
    packet.reasonCode = RC.SUCCESS;
    const properties: NonNullable<IConnackPacket['properties']> = {
      receiveMaximum: engine.config.receiveMaximum,
      maximumPacketSize: engine.config.maxPacketSize,
      topicAliasMaximum: engine.config.topicAliasMaximum,
      retainAvailable: true,
      wildcardSubscriptionAvailable: true,
      subscriptionIdentifiersAvailable: true,
      sharedSubscriptionAvailable: true,
    };
    if (conn.assignedClientId) properties.assignedClientIdentifier = conn.assignedClientId;
    if (conn.serverKeepAlive !== undefined) properties.serverKeepAlive = conn.serverKeepAlive;
    if (cappedExpiry !== undefined) properties.sessionExpiryInterval = cappedExpiry;
    if (conn.authenticationMethod !== null) {
      properties.authenticationMethod = conn.authenticationMethod;
      if (conn.connackAuthenticationData) properties.authenticationData = conn.connackAuthenticationData as Buffer;
    }
    packet.properties = properties;
  }
  engine.send(conn, packet);
}

/** Survives hibernation from here on; tells the listeners and arms the keepalive. */
function announceConnected(engine: EngineApi, conn: Connection, clientId: string, version: ProtocolVersion, now: number): void {
  engine.saveSnapshot(conn, now);
  engine.events.clientConnected?.({ clientId, username: conn.username, ip: conn.trusted.ip, protocolVersion: version });
  const deadline = conn.keepaliveDeadline();
  if (deadline !== null) engine.scheduleWake(deadline);
  engine.sys.clientsChanged();
}

/** A second connection with the same client id takes the session over [MQTT-3.1.4-3]. */
function takeOverExisting(engine: EngineApi, clientId: string, now: number): void {
  const session = engine.findSession(clientId);
  if (!session?.connectionId) return;
  const old = engine.findConnection(session.connectionId);
  if (!old) {
    engine.sessionLostConnection(session, 'takeover', now);
    return;
  }
  engine.disconnect(old, RC.SESSION_TAKEN_OVER, 'session taken over', 'takeover');
}
