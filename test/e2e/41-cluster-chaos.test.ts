import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminBroker } from '../support/admin-broker';
import { adminSession, type AdminCall } from '../support/admin-session';
import type { BrokerHandle } from '../support/broker-process';
import { idOnShard } from '../support/shard-ids';
import { sleep, until } from './mqtt-clients';
import { countDeliveries, flowFaults, numberedFlow, persistentClient, publishNumbered, type NumberedFlow } from '../support/numbered-flow';

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
  ({ broker, api } = await startAdminBroker(ADMIN, {
    BROKER_SHARDS: String(SHARDS),
    MQTT_MAX_PUBLISH_RATE: '0',
  }));
});
afterAll(async () => {
  await broker?.stop();
});

const idOn = (shard: number, name: string): string => idOnShard(`${name}-`, shard, SHARDS);

async function runFlows(name: string, disturb: () => Promise<void>): Promise<NumberedFlow[]> {
  const flows = ([1, 2] as const).map((qos) => numberedFlow(qos, `chaos/${name}/q${qos}`));
  const sub = persistentClient(broker.wsUrl, idOn(1, `${name}-sub`));
  countDeliveries(sub, flows);
  await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
  for (const flow of flows) await sub.subscribeAsync(flow.topic, { qos: flow.qos });
  const pubs = [persistentClient(broker.wsUrl, idOn(2, `${name}-pub1`)), persistentClient(broker.wsUrl, idOn(3, `${name}-pub2`))];
  await Promise.all(pubs.map((p) => new Promise<void>((resolve) => p.once('connect', () => resolve()))));

  let running = true;
  const publishing = flows.map((flow, i) => publishNumbered(pubs[i], flow, () => running, WINDOW));
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

function expectNothingLost(flows: NumberedFlow[]): void {
  for (const flow of flows) {
    const { missing, duplicates } = flowFaults(flow);
    // The runtime's last output goes with a failure: a restart leaves no other trace of what it did.
    expect(missing, `QoS ${flow.qos}: acknowledged but never delivered\n${broker.logs().slice(-3000)}`).toEqual([]);
    expect(duplicates, `QoS ${flow.qos}: delivered more than once\n${broker.logs().slice(-3000)}`).toEqual([]);
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
    // Nothing here needs the admin API after the restart: the flows are checked from the clients' side.
    const flows = await runFlows('runtime', () => broker.restart());
    expectNothingLost(flows);
  });
});
