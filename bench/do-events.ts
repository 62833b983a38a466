/**
 * `npx tsx bench/do-events.ts [messages]`: counts the billed Durable Object
 * events EdgeMQ spends, from the shard's own counters (/api/v1/stats,
 * `durableObject`), for 1→1 traffic on one shard at QoS 0 and QoS 1 and for
 * idle devices that only send PINGREQ. docs/cost.md turns the output into prices.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { adminSession } from '../test/support/admin-session';
import { startBroker } from '../test/support/broker-process';

const MESSAGES = Number(process.argv[2] ?? 2000);
const IDLE_DEVICES = 20;
const IDLE_SECONDS = 15;
const ADMIN = { username: 'admin', password: 'bench-admin-password-0123' };

interface Events {
  webSocketMessagesIn: number;
  webSocketMessagesOut: number;
  upgrades: number;
  alarms: number;
}

const broker = await startBroker({
  vars: {
    ADMIN_JWT_SECRET: 'bench-admin-jwt-secret-0123456789abcdef',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    // The default 1,000 PUBLISH/s per connection would cut a QoS 0 burst off.
    MQTT_MAX_PUBLISH_RATE: '0',
  },
});
const { api } = await adminSession(broker.url, ADMIN);
const events = async (): Promise<Events> => (await api<{ durableObject: Events }>('GET', '/stats')).body.durableObject;
const diff = (a: Events, b: Events): Events => ({
  webSocketMessagesIn: b.webSocketMessagesIn - a.webSocketMessagesIn,
  webSocketMessagesOut: b.webSocketMessagesOut - a.webSocketMessagesOut,
  upgrades: b.upgrades - a.upgrades,
  alarms: b.alarms - a.alarms,
});
/** Durable Object requests as billed: one per upgrade and per alarm, 1/20 per incoming WebSocket message; outgoing messages are free. */
const billedRequests = (e: Events) => e.upgrades + e.alarms + e.webSocketMessagesIn / 20;

function connect(clientId: string, keepalive = 60): Promise<MqttClient> {
  const client = mqtt.connect(broker.wsUrl, { protocolVersion: 5, clientId, reconnectPeriod: 0, keepalive });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

async function oneToOne(qos: 0 | 1): Promise<void> {
  const sub = await connect(`cost-sub-${qos}`);
  let received = 0;
  sub.on('message', () => received++);
  await sub.subscribeAsync(`cost/${qos}`, { qos });
  const pub = await connect(`cost-pub-${qos}`);
  const payload = Buffer.alloc(48, 0x61);
  const before = await events();
  for (let i = 0; i < MESSAGES; i++) await pub.publishAsync(`cost/${qos}`, payload, { qos });
  while (received < MESSAGES) await new Promise((r) => setTimeout(r, 20));
  const used = diff(before, await events());
  const perMillion = (n: number) => Math.round((n / MESSAGES) * 1_000_000);
  console.log(
    `1→1 QoS ${qos}, ${MESSAGES} messages: ${JSON.stringify(used)}; per million published: ` +
      `${perMillion(used.webSocketMessagesIn)} WebSocket messages in, ${perMillion(used.webSocketMessagesOut)} out, ` +
      `${perMillion(billedRequests(used))} billed requests`,
  );
  await pub.endAsync();
  await sub.endAsync();
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
  await idle();
} finally {
  await broker.stop();
}
