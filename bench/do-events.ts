/**
 * `npx tsx bench/do-events.ts [messages] [shards]`: counts the billed Durable
 * Object events EdgeMQ spends, from the shards' own counters (/api/v1/stats,
 * `durableObject`, summed over the shards), for 1→1 traffic at QoS 0 and
 * QoS 1, for idle devices that only send PINGREQ and, with more than one
 * shard, for 1→1 between two shards and 1→200 fan-out over every shard.
 * docs/cost.md turns the output into prices.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { adminSession } from '../test/support/admin-session';
import { startBroker } from '../test/support/broker-process';
import { idOnShard } from '../test/support/shard-ids';

const MESSAGES = Number(process.argv[2] ?? 2000);
const SHARDS = Number(process.argv[3] ?? 1);
const FAN_OUT = 200;
const IDLE_DEVICES = 20;
const IDLE_SECONDS = 15;
const ADMIN = { username: 'admin', password: 'bench-admin-password-0123' };

interface Events {
  webSocketMessagesIn: number;
  webSocketMessagesOut: number;
  upgrades: number;
  alarms: number;
  clusterCallsIn: number;
  clusterEntriesOut: number;
}

/** A client id the edge sends to `shard`. */
const idOn = (shard: number, name: string): string => idOnShard(`${name}-`, shard, SHARDS);

const broker = await startBroker({
  vars: {
    ADMIN_JWT_SECRET: 'bench-admin-jwt-secret-0123456789abcdef',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    // The default 1,000 PUBLISH/s per connection would cut a QoS 0 burst off.
    MQTT_MAX_PUBLISH_RATE: '0',
    BROKER_SHARDS: String(SHARDS),
  },
});
const { api } = await adminSession(broker.url, ADMIN);
const events = async (): Promise<Events> => (await api<{ durableObject: Events }>('GET', '/stats')).body.durableObject;
const diff = (a: Events, b: Events): Events => ({
  webSocketMessagesIn: b.webSocketMessagesIn - a.webSocketMessagesIn,
  webSocketMessagesOut: b.webSocketMessagesOut - a.webSocketMessagesOut,
  upgrades: b.upgrades - a.upgrades,
  alarms: b.alarms - a.alarms,
  clusterCallsIn: b.clusterCallsIn - a.clusterCallsIn,
  clusterEntriesOut: b.clusterEntriesOut - a.clusterEntriesOut,
});
/**
 * Durable Object requests as billed: one per upgrade, per alarm and per call
 * from another shard (RPC), 1/20 per incoming WebSocket message; outgoing
 * messages are free.
 */
const billedRequests = (e: Events) => e.upgrades + e.alarms + e.clusterCallsIn + e.webSocketMessagesIn / 20;

function connect(clientId: string, keepalive = 60): Promise<MqttClient> {
  const client = mqtt.connect(broker.wsUrl, { protocolVersion: 5, clientId, reconnectPeriod: 0, keepalive });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

async function oneToOne(qos: 0 | 1, pubShard = 0, subShard = 0): Promise<void> {
  const label = `1→1 QoS ${qos}${SHARDS > 1 ? (pubShard === subShard ? ', same shard' : ', across shards') : ''}`;
  await scenario(label, qos, [idOn(subShard, `cost-sub-${qos}-${pubShard}-${subShard}`)], idOn(pubShard, `cost-pub-${qos}-${pubShard}-${subShard}`));
}

/** `messages` published by one client, each to every subscriber; per million published messages. */
async function scenario(label: string, qos: 0 | 1, subscriberIds: string[], publisherId: string, messages = MESSAGES): Promise<void> {
  const topic = `cost/${label.replace(/\W+/g, '-')}`;
  const subs = await Promise.all(subscriberIds.map((id) => connect(id)));
  let received = 0;
  for (const sub of subs) {
    sub.on('message', () => received++);
    await sub.subscribeAsync(topic, { qos });
  }
  const pub = await connect(publisherId);
  const payload = Buffer.alloc(48, 0x61);
  const before = await events();
  for (let i = 0; i < messages; i++) await pub.publishAsync(topic, payload, { qos });
  while (received < messages * subs.length) await new Promise((r) => setTimeout(r, 20));
  const used = diff(before, await events());
  const perMillion = (n: number) => Math.round((n / messages) * 1_000_000);
  console.log(
    `${label}, ${messages} messages to ${subs.length} subscriber(s): ${JSON.stringify(used)}; per million published: ` +
      `${perMillion(used.webSocketMessagesIn)} WebSocket messages in, ${perMillion(used.webSocketMessagesOut)} out, ` +
      `${perMillion(used.clusterCallsIn)} calls between shards carrying ${perMillion(used.clusterEntriesOut)} entries, ` +
      `${perMillion(billedRequests(used))} billed requests`,
  );
  await pub.endAsync();
  await Promise.all(subs.map((s) => s.endAsync()));
}

async function fanOut(qos: 0 | 1): Promise<void> {
  const ids = Array.from({ length: FAN_OUT }, (_, i) => idOn(i % SHARDS, `cost-fan-${qos}-${i}`));
  await scenario(`1→${FAN_OUT} QoS ${qos} over ${SHARDS} shard(s)`, qos, ids, idOn(0, `cost-fan-pub-${qos}`), Math.max(20, Math.floor(MESSAGES / 20)));
}

async function idle(): Promise<void> {
  const devices = await Promise.all(Array.from({ length: IDLE_DEVICES }, (_, i) => connect(`cost-idle-${i}`, 1)));
  let pings = 0;
  for (const d of devices) d.on('packetreceive', (p) => void (p.cmd === 'pingresp' && pings++));
  const before = await events();
  await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const used = diff(before, await events());
  console.log(`${IDLE_DEVICES} idle devices, keepalive 1 s, ${IDLE_SECONDS} s: ${pings} PINGRESP received; Durable Object events ${JSON.stringify(used)}`);
  await Promise.all(devices.map((d) => d.endAsync()));
}

try {
  await oneToOne(0);
  await oneToOne(1);
  if (SHARDS > 1) {
    await oneToOne(0, 0, 1);
    await oneToOne(1, 0, 1);
  }
  await fanOut(0);
  await fanOut(1);
  await idle();
} finally {
  await broker.stop();
}
