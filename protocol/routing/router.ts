import type { BrokerMessage, Delivery, QoS, SubscriptionRecord } from '../store/records';
import type { SubscriptionIndex } from '../topics/subscription-index';
import type { ClusterNode, ForwardPlan } from '../cluster/cluster-node';
import type { DeliveryScope, ForwardedPublish } from '../cluster/messages';
import type { AckHolder } from '../engine/owed-ack';
import type { Recipients } from './recipients';
import type { Session } from '../engine/session';
import type { RetainedMessages } from './retained-messages';
import type { SharedGroups } from './shared-groups';
import type { SharedSubscriptionPolicy } from '../config';

/**
 * What routing one message did: how many sessions (or other shards) it went
 * to, and what the publisher's ack must wait for: recipients that are behind,
 * and batches on their way to other shards.
 */
export interface Routed {
  /**
   * Sessions and other shards it went to; a shared group with members here
   * that none could take (offline, at QoS 0) counts once, as a subscription
   * it matched: the PUBACK says 0x00, as for a plain subscription whose
   * offline session drops it, not 0x10 No matching subscribers.
   */
  deliveries: number;
  behind: AckHolder[];
}

const NOWHERE: Routed = { deliveries: 0, behind: [] };
const NO_HOLDERS: readonly AckHolder[] = [];

/** What routing uses of the cluster: the other shards' routes, and forwarding to them (over its MessageBus). */
export type ClusterRouting = Pick<ClusterNode, 'self' | 'homeOf' | 'plan' | 'planOnward' | 'serveGroup' | 'serveGroupConnected' | 'forward'>;

export interface RouterDeps {
  /** This shard's subscriptions. */
  subscriptions: SubscriptionIndex<SubscriptionRecord>;
  cluster: ClusterRouting;
  recipients: Recipients;
  sharedGroups: SharedGroups;
  retainedMessages: RetainedMessages;
  sharedSubscriptionPolicy: SharedSubscriptionPolicy;
}

/** Where a message goes: this shard's matching sessions, and the other shards with a matching subscription. */
export class Router {
  constructor(private readonly deps: RouterDeps) {}

  /**
   * A message the broker took responsibility for: retain it if asked (here,
   * or on the topic's retained home shard), then route it to every shard with
   * a matching subscription.
   */
  acceptMessage(message: BrokerMessage, now: number): Routed {
    const { cluster } = this.deps;
    let retainHome: number | null = null;
    if (message.retain) {
      const home = cluster.homeOf(message.topic);
      if (home === cluster.self) this.deps.retainedMessages.storeRetained(message);
      else retainHome = home;
    }
    return this.route(message, now, null, retainHome);
  }

  /** Another shard's message for subscribers here (and, as its retained home, for the retained store); returns the recipients that are behind. */
  routeForwarded(entry: ForwardedPublish, now: number): readonly AckHolder[] {
    if (entry.retain) this.deps.retainedMessages.storeRetained(entry.message);
    if (!entry.direct && entry.groups.length === 0) return NO_HOLDERS;
    return this.route(entry.message, now, entry).behind;
  }

  /**
   * A message for this shard's subscribers alone, shared groups served by
   * members here: $SYS, whose cluster-wide figures each shard with $SYS
   * subscribers publishes to its own. Forwarded as well, a subscriber would
   * get every figure once per such shard.
   */
  routeHere(message: BrokerMessage, now: number): Routed {
    return this.route(message, now, null, null, true);
  }

  /**
   * Delivers to this shard's matching subscribers and forwards to the other
   * shards that have some. A message from another shard (`scope`) is only
   * delivered here: to direct subscriptions if asked, and to the shared
   * groups that shard chose this one to serve.
   */
  route(message: BrokerMessage, now: number, scope: DeliveryScope | null = null, retainHome: number | null = null, hereOnly = false): Routed {
    const { cluster, recipients, sharedGroups } = this.deps;
    const matches = this.deps.subscriptions.match(message.topic);
    let plan = scope || hereOnly ? null : cluster.plan(message.topic, retainHome);
    // One delivery per client: overlapping subscriptions merge into the highest
    // QoS with every subscription identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3].
    let perClient: Map<string, Delivery> | null = null;
    const add = (sub: SubscriptionRecord) => {
      if (sub.noLocal && message.origin === sub.clientId) return; // [MQTT-3.8.3-3]
      const qos = Math.min(sub.qos, message.qos) as QoS;
      perClient ??= new Map();
      const existing = perClient.get(sub.clientId);
      if (existing) {
        if (qos > existing.qos) existing.qos = qos;
        if (sub.retainAsPublished && message.retain) existing.retain = true;
        if (sub.subscriptionId !== null) existing.subscriptionIds.push(sub.subscriptionId);
        return;
      }
      perClient.set(sub.clientId, {
        message,
        qos,
        // Retain As Published keeps the flag; otherwise it is cleared on forward [MQTT-3.3.1-12], [MQTT-3.3.1-13].
        retain: sub.retainAsPublished ? message.retain : false,
        subscriptionIds: sub.subscriptionId !== null ? [sub.subscriptionId] : [],
      });
    };
    if (!scope || scope.direct) for (const m of matches.direct) add(m.value);
    if (matches.shared.length > 0 || (plan && plan.remoteGroups.size > 0) || (scope && scope.groups.length > 0)) {
      const here = new Map(matches.shared.map((g) => [g.filter, g]));
      const serveHere = (key: string) => (connectedOnly: boolean) => {
        const group = here.get(key);
        const members = group ? group.members.map((m) => m.value) : [];
        const member =
          members.length === 0 ? null : connectedOnly ? sharedGroups.pickConnectedMember(key, members, message.topic) : sharedGroups.pickSharedMember(key, members, message.topic, message.qos);
        if (member) add(member);
        return member !== null;
      };
      if (scope) {
        for (const key of scope.groups) {
          // A connected member here first, else a persistent one here queues it: this shard was chosen, and
          // passing the message on could not bring it back here if the next shard's member is gone too.
          if (serveHere(key)(false)) continue;
          // No member here may take it (ACLs, or they left): a shard with a connected member gets it, else another shard with members.
          plan ??= cluster.planOnward(message.topic, scope);
          if (cluster.serveGroupConnected(plan, key)) continue;
          cluster.serveGroup(plan, key, false, serveHere(key), message.qos > 0);
        }
      } else {
        const keys = new Set([...here.keys(), ...(plan?.remoteGroups.keys() ?? [])]);
        for (const key of keys) {
          if (this.servedLocally(key, here.get(key), message, add)) continue;
          cluster.serveGroup(plan, key, here.has(key), serveHere(key), message.qos > 0);
        }
      }
    }
    const remote = plan && plan.remote.size > 0 ? plan : null;
    const routed = this.deliverRouted(message, now, perClient, remote);
    if (routed.deliveries === 0 && matches.shared.length > 0) return { deliveries: 1, behind: routed.behind };
    return routed;
  }

  /**
   * prefer_local: a connected member on this shard takes the message, and
   * no other shard is asked (one call fewer per message when publishers and
   * members share a shard). Otherwise the shards with members take turns.
   */
  private servedLocally(key: string, group: { members: ReadonlyArray<{ value: SubscriptionRecord }> } | undefined, message: BrokerMessage, add: (sub: SubscriptionRecord) => void): boolean {
    if (this.deps.sharedSubscriptionPolicy !== 'prefer_local' || !group) return false;
    const member = this.deps.sharedGroups.pickConnectedMember(key, group.members.map((m) => m.value), message.topic);
    if (member) add(member);
    return member !== null;
  }

  /**
   * Delivers, and notes the topic for the session's retained look-ups on
   * other shards if the message was sent or queued (not dropped): the older
   * retained message of that topic is then not sent after it.
   */
  private deliverLive(session: Session, delivery: Delivery, now: number): boolean {
    const { recipients } = this.deps;
    if (!session.awaitsRetained) return recipients.deliver(session, delivery, now);
    const dropped = session.record.droppedMessages;
    const behind = recipients.deliver(session, delivery, now);
    if (session.record.droppedMessages === dropped && recipients.connectionOf(session)) session.deliveredLive(delivery.message.topic);
    return behind;
  }

  /** Forwards to the planned shards and delivers to this shard's sessions. */
  private deliverRouted(message: BrokerMessage, now: number, perClient: Map<string, Delivery> | null, remote: ForwardPlan | null): Routed {
    const { cluster, recipients } = this.deps;
    if (!perClient && !remote) return NOWHERE;
    const routed: Routed = { deliveries: 0, behind: [] };
    if (remote) {
      // Another shard's subscribers count as deliveries (no 0x10 No matching subscribers); their shards' receipts hold the ack.
      for (const hold of cluster.forward(message, remote)) routed.behind.push(hold);
      for (const p of remote.remote.values()) if (p.direct || p.groups.length > 0) routed.deliveries++;
    }
    if (!perClient) return routed;
    for (const [clientId, delivery] of perClient) {
      const session = recipients.findSession(clientId);
      if (!session) continue;
      // ACLs are checked on delivery too: the rules may have changed since SUBSCRIBE.
      if (!recipients.mayReceive(session, message.topic)) continue;
      if (this.deliverLive(session, delivery, now)) routed.behind.push(session);
      routed.deliveries++;
    }
    return routed;
  }
}
