import { describe, expect, it } from 'vitest';
import { Connection } from '../engine/connection';
import type { BrokerMessage, Delivery } from '../store/records';
import { PublishEncoder } from './publish-encoder';

const trusted = { ip: '127.0.0.1', tls: false, tlsClientAuth: null, subprotocol: 'mqtt' };

function connection(id: string, version: 4 | 5): Connection {
  const conn = new Connection(id, trusted, 0, 1024);
  conn.protocolVersion = version;
  return conn;
}

const message: BrokerMessage = { topic: 't', payload: new Uint8Array([1, 2]), qos: 0, retain: false, properties: {}, expiresAt: null, origin: null, createdAt: 0 };
const delivery = (subscriptionIds: number[] = []): Delivery => ({ message, qos: 0, retain: false, subscriptionIds });

describe('PublishEncoder', () => {
  it('encodes a fan-out once per protocol, whatever the order of its subscribers', () => {
    const encoder = new PublishEncoder();
    const first = encoder.encodePublish(connection('a', 4), delivery(), null, false, undefined);
    expect(encoder.encodePublish(connection('b', 4), delivery(), null, false, undefined)).toBe(first);
    const v5 = encoder.encodePublish(connection('c', 5), delivery(), null, false, undefined);
    expect(v5).not.toBe(first);
    expect(v5.byteLength).toBe(first.byteLength + 1); // the empty property length
    // Subscribers of both protocols, in any order: still once per protocol.
    expect(encoder.encodePublish(connection('d', 4), delivery(), null, false, undefined)).toBe(first);
    expect(encoder.encodePublish(connection('e', 5), delivery(), null, false, undefined)).toBe(v5);
  });

  it('encodes anew what differs per subscriber: packet identifiers and subscription identifiers', () => {
    const encoder = new PublishEncoder();
    const conn = connection('a', 5);
    const withId = encoder.encodePublish(conn, delivery([7]), null, false, undefined);
    expect(encoder.encodePublish(conn, delivery([7]), null, false, undefined)).not.toBe(withId);
    const qos1 = { ...delivery(), qos: 1 as const };
    expect(encoder.encodePublish(conn, qos1, 1, false, undefined)).not.toBe(encoder.encodePublish(conn, qos1, 1, false, undefined));
  });
});

describe('PublishEncoder.adopt', () => {
  const arrived = Uint8Array.from([0x30, 0x05, 0x00, 0x01, 0x74, 0x01, 0x02]);

  it('hands the adopted bytes to the message\'s live QoS 0 deliveries to 3.1/3.1.1 subscribers, and to nothing else', () => {
    const encoder = new PublishEncoder();
    encoder.adopt(message, arrived);
    // Another message with the same fields: only the message itself gets its bytes.
    const other: BrokerMessage = { ...message };
    expect(encoder.encodePublish(connection('a', 4), { ...delivery(), message: other }, null, false, undefined)).not.toBe(arrived);
    encoder.adopt(message, arrived);
    expect(encoder.encodePublish(connection('b', 4), delivery(), null, false, undefined)).toBe(arrived);
    expect(encoder.encodePublish(connection('c', 4), delivery(), null, false, undefined)).toBe(arrived);
    expect(encoder.encodePublish(connection('d', 5), delivery(), null, false, undefined)).not.toBe(arrived);
    encoder.adopt(message, arrived);
    const retained = { ...delivery(), retain: true };
    expect(encoder.encodePublish(connection('e', 4), retained, null, false, undefined)[0]).toBe(0x31);
  });
});
