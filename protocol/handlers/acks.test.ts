import { describe, expect, it } from 'vitest';
import type { IDisconnectPacket, IPublishPacket } from 'mqtt-packet';
import { EngineHarness } from '../engine/testing/engine-harness';

/** A subscriber with one delivery of the given QoS in flight, not yet acknowledged. */
async function deliveryInFlight(protocolVersion: 4 | 5, qos: 1 | 2) {
  const h = new EngineHarness();
  const sub = h.client(protocolVersion);
  await sub.connect();
  await sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos }] });
  sub.take('suback');
  const pub = h.client(5);
  await pub.connect();
  await pub.send({ cmd: 'publish', topic: 't', payload: Buffer.from('x'), qos, messageId: 9, retain: false, dup: false });
  const delivery = sub.take<IPublishPacket>('publish');
  expect(delivery.qos).toBe(qos);
  return { sub, messageId: delivery.messageId! };
}

describe('acknowledgements of the wrong kind', () => {
  const wrong: Array<[1 | 2, 'pubrec' | 'pubcomp' | 'puback']> = [
    [1, 'pubrec'],
    [1, 'pubcomp'],
    [2, 'puback'],
  ];
  for (const [qos, ack] of wrong) {
    it(`ends the connection on ${ack.toUpperCase()} for a QoS ${qos} delivery: DISCONNECT 0x82 in 5.0, a close in 3.1.1`, async () => {
      const v5 = await deliveryInFlight(5, qos);
      await v5.sub.send({ cmd: ack, messageId: v5.messageId });
      expect(v5.sub.take<IDisconnectPacket>('disconnect').reasonCode).toBe(0x82);
      expect(v5.sub.closed).toBe(true);

      const v4 = await deliveryInFlight(4, qos);
      await v4.sub.send({ cmd: ack, messageId: v4.messageId });
      expect(v4.sub.received).toHaveLength(0);
      expect(v4.sub.closed).toBe(true);
    });
  }

  it('still completes flows acknowledged with the right kind', async () => {
    const q1 = await deliveryInFlight(5, 1);
    await q1.sub.send({ cmd: 'puback', messageId: q1.messageId });
    expect(q1.sub.closed).toBe(false);
    const q2 = await deliveryInFlight(5, 2);
    await q2.sub.send({ cmd: 'pubrec', messageId: q2.messageId });
    expect(q2.sub.take('pubrel').messageId).toBe(q2.messageId);
    await q2.sub.send({ cmd: 'pubcomp', messageId: q2.messageId });
    expect(q2.sub.closed).toBe(false);
  });
});
