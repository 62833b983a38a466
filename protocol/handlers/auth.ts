import type { IAuthPacket } from 'mqtt-packet';
import type { EngineApi } from '../engine/engine-api';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import type { AuthDecision } from '../ports';
import { RC } from '../reason-codes';
import { continueAuthentication } from './connect';

/** AUTH reason code 0x19: the client starts a re-authentication (spec 3.15.2.1). */
const REAUTHENTICATE = 0x19;

/** Refusal codes that a DISCONNECT may carry as they are (spec 3.14.2.1). */
const DISCONNECT_CODES = new Set<number>([RC.UNSPECIFIED_ERROR, RC.MALFORMED_PACKET, RC.PROTOCOL_ERROR, RC.IMPLEMENTATION_SPECIFIC_ERROR, RC.NOT_AUTHORIZED, RC.SERVER_BUSY, RC.BAD_AUTHENTICATION_METHOD, RC.QUOTA_EXCEEDED, RC.CONNECTION_RATE_EXCEEDED]);

/**
 * A CONNACK refusal as a DISCONNECT reason code. Some exist only in CONNACK:
 * bad user name or password and banned are Not authorized here, and the
 * authentication backend out of reach (Server unavailable) is Server busy.
 */
function disconnectCodeFor(refusal: number): number {
  if (DISCONNECT_CODES.has(refusal)) return refusal;
  return refusal === RC.SERVER_UNAVAILABLE ? RC.SERVER_BUSY : RC.NOT_AUTHORIZED;
}

/**
 * AUTH after CONNACK: re-authentication (MQTT 5, 4.12.1). A client that
 * connected with an Authentication Method may authenticate again at any time,
 * with AUTH 0x19 and the same method [MQTT-4.12.1-1]; the exchange continues
 * with AUTH 0x18 both ways, as at CONNECT, and ends with AUTH 0x00. A refusal
 * ends the connection with DISCONNECT and its reason code, or the nearest one
 * a DISCONNECT may carry [MQTT-4.12.1-2].
 * The session, its subscriptions and its traffic go on meanwhile, and from
 * success on the connection is judged by the identity just authenticated.
 */
export function handleAuth(engine: EngineApi, conn: Connection, session: Session, packet: IAuthPacket): Promise<void> | void {
  const method = packet.properties?.authenticationMethod;
  if (conn.authenticationMethod === null) return engine.disconnect(conn, RC.PROTOCOL_ERROR, 'AUTH without an authentication method');
  if (method !== conn.authenticationMethod) return engine.disconnect(conn, RC.PROTOCOL_ERROR, 'AUTH with another authentication method');
  const data = packet.properties?.authenticationData ? new Uint8Array(packet.properties.authenticationData) : null;
  if (packet.reasonCode === RC.CONTINUE_AUTHENTICATION) {
    const continuation = conn.authContinuation;
    if (continuation) return continuation(data);
    // The exchange was open, but the shard hibernated and its state went with the memory: the client did
    // nothing wrong, yet this re-authentication cannot succeed.
    if (conn.reauthenticating) return engine.disconnect(conn, RC.NOT_AUTHORIZED, 're-authentication failed');
    return engine.disconnect(conn, RC.PROTOCOL_ERROR, 'AUTH 0x18 outside an authentication exchange');
  }
  if (packet.reasonCode !== REAUTHENTICATE) return engine.disconnect(conn, RC.PROTOCOL_ERROR, `AUTH 0x${(packet.reasonCode ?? 0).toString(16)} from a client`);
  if (conn.authContinuation || conn.reauthenticating) return engine.disconnect(conn, RC.PROTOCOL_ERROR, 'AUTH 0x19 during an authentication exchange');
  const decision = engine.authenticator.authenticate({
    clientId: session.clientId,
    username: conn.username,
    password: null,
    protocolVersion: 5,
    trusted: conn.trusted,
    authenticationMethod: method,
    authenticationData: data,
    clientIdAssigned: conn.assignedClientId !== null,
  });
  if (decision instanceof Promise) return decision.then((d) => afterReauthentication(engine, conn, session, d));
  return afterReauthentication(engine, conn, session, decision);
}

function afterReauthentication(engine: EngineApi, conn: Connection, session: Session, d: AuthDecision): Promise<void> | void {
  if (conn.state === 'closed' || engine.connectionOf(session) !== conn) {
    // Gone meanwhile, or its session taken over: nothing to authenticate any more.
    if (d.ok === true) d.settle?.(false);
    return;
  }
  if (d.ok === 'continue') {
    markReauthenticating(engine, conn, true);
    return continueAuthentication(engine, conn, d, (next) => afterReauthentication(engine, conn, session, next));
  }
  markReauthenticating(engine, conn, false);
  if (!d.ok) {
    engine.countAuthFailure();
    engine.events.connectRefused?.({ clientId: session.clientId, username: conn.username, ip: conn.trusted.ip, reasonCode: d.reasonCode, reason: d.reason });
    // The refusal's own text stays in the log: it names what exists (a username, a block), which the client must not learn.
    engine.disconnect(conn, disconnectCodeFor(d.reasonCode), 're-authentication failed', 'protocol-error');
    return;
  }
  d.settle?.(true);
  // What this connection does from now on is judged as the identity just authenticated, its will included.
  session.binding = d.binding;
  if (session.record.username !== d.username) {
    session.record.username = d.username;
    engine.saveSession(session);
  }
  conn.username = d.username;
  engine.saveSnapshot(conn, engine.clock.now());
  const authenticationData = d.authenticationData ? (d.authenticationData as Buffer) : undefined;
  engine.send(conn, { cmd: 'auth', reasonCode: RC.SUCCESS, properties: { authenticationMethod: conn.authenticationMethod!, ...(authenticationData ? { authenticationData } : {}) } });
}

/** Whether an exchange is open, in the socket attachment: the continuation itself does not survive hibernation. */
function markReauthenticating(engine: EngineApi, conn: Connection, open: boolean): void {
  if (conn.reauthenticating === open) return;
  conn.reauthenticating = open;
  engine.saveSnapshot(conn, engine.clock.now());
}
