import { z } from '@hono/zod-openapi';
import { booleanParam, isoTime, pageParams, sortOrder, timeParam } from '../schemas';
import { compareValues } from './page';

/**
 * What the admin API says about the broker's live state: sessions,
 * subscriptions, retained messages, statistics and live events. These
 * schemas are the contract: the routes validate and document with them, the
 * shard's results are their types, and the dashboard imports the types.
 */

/** Which broker shard holds a row: the admin API asks every shard and says where each answer came from. */
const shardIndex = z.number().int().min(0).openapi({ description: 'Index of the broker shard that holds it (0 to BROKER_SHARDS - 1)' });

/** A row as one shard knows it: the shard does not say its own index, the API adds it. */
export type OnShard<T> = Omit<T, 'shard'>;

export const SubscriptionSchema = z
  .object({
    shard: shardIndex,
    clientId: z.string(),
    topicFilter: z.string().openapi({ description: 'The filter without any `$share/<group>/` prefix' }),
    shareGroup: z.string().nullable(),
    qos: z.number().int(),
    noLocal: z.boolean(),
    retainAsPublished: z.boolean(),
    retainHandling: z.number().int(),
    subscriptionIdentifier: z.number().int().nullable(),
    createdAt: isoTime,
  })
  .openapi('Subscription');
export type SubscriptionView = z.infer<typeof SubscriptionSchema>;

export const SessionSchema = z
  .object({
    shard: shardIndex.openapi({ description: 'Index of the broker shard that holds the session: FNV-1a(client id) mod BROKER_SHARDS' }),
    clientId: z.string(),
    connected: z.boolean(),
    username: z.string().nullable(),
    ip: z.string().nullable().openapi({ description: 'Known while connected' }),
    protocolVersion: z.number().int().openapi({ description: '3 or 4 (MQTT 3.1 / 3.1.1) or 5' }),
    cleanStart: z.boolean().openapi({ description: 'The session ends with its connection (3.1.1 Clean Session = 1, or MQTT 5 Session Expiry Interval 0)' }),
    sessionExpiryInterval: z.number().int(),
    keepAlive: z.number().int().nullable(),
    subscriptions: z.number().int(),
    queueDepth: z.number().int(),
    inflight: z.number().int(),
    droppedMessages: z.number().int(),
    createdAt: isoTime,
    connectedAt: isoTime.nullable(),
    disconnectedAt: isoTime.nullable(),
    expiresAt: isoTime.nullable(),
  })
  .openapi('Session');
export type SessionView = z.infer<typeof SessionSchema>;

export const SessionDetailSchema = SessionSchema.extend({ subscriptionList: z.array(SubscriptionSchema), willPending: z.boolean() }).openapi('SessionDetail');
export type SessionDetail = z.infer<typeof SessionDetailSchema>;

export const RetainedSchema = z
  .object({
    shard: shardIndex,
    topic: z.string(),
    qos: z.number().int(),
    payloadSize: z.number().int().openapi({ description: 'Bytes' }),
    payload: z.string().nullable().openapi({ description: 'The payload as UTF-8 text, or null when it is not text. Lists show at most the first 1024 bytes.' }),
    payloadBase64: z.string(),
    payloadTruncated: z.boolean(),
    contentType: z.string().nullable(),
    createdAt: isoTime,
    expiresAt: isoTime.nullable(),
  })
  .openapi('RetainedMessage');
export type RetainedView = z.infer<typeof RetainedSchema>;

/** The broker's counters, listed once: the shard fills them, the API sums them over shards, the dashboard charts them. */
export const statsCounters = {
  connections: z.number().int().openapi({ description: 'MQTT clients connected now' }),
  connectionsTotal: z.number().int().openapi({ description: 'Accepted connections since counters started' }),
  messagesIn: z.number().int().openapi({ description: 'MQTT packets received (all types)' }),
  messagesOut: z.number().int().openapi({ description: 'MQTT packets sent (all types)' }),
  publishIn: z.number().int(),
  publishOut: z.number().int(),
  bytesIn: z.number().int(),
  bytesOut: z.number().int(),
  dropped: z.number().int().openapi({ description: 'Messages dropped (full queues, oversize for a client, retained limit)' }),
  authFailures: z.number().int(),
  sessions: z.number().int(),
  subscriptions: z.number().int(),
  retained: z.number().int(),
};
export const STATS_COUNTER_KEYS = Object.keys(statsCounters) as (keyof typeof statsCounters)[];

export const StatsSampleSchema = z.object({ at: isoTime, ...statsCounters }).openapi('StatsSample');
/** Billed Durable Object events, counted by the shards (docs/cost.md turns them into prices). */
export const DurableObjectEventsSchema = z
  .object({
    webSocketMessagesIn: z.number().int().openapi({ description: 'WebSocket messages the shards received (each billed as 1/20 request)' }),
    webSocketMessagesOut: z.number().int().openapi({ description: 'WebSocket messages the shards sent' }),
    upgrades: z.number().int().openapi({ description: 'WebSocket upgrades the shards accepted (one request each)' }),
    alarms: z.number().int().openapi({ description: 'Alarm invocations (one request each)' }),
    clusterCallsIn: z.number().int().openapi({ description: 'Calls from other shards the shards received: batches of messages and route changes, retained look-ups (one request each)' }),
    clusterEntriesOut: z.number().int().openapi({ description: 'Messages and route changes the shards sent to other shards, in however many batches' }),
  })
  .openapi('DurableObjectEvents', { description: 'Billed Durable Object events since startedAt; see docs/cost.md' });
export type DurableObjectEvents = z.infer<typeof DurableObjectEventsSchema>;
export const DURABLE_OBJECT_EVENT_KEYS = Object.keys(DurableObjectEventsSchema.shape) as (keyof DurableObjectEvents)[];

/** One shard's figures, as the shard reports them (GET /stats lists them under `shards`). */
export const ShardStatsSchema = z
  .object({
    shard: shardIndex,
    at: isoTime,
    startedAt: isoTime,
    uptimeSeconds: z.number().int(),
    ...statsCounters,
    durableObject: DurableObjectEventsSchema,
  })
  .openapi('ShardStats');

export const StatsSchema = z
  .object({
    at: isoTime,
    startedAt: isoTime.openapi({ description: 'When the longest-running shard started counting' }),
    uptimeSeconds: z.number().int(),
    ...statsCounters,
    durableObject: DurableObjectEventsSchema,
    shards: z.array(ShardStatsSchema).openapi({ description: 'Every shard, by index; the fields above are their sums' }),
  })
  .openapi('Stats', { description: 'Cluster totals: every counter is the sum over the shards' });

export const LiveEventSchema = z
  .object({
    shard: shardIndex,
    type: z.enum(['connected', 'disconnected', 'auth-failure']),
    at: isoTime,
    clientId: z.string(),
    username: z.string().nullable(),
    ip: z.string().nullable(),
    reasonCode: z.string().optional().openapi({ description: 'auth-failure: key into GET /reasons' }),
    reason: z.string().optional(),
  })
  .openapi('LiveEvent');
export type LiveEvent = z.infer<typeof LiveEventSchema>;

export const SESSION_SORT_KEYS = ['clientId', 'username', 'ip', 'connected', 'createdAt', 'disconnectedAt', 'subscriptions'] as const;

export const SessionListQuery = z.object({
  clientId: z.string().max(512).optional().openapi({ description: 'Substring of the client id, case-insensitive' }),
  username: z.string().max(512).optional(),
  ip: z.string().max(64).optional(),
  connected: booleanParam.optional(),
  cleanStart: booleanParam.optional(),
  sort: z.enum(SESSION_SORT_KEYS).default('clientId'),
  order: sortOrder.default('asc'),
  ...pageParams,
});

const qosList = z
  .string()
  .regex(/^[012](,[012])*$/, 'must be a comma-separated list of 0, 1, 2')
  .transform((s) => s.split(',').map(Number))
  .openapi({ type: 'string', example: '1,2' });

export const SubscriptionListQuery = z.object({
  clientId: z.string().max(512).optional().openapi({ description: 'Substring of the client id' }),
  topicFilter: z.string().max(4096).optional().openapi({ description: 'Substring of the topic filter, case-insensitive' }),
  qos: qosList.optional(),
  shareGroup: z.string().max(256).optional().openapi({ description: 'Exact shared subscription group' }),
  shared: booleanParam.optional().openapi({ description: 'true: only shared subscriptions; false: only direct ones' }),
  ...pageParams,
});

export const RetainedListQuery = z.object({
  topic: z.string().max(4096).optional().openapi({ description: 'Substring of the topic, case-insensitive' }),
  filter: z.string().max(4096).optional().openapi({ description: 'An MQTT topic filter the topic must match, e.g. sensors/+/temp' }),
  from: timeParam.optional().openapi({ description: 'Stored at or after' }),
  to: timeParam.optional().openapi({ description: 'Stored at or before' }),
  ...pageParams,
});

export type StatsView = z.infer<typeof StatsSchema>;
export type ShardStatsView = z.infer<typeof ShardStatsSchema>;
export type StatsSample = z.infer<typeof StatsSampleSchema>;
export type StatsCounters = Omit<StatsSample, 'at'>;
export type SessionSort = (typeof SESSION_SORT_KEYS)[number];

/** What a shard is asked for; the same fields the API validated. Times as epoch milliseconds. */
export type SessionQuery = z.output<typeof SessionListQuery>;
export type SubscriptionQuery = z.output<typeof SubscriptionListQuery>;
export type RetainedQuery = Omit<z.output<typeof RetainedListQuery>, 'from' | 'to'> & { from?: number; to?: number };

/**
 * The one session order, used by a shard for its page and by the API to merge
 * shards' pages. Ties break on the client id so paging never repeats a row.
 */
export function compareSessions(a: OnShard<SessionView>, b: OnShard<SessionView>, sort: SessionSort = 'clientId', order: 'asc' | 'desc' = 'asc'): number {
  const c = compareValues(a[sort], b[sort]);
  return c !== 0 ? (order === 'desc' ? -c : c) : compareValues(a.clientId, b.clientId);
}

/**
 * Subscriptions by topic filter, then client id, then shared group: one
 * client may hold the same filter in several groups, and paging must never
 * repeat or skip one of them.
 */
export function compareSubscriptions(a: OnShard<SubscriptionView>, b: OnShard<SubscriptionView>): number {
  return compareValues(a.topicFilter, b.topicFilter) || compareValues(a.clientId, b.clientId) || compareValues(a.shareGroup, b.shareGroup);
}

/** Retained messages by topic (each topic lives on one shard). */
export function compareRetained(a: OnShard<RetainedView>, b: OnShard<RetainedView>): number {
  return compareValues(a.topic, b.topic);
}
