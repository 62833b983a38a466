import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { adminSession, type AdminCall } from '../support/admin-session';
import { startBroker, type BrokerHandle } from '../support/broker-process';
import { shardIndexFor } from '../../protocol/cluster/shard-hash';
import { sleep, until } from './mqtt-clients';

/**
 * A QoS 1 and a QoS 2 flow between shards, while a shard restarts (the
 * receiving one, then the sending one) and, separately, while the whole local
 * runtime restarts. Publishers and the subscriber are MQTT.js clients with
 * persistent sessions that reconnect on their own. Nothing acknowledged may be
 * lost, and the QoS 2 flow must deliver each message exactly once.
 */
const SHARDS = 4;
const ADMIN = { username: 'e2e-admin', password: 'e2e-admin-password' };
const WINDOW = 10;

let broker: BrokerHandle;
let api: AdminCall;

beforeAll(async () => {
  broker = await startBroker({
    vars: {
      BROKER_SHARDS: String(SHARDS),
      MQTT_MAX_PUBLISH_RATE: '0',
      ADMIN_JWT_SECRET: 'e2e-admin-jwt-secret-0123456789abcdef',
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
    },
  });
  ({ api } = await adminSession(broker.url, ADMIN));
});
afterAll(async () => {
  await broker?.stop();
});

function idOn(shard: number, name: string): string {
  for (let i = 0; ; i++) {
    const id = `${name}-${i}`;
    if (shardIndexFor(id, SHARDS) === shard) return id;
  }
}

function persistentClient(clientId: string): mqtt.MqttClient {
  return mqtt.connect(broker.wsUrl, {
    clientId,
    protocolVersion: 5,
    clean: false,
    properties: { sessionExpiryInterval: 3600 },
    reconnectPeriod: 300,
    connectTimeout: 10_000,
  });
}

interface Flow {
  qos: 1 | 2;
  topic: string;
  published: number;
  acked: Set<number>;
  received: Map<number, number>;
}

/** Numbered messages, at most WINDOW unacknowledged, until stopped. */
function publishUntil(pub: mqtt.MqttClient, flow: Flow, running: () => boolean): Promise<void> {
  let inFlight = 0;
  return (async () => {
    while (running()) {
      if (inFlight >= WINDOW || !pub.connected) {
        await sleep(10);
        continue;
      }
      const n = flow.published++;
      inFlight++;
      pub.publish(flow.topic, String(n), { qos: flow.qos }, (err) => {
        inFlight--;
        if (!err) flow.acked.add(n);
      });
      await sleep(2);
    }
  })();
}

async function runFlows(name: string, disturb: () => Promise<void>): Promise<Flow[]> {
  const flows: Flow[] = [1, 2].map((qos) => ({ qos: qos as 1 | 2, topic: `chaos/${name}/q${qos}`, published: 0, acked: new Set<number>(), received: new Map<number, number>() }));
  const sub = persistentClient(idOn(1, `${name}-sub`));
  sub.on('message', (topic, payload) => {
    const flow = flows.find((f) => f.topic === topic);
    if (!flow) return;
    const n = Number(payload.toString());
    flow.received.set(n, (flow.received.get(n) ?? 0) + 1);
  });
  await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
  for (const flow of flows) await sub.subscribeAsync(flow.topic, { qos: flow.qos });
  const pubs = [persistentClient(idOn(2, `${name}-pub1`)), persistentClient(idOn(3, `${name}-pub2`))];
  await Promise.all(pubs.map((p) => new Promise<void>((resolve) => p.once('connect', () => resolve()))));

  let running = true;
  const publishing = flows.map((flow, i) => publishUntil(pubs[i], flow, () => running));
  await until(() => flows.every((f) => f.acked.size >= 50), 60_000, 'traffic before the restart');
  await disturb();
  await until(() => flows.every((f) => f.acked.size >= 150), 90_000, 'traffic after the restart');
  running = false;
  await Promise.all(publishing);
  await until(() => flows.every((f) => [...f.acked].every((n) => f.received.has(n))), 90_000, 'every acknowledged message');
  await sleep(500);
  for (const c of [sub, ...pubs]) await c.endAsync(true);
  return flows;
}

function expectNothingLost(flows: Flow[]): void {
  for (const flow of flows) {
    const missing = [...flow.acked].filter((n) => !flow.received.has(n));
    expect(missing, `QoS ${flow.qos}: acknowledged but never delivered`).toEqual([]);
    if (flow.qos === 2) {
      const duplicates = [...flow.received].filter(([, count]) => count > 1);
      expect(duplicates, 'QoS 2 delivered more than once').toEqual([]);
    }
  }
}

describe('41 cluster chaos', () => {
  it('loses nothing acknowledged while the receiving shard and then the sending shard restart', async () => {
    const flows = await runFlows('shard', async () => {
      expect((await api('POST', '/shards/1/restart')).status).toBe(202);
      await sleep(1500);
      expect((await api('POST', '/shards/2/restart')).status).toBe(202);
    });
    expectNothingLost(flows);
  });

  it('loses nothing acknowledged while the whole local runtime restarts', async () => {
    const flows = await runFlows('runtime', async () => {
      await broker.restart();
      ({ api } = await adminSession(broker.url, ADMIN));
    });
    expectNothingLost(flows);
  });
});
