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
 */
export function handleSubscribe(engine: EngineApi, conn: Connection, session: Session, packet: ISubscribePacket, now: number): void {
  const v5 = conn.protocolVersion === 5;
  const subscriptionId = v5 ? packet.properties?.subscriptionIdentifier : undefined;
  const sid = typeof subscriptionId === 'number' ? subscriptionId : Array.isArray(subscriptionId) ? subscriptionId[0] : null;
  const limits = { maxLength: engine.config.maxTopicLength, maxLevels: engine.config.maxTopicLevels };
  const principal = { clientId: session.clientId, username: session.record.username };
  const granted: number[] = [];
  const accepted: Array<{ record: SubscriptionRecord; isNew: boolean }> = [];

  for (const request of packet.subscriptions) {
    const filter = request.topic;
    const problem = validateTopicFilter(filter, limits);
    if (problem !== null) {
      granted.push(subackFailure(conn.protocolVersion!, RC.TOPIC_FILTER_INVALID));
      continue;
    }
    const shared = parseSharedFilter(filter);
    if (shared && v5 && request.nl) {
      // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
      engine.disconnect(conn, RC.PROTOCOL_ERROR, 'No Local on a shared subscription');
      return;
    }
    if (!engine.authorizer.canSubscribe(principal, filter)) {
      granted.push(subackFailure(conn.protocolVersion!, RC.NOT_AUTHORIZED));
      continue;
    }
    const existing = engine.subscriptions.get(session.clientId, filter);
    if (!existing && engine.subscriptions.countForClient(session.clientId) >= engine.config.maxSubscriptionsPerClient) {
      granted.push(subackFailure(conn.protocolVersion!, RC.QUOTA_EXCEEDED));
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
    engine.subscriptions.add(session.clientId, filter, record);
    engine.store.saveSubscription(record);
    granted.push(record.qos);
    accepted.push({ record, isNew: !existing });
  }

  engine.send(conn, { cmd: 'suback', messageId: packet.messageId, granted });
  engine.sys.subscriptionsChanged();

  for (const { record, isNew } of accepted) {
    if (record.retainHandling === 2 || (record.retainHandling === 1 && !isNew)) continue;
    if (record.filter.startsWith('$SYS')) {
      engine.sys.sendCurrent(conn, session, record, now);
      continue;
    }
    engine.sendRetained(conn, session, record, now);
  }
}
