import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { runPaho } from '../support/paho';

let broker: BrokerHandle;
beforeAll(async () => {
  broker = await startBroker();
});
afterAll(async () => {
  await broker?.stop();
});

describe('20 Debian python3-paho-mqtt over WebSockets', () => {
  for (const protocol of ['311', '5']) {
    it(`connects, subscribes, receives QoS 0/1/2 and retained messages, and sees a will (MQTT ${protocol})`, async () => {
      const port = new URL(broker.url).port;
      const run = await runPaho('scenario.py', ['127.0.0.1', port, protocol], 60_000);
      expect(run.code, run.stderr).toBe(0);
      const result = JSON.parse(run.stdout.trim().split('\n').pop()!);
      expect(result.connack.sub.rc).toBe(0);
      expect(result.connack.pub.rc).toBe(0);
      expect(result.granted).toEqual([2, 1]);
      expect(result.puback).toEqual({ 0: true, 1: true, 2: true });
      const tag = `paho/${protocol}`;
      expect(result.messages).toEqual([
        { topic: `${tag}/data/q0`, payload: 'payload-0', qos: 0, retain: false },
        { topic: `${tag}/data/q1`, payload: 'payload-1', qos: 1, retain: false },
        { topic: `${tag}/data/q2`, payload: 'payload-2', qos: 2, retain: false },
        { topic: `${tag}/data/retained`, payload: 'kept', qos: 1, retain: true },
      ]);
      expect(result.will).toBe('paho went away');
    });
  }
});
