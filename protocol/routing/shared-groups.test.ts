import { describe, expect, it } from 'vitest';
import { Connection } from '../engine/connection';
import { Session } from '../engine/session';
import type { SubscriptionRecord } from '../store/records';
import type { Recipients } from './recipients';
import { SharedGroups } from './shared-groups';

const trusted = { ip: '127.0.0.1', tls: false, tlsClientAuth: null, subprotocol: 'mqtt' };

/** Sessions by client id: connected or not, persistent or not, allowed to receive or not. */
function recipientsOf(members: Record<string, { connected: boolean; persistent?: boolean; denied?: boolean }>): Recipients {
  const sessions = new Map<string, Session>();
  for (const [clientId, m] of Object.entries(members)) {
    const session = new Session({ clientId, protocolVersion: 5, expiryInterval: m.persistent ? 60 : 0, disconnectedAt: null, will: null, willDueAt: null, droppedMessages: 0, username: null, createdAt: 0 });
    sessions.set(clientId, session);
  }
  return {
    findSession: (clientId) => sessions.get(clientId),
    connectionOf: (session) => (members[session.clientId].connected ? new Connection(session.clientId, trusted, 0, 1024) : undefined),
    mayReceive: (session) => !members[session.clientId].denied,
    deliver: () => false,
  };
}

const member = (clientId: string): SubscriptionRecord => ({ clientId, filter: '$share/g/t', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0, subscriptionId: null, createdAt: 0 });

describe('SharedGroups', () => {
  it('takes connected members in turn, passing over those the ACLs refuse', () => {
    const groups = new SharedGroups(recipientsOf({ a: { connected: true }, b: { connected: true, denied: true }, c: { connected: true } }));
    const members = ['a', 'b', 'c'].map(member);
    const picked = Array.from({ length: 4 }, () => groups.pickSharedMember('$share/g/t', members, 't', 1)?.clientId);
    expect(picked).toEqual(['a', 'c', 'a', 'c']);
  });

  it('queues for a persistent member when none is connected, and finds no one otherwise', () => {
    const members = ['a', 'b'].map(member);
    expect(new SharedGroups(recipientsOf({ a: { connected: false }, b: { connected: false, persistent: true } })).pickSharedMember('k', members, 't', 1)?.clientId).toBe('b');
    expect(new SharedGroups(recipientsOf({ a: { connected: false }, b: { connected: false } })).pickSharedMember('k', members, 't', 1)).toBeNull();
  });

  it('does not pick an offline member for a message it would not queue (QoS 0, the message’s or its subscription’s)', () => {
    const offline = recipientsOf({ a: { connected: false, persistent: true } });
    expect(new SharedGroups(offline).pickSharedMember('k', [member('a')], 't', 0)).toBeNull();
    expect(new SharedGroups(offline).pickSharedMember('k', [{ ...member('a'), qos: 0 }], 't', 1)).toBeNull();
  });
});
