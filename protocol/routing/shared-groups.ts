import type { QoS, SubscriptionRecord } from '../store/records';
import { SharedGroupCursors } from '../topics/shared-group-cursors';
import type { Recipients } from './recipients';

/** Chooses one member of a shared subscription group (`$share/<group>/<filter>`) per message. */
export class SharedGroups {
  /** Per group, where the next round-robin search starts. */
  private readonly sharedCursor = new SharedGroupCursors();

  constructor(private readonly recipients: Recipients) {}

  /**
   * Round-robin over connected members; a persistent member queues when none
   * is connected, if its delivery would be queued at all: at QoS 0 (the
   * message's or its subscription's) an offline session gets nothing, so it
   * is passed over and the message can go where a member takes it. Members
   * the ACLs do not let receive this topic are passed over too.
   */
  pickSharedMember(groupKey: string, members: SubscriptionRecord[], topic: string, qos: QoS): SubscriptionRecord | null {
    const connected = this.pickConnectedMember(groupKey, members, topic);
    if (connected) return connected;
    const { recipients } = this;
    const start = this.sharedCursor.get(groupKey);
    for (let i = 0; i < members.length; i++) {
      const idx = (start + i) % members.length;
      const session = recipients.findSession(members[idx].clientId);
      if (session?.persistent && Math.min(members[idx].qos, qos) > 0 && recipients.mayReceive(session, topic)) {
        this.sharedCursor.set(groupKey, idx + 1);
        return members[idx];
      }
    }
    return null;
  }

  /** Round-robin over connected members that may receive the topic; null when none is. */
  pickConnectedMember(groupKey: string, members: SubscriptionRecord[], topic: string): SubscriptionRecord | null {
    const { recipients } = this;
    const start = this.sharedCursor.get(groupKey);
    for (let i = 0; i < members.length; i++) {
      const idx = (start + i) % members.length;
      const session = recipients.findSession(members[idx].clientId);
      if (session && recipients.connectionOf(session) && recipients.mayReceive(session, topic)) {
        this.sharedCursor.set(groupKey, idx + 1);
        return members[idx];
      }
    }
    return null;
  }
}
