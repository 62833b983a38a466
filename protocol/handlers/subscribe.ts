import type { ISubscribePacket } from 'mqtt-packet';
import type { EngineApi } from '../engine/engine-api';
import type { Connection } from '../engine/connection';
import type { Session } from '../engine/session';
import { RC, subackFailure } from '../reason-codes';
import type { QoS, SubscriptionRecord } from '../store/records';
import { parseSharedFilter, validateTopicFilter } from '../topics/validate';

/**
 * SUBSCRIBE: each filter gets its own answer (validate, authorize, check
 * quota, store), one SUBACK for all [MQTT-3.8.4-1], then retained messages as
 * Retain Handling asks [MQTT-3.3.1-9..11].
 *
 * In a cluster, a filter new to this shard is announced to every other shard
 * first: the SUBACK waits until they have it, so whatever is published
 * anywhere after the SUBACK reaches the subscription. A shard that has been
 * unreachable for ROUTE_WAIT_MS is not waited for (cluster-node.ts): it gets
 * the route when it is back. Retained messages stored on other shards follow
 * when those shards answer.
 */
export function handleSubscribe(engine: EngineApi, conn: Connection, session: Session, packet: ISubscribePacket, now: number): Promise<void> | void {
  const answer = subscribeEach(engine, conn, session, packet, now);
  if (!answer) return;
  const announced = engine.whenRoutesConfirmed();
  if (!announced) return acknowledge(engine, conn, session, packet, answer, now);
  return announced.then(() => {
    if (conn.state !== 'connected' || engine.connectionOf(session) !== conn) return;
    return acknowledge(engine, conn, session, packet, answer, engine.clock.now());
  });
}

interface SubscribeAnswer {
  granted: number[];
  accepted: Array<{ record: SubscriptionRecord; isNew: boolean }>;
}

/** Validates, authorizes and stores each filter; null when the connection was closed. */
function subscribeEach(engine: EngineApi, conn: Connection, session: Session, packet: ISubscribePacket, now: number): SubscribeAnswer | null {
  const v5 = conn.protocolVersion === 5;
  const subscriptionId = v5 ? packet.properties?.subscriptionIdentifier : undefined;
  const sid = typeof subscriptionId === 'number' ? subscriptionId : Array.isArray(subscriptionId) ? subscriptionId[0] : null;
  const limits = { maxLength: engine.config.maxTopicLength, maxLevels: engine.config.maxTopicLevels };
  const principal = { clientId: session.clientId, username: session.record.username };
  const answer: SubscribeAnswer = { granted: [], accepted: [] };

  for (const request of packet.subscriptions) {
    const filter = request.topic;
    const problem = validateTopicFilter(filter, limits);
    if (problem !== null) {
      answer.granted.push(subackFailure(conn.protocolVersion!, RC.TOPIC_FILTER_INVALID));
      continue;
    }
    const shared = parseSharedFilter(filter);
    if (shared && v5 && request.nl) {
      // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
      engine.disconnect(conn, RC.PROTOCOL_ERROR, 'No Local on a shared subscription');
      return null;
    }
    if (!engine.authorizer.canSubscribe(principal, filter)) {
      answer.granted.push(subackFailure(conn.protocolVersion!, RC.NOT_AUTHORIZED));
      continue;
    }
    const existing = engine.findSubscription(session.clientId, filter);
    if (!existing && engine.subscriptionCount(session.clientId) >= engine.config.maxSubscriptionsPerClient) {
      answer.granted.push(subackFailure(conn.protocolVersion!, RC.QUOTA_EXCEEDED));
      continue;
    }
    const record: SubscriptionRecord = {
      clientId: session.clientId,
      filter,
      qos: request.qos as QoS,
      noLocal: v5 ? Boolean(request.nl) : false,
      retainAsPublished: v5 ? Boolean(request.rap) : false,
      retainHandling: v5 ? ((request.rh ?? 0) as 0 | 1 | 2) : 0,
      subscriptionId: sid ?? null,
      createdAt: existing?.createdAt ?? now,
    };
    // A repeated filter replaces the old subscription [MQTT-3.8.4-3].
    const isNew = engine.addSubscription(record);
    answer.granted.push(record.qos);
    answer.accepted.push({ record, isNew });
  }
  return answer;
}

/** SUBACK, then the retained messages each accepted filter asks for. */
function acknowledge(engine: EngineApi, conn: Connection, session: Session, packet: ISubscribePacket, answer: SubscribeAnswer, now: number): Promise<void> | void {
  engine.send(conn, { cmd: 'suback', messageId: packet.messageId, granted: answer.granted });
  engine.sys.subscriptionsChanged();

  const later: Promise<void>[] = [];
  for (const { record, isNew } of answer.accepted) {
    if (record.retainHandling === 2 || (record.retainHandling === 1 && !isNew)) continue;
    if (record.filter.startsWith('$SYS')) {
      engine.sys.sendCurrent(conn, session, record, now);
      continue;
    }
    const remote = engine.sendRetained(conn, session, record, now);
    if (remote) later.push(remote);
  }
  if (later.length > 0) return Promise.all(later).then(() => undefined);
}
