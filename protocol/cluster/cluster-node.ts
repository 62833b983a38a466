import type { Clock } from '../ports';
import type { AckHolder, OwedAck } from '../engine/owed-ack';
import type { BrokerMessage } from '../store/records';
import type { ClusterStore } from './cluster-store';
import type { MessageBus } from './message-bus';
import { passedOverFor, type ClusterBatch, type ClusterEntry, type ClusterReceipt, type DeliveryScope, type ForwardedPublish } from './messages';
import { SharedGroupCursors } from '../topics/shared-group-cursors';
import { isSharedFilter } from '../topics/validate';
import { RouteTable } from './route-table';
import { shardIndexFor } from './shard-hash';

export interface ClusterNodeDeps {
  /** This shard's index, 0 .. shardCount - 1. */
  self: number;
  shardCount: number;
  store: ClusterStore;
  bus: MessageBus;
  clock: Clock;
  /** Told when a retry was scheduled outside any event, so the platform can set its alarm. */
  wakeChanged?(): void;
}

/** What the node needs of the engine to apply another shard's entries. */
export interface ClusterApplier {
  /** Delivers a forwarded message to this shard's subscribers (and stores it if this is its retained home); returns the recipients that are behind. */
  applyForwarded(entry: ForwardedPublish, now: number): readonly AckHolder[];
  /** Resolves once none of these recipients is a healthy one that is behind (flow-control.ts). */
  whenCaughtUp(behind: readonly AckHolder[]): Promise<void>;
  /** A message reached its shard and nothing there holds it: its publisher's ack may leave (flow-control.ts releaseHeldAcks). */
  released(holder: AckHolder): void;
  /** Entries that left for other shards, for the cost counters. */
  countSent?(entries: number): void;
  /** A QoS 0 message dropped on a full link, for the dropped counter. */
  countDropped?(): void;
  /** A route change arrived; $SYS and the admin view may want to know. */
  routesChanged?(): void;
  /** Whether a member of this shared group (`$share/<group>/<filter>`) is connected to this shard. */
  hasConnectedMember(key: string): boolean;
}

/** Where one accepted message goes besides this shard's own subscribers. */
export interface ForwardPlan {
  /** Per other shard: direct delivery, shared groups it serves, and whether it stores the message as the retained home. */
  remote: Map<number, { direct: boolean; groups: string[]; retain: boolean }>;
  /** Per shared group with members on other shards, those shards. */
  remoteGroups: Map<string, number[]>;
  /** Per shared group, the shards that were offered it and had no member that could take it. */
  passedOver: Map<string, number[]>;
}

const NO_GROUPS = new Map<string, number[]>();
const NO_SHARDS: readonly number[] = [];

/**
 * The ack of one QoS 1/2 message on its way to one other shard: it waits for
 * that shard's receipt, and then for as long as that shard says a recipient
 * of the message is behind.
 */
class EntryHold implements AckHolder {
  readonly heldAcks = new Set<OwedAck>();
}

interface PendingItem {
  seq: number | null;
  entry: ClusterEntry;
  /** The publisher's ack, for a QoS 1/2 message sent while its publisher is connected. */
  hold?: EntryHold;
}

/** An entry the receiving shard applied and holds (a recipient there is behind), and when to ask again whether it still does. */
interface HeldEntry {
  hold: EntryHold;
  askAt: number;
}

/**
 * Two lanes per pair of shards: route changes travel apart from messages, so
 * a SUBACK waiting for its route is never queued behind a flood of
 * publishes. MQTT orders messages per topic and QoS [MQTT-4.6.0-5]; nothing
 * orders a route change against a message, since the SUBACK waits for the
 * route either way.
 */
type Lane = 'messages' | 'routes';
/** The route lane's key in the store and in the receiver's dedupe table: shard index + this (BROKER_SHARDS is at most 64). */
const ROUTE_LANE_KEY = 1024;
const laneKey = (shard: number, lane: Lane) => (lane === 'routes' ? shard + ROUTE_LANE_KEY : shard);
/** The held entry asked about soonest (Link.held keeps them in that order). */
const firstHeld = (link: Link): HeldEntry | undefined => link.held.values().next().value;
/**
 * A shard tells the others which shared groups it has a connected member of
 * as a route key with this prefix. No topic filter can start with it ('#'
 * must be a filter's last character), so a shard running older code stores
 * it as a route that never matches.
 */
const CONNECTED_PREFIX = '#connected/';

/** The ordered, durable one-way channel from this shard to one other shard, for one lane. */
class Link {
  lastAppended = 0;
  /**
   * The last route change appended (routes lane): what a SUBACK waits for.
   * A `#connected/` entry is not one; a member connecting must not hold up
   * the next SUBACK.
   */
  lastRouteChange = 0;
  confirmedThrough = 0;
  /** Entries not yet confirmed, in order: durable ones (also in the store) and QoS 0 ones (memory only). */
  pending: PendingItem[] = [];
  volatileCount = 0;
  sending = false;
  /**
   * Entries the receiver holds, by sequence number, in the order they are
   * due to be asked about (an entry asked about again moves to the end), so
   * the earliest is always the first: no event has to walk them all.
   */
  held = new Map<number, HeldEntry>();
  /**
   * Entries of the batch on its way that the receiver already said it
   * released. Its release call and the batch's receipt travel apart, and the
   * release may come first; without this, the receipt would then hold the
   * entry until the sender asks, HELD_ASK_MS later. Only the batch in flight
   * can be in it, so it holds at most MAX_BATCH_ENTRIES.
   */
  releasedEarly = new Set<number>();
  /** The last durable entry of the batch on its way (0 when none is). */
  sentThrough = 0;
  asking = false;
  confirmWaiters: Array<{ seq: number; resolve: () => void }> = [];
  failures = 0;
  retryAt: number | null = null;
  /** When the current run of failed sends began; null while the link works. */
  failingSince: number | null = null;
  /** When the batch in flight left; a call that never answers is as unreachable as one that fails. */
  sentAt: number | null = null;

  constructor(
    readonly dest: number,
    readonly lane: Lane,
  ) {}

  get key(): number {
    return laneKey(this.dest, this.lane);
  }

  hasWork(): boolean {
    return this.pending.length > 0;
  }
}

/** Entries per RPC: enough to amortise the request under load, small enough to stay far below the RPC size limit. */
const MAX_BATCH_ENTRIES = 256;
/** QoS 0 messages waiting on one link; past this they are dropped, as QoS 0 is where overload sheds load. */
const MAX_VOLATILE_PER_LINK = 1000;
const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 5000;
/**
 * How long SUBACKs wait for a shard that cannot be reached. Past it they no
 * longer wait for that shard: one shard's outage must not stall every new
 * subscription (and the packets of its session behind it) on every other
 * shard. The route still reaches that shard when it is back (the link keeps
 * it); until then what is published there misses the new subscription.
 */
export const ROUTE_WAIT_MS = 5000;
/**
 * How often a sender asks about entries the receiver still holds. The
 * receiver says when it releases them; asking covers a receiver that
 * restarted (and so holds nothing any more) or a release call that failed.
 */
const HELD_ASK_MS = 5000;

/**
 * One shard's part of the cluster:
 * - the replicated route table (which other shards subscribe to what), kept
 *   current by route entries every shard sends when it gains its first or
 *   loses its last subscription with a filter;
 * - the plan for each accepted message: the shards with matching
 *   subscriptions, one shard per shared group, and the retained home;
 * - one link per other shard: entries are written to the store before the
 *   publisher is acknowledged, sent in order one batch at a time, retried
 *   until the receiver confirms, and applied there exactly once;
 * - the receiving side: dedupe by sequence number, apply, confirm; and for
 *   QoS 1/2 messages whose recipients here are behind, hold them and tell
 *   the sender when they are released, so only their publishers are slowed.
 *
 * Free of platform imports: the store and the bus are ports.
 */
export class ClusterNode {
  readonly self: number;
  readonly shardCount: number;
  readonly routes = new RouteTable();
  /** Local subscriptions per route key (filter), to announce the first and the last. */
  private readonly localKeys = new Map<string, number>();
  private readonly links = new Map<number, Link>();
  /** Per shared group with members on other shards, whose turn is next. */
  private readonly groupCursor = new SharedGroupCursors();
  /** Per shared group, the other shards that said a member of it is connected there. */
  private readonly connectedElsewhere = new Map<string, Set<number>>();
  /** Shared groups this shard told the others it has a connected member of. */
  private readonly toldConnected = new Set<string>();
  /** Shared groups whose members here connected, left, subscribed or unsubscribed in this event. */
  private readonly membersChanged = new Set<string>();
  private presenceQueued = false;
  private applier: ClusterApplier | null = null;
  private pumpQueued = false;
  /** Receiving side: entries from each shard whose recipients here are behind. */
  private readonly holding = new Map<number, Set<number>>();
  /** Receiving side: entries released since the last release call, per shard that sent them. */
  private readonly toRelease = new Map<number, number[]>();
  private releaseQueued = false;

  constructor(private readonly deps: ClusterNodeDeps) {
    this.self = deps.self;
    this.shardCount = deps.shardCount;
  }

  get clustered(): boolean {
    return this.shardCount > 1;
  }

  attach(applier: ClusterApplier): void {
    this.applier = applier;
  }

  /** After a restart: the route table, and whatever the links still owe (sent again at once). */
  restore(): void {
    if (!this.clustered) return;
    for (const { shard, key } of this.deps.store.loadRoutes()) {
      if (shard >= this.shardCount) continue;
      if (key.startsWith(CONNECTED_PREFIX)) this.restoreConnected(shard, key.slice(CONNECTED_PREFIX.length));
      else if (shard !== this.self) this.routes.add(shard, key);
    }
    // What was told before the restart is checked against the connections that came back.
    for (const key of this.toldConnected) this.sharedMembersChanged(key);
    for (const key of this.localKeys.keys()) if (isSharedFilter(key)) this.sharedMembersChanged(key);
    const now = this.deps.clock.now();
    for (const { dest: key, lastAppended, oldestUnconfirmed } of this.deps.store.loadLinks()) {
      const lane: Lane = key >= ROUTE_LANE_KEY ? 'routes' : 'messages';
      const dest = lane === 'routes' ? key - ROUTE_LANE_KEY : key;
      if (dest === this.self || dest >= this.shardCount) continue;
      const link = this.link(dest, lane);
      link.lastAppended = lastAppended;
      // Whatever was owed before the restart counts as route changes: SUBACKs wait for it, as before.
      link.lastRouteChange = lastAppended;
      link.confirmedThrough = oldestUnconfirmed === null ? lastAppended : oldestUnconfirmed - 1;
      if (oldestUnconfirmed !== null) {
        for (;;) {
          const page = this.deps.store.peekOutbox(key, link.pending.at(-1)?.seq ?? link.confirmedThrough, 1000);
          if (page.length === 0) break;
          for (const item of page) link.pending.push(item);
        }
        link.retryAt = now;
      }
    }
  }

  /** The shard that stores a topic's retained message. */
  homeOf(topic: string): number {
    return shardIndexFor(topic, this.shardCount);
  }

  // ---------------------------------------------------------------- local subscriptions

  /** A local subscription with this filter was added; the first one is announced to every other shard. */
  localSubscriptionAdded(key: string): void {
    const count = this.localKeys.get(key) ?? 0;
    this.localKeys.set(key, count + 1);
    if (count === 0 && this.clustered) this.broadcast({ kind: 'route', key, add: true });
    if (isSharedFilter(key)) this.sharedMembersChanged(key);
  }

  /** A local subscription with this filter is gone; the last one is announced. */
  localSubscriptionRemoved(key: string): void {
    const count = this.localKeys.get(key) ?? 0;
    if (count <= 1) {
      this.localKeys.delete(key);
      if (count === 1 && this.clustered) this.broadcast({ kind: 'route', key, add: false });
    } else {
      this.localKeys.set(key, count - 1);
    }
    if (isSharedFilter(key)) this.sharedMembersChanged(key);
  }

  /**
   * A member of this shared group connected or left. Once the event's work
   * is done, the other shards are told if the group went from no connected
   * member here to one, or back: they give its messages to shards with a
   * connected member first (serveGroup).
   */
  sharedMembersChanged(key: string): void {
    if (!this.clustered) return;
    this.membersChanged.add(key);
    if (this.presenceQueued) return;
    this.presenceQueued = true;
    queueMicrotask(() => {
      this.presenceQueued = false;
      this.tellConnectedMembers();
    });
  }

  private tellConnectedMembers(): void {
    const applier = this.applier;
    if (!applier) return;
    for (const key of this.membersChanged) {
      const connected = applier.hasConnectedMember(key);
      if (connected === this.toldConnected.has(key)) continue;
      const stored = CONNECTED_PREFIX + key;
      if (connected) {
        this.toldConnected.add(key);
        this.deps.store.addRoute(this.self, stored);
      } else {
        this.toldConnected.delete(key);
        this.deps.store.removeRoute(this.self, stored);
      }
      this.broadcast({ kind: 'route', key: stored, add: connected });
    }
    this.membersChanged.clear();
  }

  private restoreConnected(shard: number, key: string): void {
    if (shard === this.self) this.toldConnected.add(key);
    else this.connectedOn(shard, key, true);
  }

  private connectedOn(shard: number, key: string, connected: boolean): void {
    let shards = this.connectedElsewhere.get(key);
    if (connected) {
      if (!shards) this.connectedElsewhere.set(key, (shards = new Set()));
      shards.add(shard);
    } else if (shards?.delete(shard) && shards.size === 0) {
      this.connectedElsewhere.delete(key);
    }
  }

  /** Counts subscriptions restored from storage; their routes were announced when they were made. */
  localSubscriptionRestored(key: string): void {
    this.localKeys.set(key, (this.localKeys.get(key) ?? 0) + 1);
  }

  /**
   * Resolves once every other shard has applied the route changes this
   * shard sent so far, so a SUBACK can promise that publishes from anywhere
   * now reach the new subscription. Null when nothing is owed.
   */
  whenConfirmed(): Promise<void> | null {
    const waits: Promise<void>[] = [];
    const now = this.deps.clock.now();
    for (const link of this.links.values()) {
      if (link.lane !== 'routes' || link.lastRouteChange <= link.confirmedThrough) continue;
      if (this.waitedLongEnough(link, now)) continue;
      const seq = link.lastRouteChange;
      waits.push(new Promise((resolve) => link.confirmWaiters.push({ seq, resolve })));
    }
    if (waits.length === 0) return null;
    return Promise.all(waits).then(() => undefined);
  }

  /** A shard that has failed every send, or not answered one, for ROUTE_WAIT_MS holds no SUBACK (see ROUTE_WAIT_MS). */
  private waitedLongEnough(link: Link, now: number): boolean {
    const since = this.unreachableSince(link);
    return since !== null && now - since >= ROUTE_WAIT_MS;
  }

  private unreachableSince(link: Link): number | null {
    if (link.failingSince !== null) return link.failingSince;
    return link.sending ? link.sentAt : null;
  }

  private stopWaitingFor(link: Link): void {
    if (link.confirmWaiters.length === 0) return;
    console.error(`edgemq: shard ${this.self}: SUBACKs no longer wait for shard ${link.dest}, unreachable for ${ROUTE_WAIT_MS / 1000} s; it gets the routes when it is back`);
    const waiting = link.confirmWaiters;
    link.confirmWaiters = [];
    for (const w of waiting) w.resolve();
  }

  private broadcast(entry: ClusterEntry): void {
    const routeChange = entry.kind === 'route' && !entry.key.startsWith(CONNECTED_PREFIX);
    for (let dest = 0; dest < this.shardCount; dest++) {
      if (dest === this.self) continue;
      const link = this.link(dest, 'routes');
      const item = this.appendDurable(link, entry);
      if (routeChange) link.lastRouteChange = item.seq!;
    }
  }

  // ---------------------------------------------------------------- publishing

  /**
   * Where a message goes besides this shard's own subscribers: the shards
   * with a matching direct subscription, and the retained home. Shared groups
   * are added by serveGroup. Null when nothing leaves this shard and no other
   * shard has a shared group for it.
   */
  plan(topic: string, retainHome: number | null): ForwardPlan | null {
    return this.planFor(topic, retainHome, null, true);
  }

  /** For a message another shard forwarded: only its shared groups may go on, each to shards not yet offered it (nor back here). */
  planOnward(topic: string, scope: DeliveryScope): ForwardPlan | null {
    return this.planFor(topic, null, scope, false);
  }

  private planFor(topic: string, retainHome: number | null, scope: DeliveryScope | null, direct: boolean): ForwardPlan | null {
    if (!this.clustered) return null;
    const matches = this.routes.match(topic);
    if ((!direct || matches.direct.length === 0) && matches.groups.size === 0 && retainHome === null) return null;
    const plan: ForwardPlan = { remote: new Map(), remoteGroups: matches.groups.size > 0 ? matches.groups : NO_GROUPS, passedOver: new Map() };
    if (scope) for (const key of scope.groups) plan.passedOver.set(key, [...passedOverFor(scope, key), this.self]);
    if (direct) for (const shard of matches.direct) this.to(plan, shard).direct = true;
    if (retainHome !== null) this.to(plan, retainHome).retain = true;
    return plan;
  }

  /**
   * One shard serves each message of a shared group: round-robin over the
   * shards that have members (this one included), skipping shards that were
   * already offered it. Shards with a connected member come first, as a
   * shard does among its own members (shared-groups.ts): a shard whose
   * members are all offline persistent sessions would only queue the message
   * while a connected member elsewhere could take it now. Only when no member
   * is connected anywhere does a shard with a persistent member queue it.
   * `serveHere` tries a member on this shard (only a connected one when
   * asked, and one that may read the topic); when it cannot, the next shard
   * is asked, so a message is not lost because the shard whose turn it was
   * has no member that may take it. A QoS 0 message (`queueable` false) stops
   * where no member is connected: an offline session does not queue it, so
   * offering it to the shards with offline members would only cost calls.
   */
  serveGroup(plan: ForwardPlan | null, key: string, hereHasMembers: boolean, serveHere: (connectedOnly: boolean) => boolean, queueable = true): void {
    const remote = this.shardsToOffer(plan, key);
    if (remote.length === 0) {
      if (hereHasMembers) serveHere(false);
      return;
    }
    const candidates = hereHasMembers ? [...remote, this.self].sort((a, b) => a - b) : remote;
    const turn = this.nextTurn(key);
    if (this.serveConnected(plan!, key, candidates, turn, serveHere)) return;
    if (!queueable) return;
    for (let i = 0; i < candidates.length; i++) {
      const chosen = candidates[(turn + i) % candidates.length];
      if (chosen !== this.self) {
        this.to(plan!, chosen).groups.push(key);
        return;
      }
      if (serveHere(false)) return;
      this.passedOverOf(plan!, key).push(this.self);
    }
  }

  /**
   * Another shard chose this one for a group's message, and no member here
   * is connected (one left since that shard was told): a shard where one
   * is connected takes it, if there is one not yet offered it. False when
   * there is none.
   */
  serveGroupConnected(plan: ForwardPlan | null, key: string): boolean {
    const remote = this.shardsToOffer(plan, key);
    return remote.length > 0 && this.serveConnected(plan!, key, remote, this.nextTurn(key), () => false);
  }

  /** Round-robin over the candidates with a connected member; false when none has one or none here may take it. */
  private serveConnected(plan: ForwardPlan, key: string, candidates: readonly number[], turn: number, serveHere: (connectedOnly: boolean) => boolean): boolean {
    const elsewhere = this.connectedElsewhere.get(key);
    const connected = candidates.filter((s) => (s === this.self ? this.applier?.hasConnectedMember(key) === true : elsewhere?.has(s) === true));
    for (let i = 0; i < connected.length; i++) {
      const chosen = connected[(turn + i) % connected.length];
      if (chosen !== this.self) {
        this.to(plan, chosen).groups.push(key);
        return true;
      }
      if (serveHere(true)) return true;
    }
    return false;
  }

  /** The other shards with members of the group that were not offered this message yet, in index order. */
  private shardsToOffer(plan: ForwardPlan | null, key: string): number[] {
    if (!plan) return [];
    const passedOver = this.passedOverOf(plan, key);
    return (plan.remoteGroups.get(key) ?? NO_SHARDS).filter((s) => s !== this.self && !passedOver.includes(s)).sort((a, b) => a - b);
  }

  private passedOverOf(plan: ForwardPlan, key: string): number[] {
    let shards = plan.passedOver.get(key);
    if (!shards) plan.passedOver.set(key, (shards = []));
    return shards;
  }

  private nextTurn(key: string): number {
    const turn = this.groupCursor.get(key);
    this.groupCursor.set(key, turn + 1);
    return turn;
  }

  private to(plan: ForwardPlan, shard: number) {
    let p = plan.remote.get(shard);
    if (!p) plan.remote.set(shard, (p = { direct: false, groups: [], retain: false }));
    return p;
  }

  /**
   * Puts the message on each planned link. QoS 1/2 messages are stored
   * before this returns (the publisher's ack follows them to storage); the
   * holds returned keep that ack until the receiving shards confirm.
   */
  forward(message: BrokerMessage, plan: ForwardPlan): EntryHold[] {
    const holds: EntryHold[] = [];
    for (const [dest, p] of plan.remote) {
      const link = this.link(dest, 'messages');
      if (!p.direct && p.groups.length === 0 && !p.retain) continue;
      const passedOverByGroup: Record<string, number[]> = {};
      for (const key of p.groups) passedOverByGroup[key] = [...this.passedOverOf(plan, key)];
      const passedOver = [...new Set(Object.values(passedOverByGroup).flat())];
      const entry: ForwardedPublish = { kind: 'publish', message, direct: p.direct, groups: p.groups, retain: p.retain, passedOver, passedOverByGroup };
      // A retained message (even QoS 0) replaces state on its home shard, so it must not be lost.
      if (message.qos === 0 && !p.retain) {
        if (link.volatileCount >= MAX_VOLATILE_PER_LINK) {
          this.applier?.countDropped?.();
          continue;
        }
        link.pending.push({ seq: null, entry });
        link.volatileCount++;
        this.pumpSoon();
        continue;
      }
      const item = this.appendDurable(link, entry);
      if (message.qos === 0) continue;
      item.hold = new EntryHold();
      holds.push(item.hold);
    }
    return holds;
  }

  private appendDurable(link: Link, entry: ClusterEntry): PendingItem {
    const seq = this.deps.store.appendOutbox(link.key, entry);
    link.lastAppended = seq;
    const item: PendingItem = { seq, entry };
    link.pending.push(item);
    this.pumpSoon();
    return item;
  }

  /**
   * Sends once the current event's synchronous work is done, so everything
   * one event produced for a shard leaves in one batch (and after the writes
   * that guard it), whatever path the event took.
   */
  private pumpSoon(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Retained messages stored on shard `home` that match these filters. */
  retainedFrom(home: number, filters: string[]): Promise<BrokerMessage[]> {
    return this.deps.bus.retained(home, filters);
  }

  // ---------------------------------------------------------------- sending

  /** Sends what the links owe: one batch in flight per link. Called after every event. */
  pump(): void {
    if (!this.clustered) return;
    const now = this.deps.clock.now();
    for (const link of this.links.values()) {
      if (link.lane === 'routes' && link.confirmWaiters.length > 0 && this.waitedLongEnough(link, now)) this.stopWaitingFor(link);
      if (!link.asking) this.askAboutHeld(link, now);
      if (link.sending || !link.hasWork()) continue;
      if (link.retryAt !== null && link.retryAt > now) continue;
      this.send(link);
    }
  }

  /** Earliest retry, for the platform's alarm. */
  nextWakeAt(): number | null {
    let next: number | null = null;
    const earlier = (at: number) => {
      if (next === null || at < next) next = at;
    };
    for (const link of this.links.values()) {
      if (!link.sending && link.hasWork() && link.retryAt !== null) earlier(link.retryAt);
      // SUBACKs waiting for a shard stop waiting at ROUTE_WAIT_MS even if no call ends before then.
      const since = link.confirmWaiters.length > 0 ? this.unreachableSince(link) : null;
      if (since !== null) earlier(since + ROUTE_WAIT_MS);
      const first = link.asking ? undefined : firstHeld(link);
      if (first) earlier(first.askAt);
    }
    return next;
  }

  /** Entries not yet confirmed, per link: how far behind the other shards are (admin and $SYS). */
  backlog(): number {
    let n = 0;
    for (const link of this.links.values()) n += link.pending.length;
    return n;
  }

  private send(link: Link): void {
    const items = link.pending.slice(0, MAX_BATCH_ENTRIES);
    // The store's rows only: the acks stay here, with their items.
    const batch: ClusterBatch = { from: this.self, to: link.dest, lane: link.lane, entries: items.map(({ seq, entry }) => ({ seq, entry })) };
    link.sending = true;
    link.sentAt = this.deps.clock.now();
    link.sentThrough = items.reduce((last, item) => (item.seq !== null && item.seq > last ? item.seq : last), 0);
    this.applier?.countSent?.(items.length);
    this.deps.bus.deliver(batch).then(
      (receipt) => this.confirmed(link, items, receipt),
      (err) => this.failed(link, items, err),
    );
  }

  private confirmed(link: Link, items: PendingItem[], receipt: ClusterReceipt): void {
    link.sending = false;
    link.sentAt = null;
    link.failures = 0;
    link.failingSince = null;
    link.retryAt = null;
    for (const item of link.pending.splice(0, items.length)) if (item.seq === null) link.volatileCount--;
    if (receipt.appliedThrough > link.confirmedThrough) {
      link.confirmedThrough = receipt.appliedThrough;
      this.deps.store.deleteOutboxThrough(link.key, receipt.appliedThrough);
    }
    // Each message's ack goes now, unless a recipient over there is behind:
    // then it waits for that shard's word, and only that publisher is slowed.
    const held = new Set(receipt.held ?? []);
    for (const seq of link.releasedEarly) held.delete(seq);
    link.releasedEarly.clear();
    link.sentThrough = 0;
    const askAt = this.deps.clock.now() + HELD_ASK_MS;
    let acksMoved = false;
    for (const item of items) {
      if (!item.hold) continue;
      acksMoved = true;
      if (held.has(item.seq!)) link.held.set(item.seq!, { hold: item.hold, askAt });
      else this.release(item.hold);
    }
    // Held entries are asked after; released acks may arm their publisher's spill (SessionDelivery.acknowledgementsSent).
    if (acksMoved) this.deps.wakeChanged?.();
    const ready = link.confirmWaiters.filter((w) => w.seq <= link.confirmedThrough);
    if (ready.length > 0) {
      link.confirmWaiters = link.confirmWaiters.filter((w) => w.seq > link.confirmedThrough);
      for (const w of ready) w.resolve();
    }
    this.pump();
  }

  private failed(link: Link, items: PendingItem[], err: unknown): void {
    link.sending = false;
    link.sentAt = null;
    link.failures++;
    // The retry's receipt names what the receiver still holds; an applied entry it released is not named again.
    link.releasedEarly.clear();
    link.sentThrough = 0;
    // QoS 0 is at most once: what may already have been applied is not sent again.
    // Durable entries stay queued, with the acks they carry, for the retry.
    const sentVolatile = new Set(items.filter((i) => i.seq === null));
    if (sentVolatile.size > 0) {
      link.pending = link.pending.filter((i) => !sentVolatile.has(i));
      link.volatileCount -= sentVolatile.size;
    }
    const now = this.deps.clock.now();
    link.failingSince ??= now;
    if (link.lane === 'routes' && this.waitedLongEnough(link, now)) this.stopWaitingFor(link);
    const delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(link.failures - 1, 6));
    link.retryAt = now + delay;
    if (link.failures === 1 || link.failures % 10 === 0) console.error(`edgemq: shard ${this.self} could not reach shard ${link.dest} (attempt ${link.failures}); retrying`, err);
    this.deps.wakeChanged?.();
  }

  /** The receiving shard no longer holds these entries: their publishers' acks may leave. */
  entriesReleased(from: number, seqs: number[]): void {
    const link = this.links.get(laneKey(from, 'messages'));
    if (!link) return;
    for (const seq of seqs) {
      const entry = link.held.get(seq);
      if (!entry) {
        // Released before its batch's receipt came back: the receipt will name it as held.
        if (link.sending && seq > link.confirmedThrough && seq <= link.sentThrough) link.releasedEarly.add(seq);
        continue;
      }
      link.held.delete(seq);
      this.release(entry.hold);
    }
  }

  /** Asks the receiver about entries held longer than HELD_ASK_MS; what it no longer holds is released. */
  private askAboutHeld(link: Link, now: number): void {
    if ((firstHeld(link)?.askAt ?? Infinity) > now) return;
    const due: number[] = [];
    for (const [seq, entry] of link.held) {
      if (entry.askAt > now) break;
      due.push(seq);
    }
    link.asking = true;
    const again = (stillHeld: readonly number[]) => {
      link.asking = false;
      const askAt = this.deps.clock.now() + HELD_ASK_MS;
      const still = new Set(stillHeld);
      for (const seq of still) {
        const entry = link.held.get(seq);
        if (!entry) continue;
        // To the end, keeping the map in askAt order.
        link.held.delete(seq);
        link.held.set(seq, { hold: entry.hold, askAt });
      }
      this.entriesReleased(link.dest, due.filter((seq) => !still.has(seq)));
      this.deps.wakeChanged?.();
    };
    this.deps.bus.stillHeld(link.dest, this.self, due).then(again, () => again(due));
  }

  private release(hold: EntryHold): void {
    // Through the engine, so the released acks leave in each publisher's order.
    this.applier?.released(hold);
  }

  private link(dest: number, lane: Lane): Link {
    const key = laneKey(dest, lane);
    let link = this.links.get(key);
    if (!link) this.links.set(key, (link = new Link(dest, lane)));
    return link;
  }

  // ---------------------------------------------------------------- receiving

  /**
   * Applies another shard's batch: entries already applied are skipped (a
   * retry after a lost receipt), the rest are applied and the new position is
   * stored in the same synchronous step, so a restart can neither lose nor
   * repeat one. The receipt leaves at once, so the link moves on; it names
   * the QoS 1/2 entries whose recipients here are behind, and their
   * publishers' acks wait on the sending shard until this one releases them.
   */
  receive(batch: ClusterBatch): ClusterReceipt {
    const applier = this.applier;
    if (!applier) throw new Error('cluster node not attached to an engine');
    if (batch.to !== this.self) throw new Error(`batch for shard ${batch.to} reached shard ${this.self}`);
    const now = this.deps.clock.now();
    const origin = laneKey(batch.from, batch.lane);
    let applied = this.deps.store.lastApplied(origin);
    const startedAt = applied;
    const held: number[] = [];
    let routesChanged = false;
    for (const { seq, entry } of batch.entries) {
      if (seq !== null) {
        if (seq <= applied) continue;
        applied = seq;
      }
      if (entry.kind === 'route') {
        if (entry.add) this.deps.store.addRoute(batch.from, entry.key);
        else this.deps.store.removeRoute(batch.from, entry.key);
        if (entry.key.startsWith(CONNECTED_PREFIX)) {
          this.connectedOn(batch.from, entry.key.slice(CONNECTED_PREFIX.length), entry.add);
          continue;
        }
        routesChanged = true;
        if (entry.add) this.routes.add(batch.from, entry.key);
        else this.routes.remove(batch.from, entry.key);
      } else {
        const behind = applier.applyForwarded(entry, now);
        // Only a QoS 1/2 publisher has an ack to withhold.
        if (behind.length > 0 && seq !== null && entry.message.qos > 0) {
          held.push(seq);
          this.hold(batch.from, seq, behind);
        }
      }
    }
    if (applied !== startedAt) this.deps.store.setLastApplied(origin, applied);
    if (routesChanged) applier.routesChanged?.();
    return held.length > 0 ? { appliedThrough: applied, held } : { appliedThrough: applied };
  }

  /** Which of these entries from shard `from` are still held here (another shard asking after a while). */
  stillHeld(from: number, seqs: number[]): number[] {
    const holding = this.holding.get(from);
    return holding ? seqs.filter((seq) => holding.has(seq)) : [];
  }

  /** Holds an entry while its recipients here are behind, then tells the sending shard. */
  private hold(from: number, seq: number, behind: readonly AckHolder[]): void {
    let holding = this.holding.get(from);
    if (!holding) this.holding.set(from, (holding = new Set()));
    holding.add(seq);
    void this.applier!.whenCaughtUp(behind).then(() => {
      holding.delete(seq);
      const list = this.toRelease.get(from) ?? [];
      list.push(seq);
      this.toRelease.set(from, list);
      this.releaseSoon();
    });
  }

  /** One release call per sending shard for what one event released. */
  private releaseSoon(): void {
    if (this.releaseQueued) return;
    this.releaseQueued = true;
    queueMicrotask(() => {
      this.releaseQueued = false;
      for (const [to, seqs] of this.toRelease) {
        // A failed call is not retried: the sender asks after HELD_ASK_MS.
        this.deps.bus.released(to, this.self, seqs).catch(() => undefined);
      }
      this.toRelease.clear();
    });
  }
}
