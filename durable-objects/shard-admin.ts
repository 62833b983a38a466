import type { BrokerEngine } from '../protocol/engine/broker-engine';
import type { Clock } from '../protocol/ports';
import { BrokerState } from './admin/broker-state';
import { LiveEventStream } from './admin/live-events';
import { StatsHistory } from './admin/stats-history';
import type { ShardIdentityStore } from './shard-identity';

export { combineEvents, ADMIN_EVENTS_PATH, ADMIN_EVENTS_PROTOCOL_HEADER } from './admin/live-events';
export type { RetainedQuery, SessionQuery, SubscriptionQuery } from '../worker/admin/contract/broker';

/**
 * What the admin API asks of a broker shard, one part per job: the broker's
 * state (sessions, subscriptions, retained messages), its statistics, and the
 * live event stream. BrokerShard forwards its RPC methods to these parts, so
 * the platform class stays thin.
 */
export class ShardAdmin {
  readonly state: BrokerState;
  readonly stats: StatsHistory;
  readonly live: LiveEventStream;

  constructor(ctx: DurableObjectState, engine: () => BrokerEngine, changed: () => void, clock: Clock, identity: ShardIdentityStore) {
    this.state = new BrokerState(engine, clock, changed);
    this.stats = new StatsHistory(ctx.storage.sql, engine, clock);
    this.live = new LiveEventStream(ctx, engine, clock, () => identity.currentOrSingle().index);
  }
}
