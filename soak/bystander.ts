import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';

/**
 * A well-behaved QoS 1 stream beside the abuse: one publisher, one
 * subscriber (MQTT.js, persistent sessions), numbered messages on a topic
 * nobody else can guess. Every PUBACKed number must arrive, each once.
 */
export interface Bystander {
  topic: string;
  published: number;
  acked: Set<number>;
  received: Map<number, number>;
  disconnects: number;
  /** What ended the bystander's connections, as far as the client knows. */
  reasons: string[];
  stop(): Promise<{ missing: number; duplicates: number; received: number; acked: number; disconnects: number }>;
}

export async function startBystander(wsUrl: string, everyMs = 20, mqttOptions: mqtt.IClientOptions = {}): Promise<Bystander> {
  const topic = `soak/bystander/${randomUUID()}`;
  const options: mqtt.IClientOptions = { protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 }, reconnectPeriod: 500, connectTimeout: 30_000, keepalive: 30, ...mqttOptions };
  const sub = mqtt.connect(wsUrl, { ...options, clientId: `soak-bystander-sub-${topic.slice(-8)}` });
  const pub = mqtt.connect(wsUrl, { ...options, clientId: `soak-bystander-pub-${topic.slice(-8)}` });
  const b: Bystander = { topic, published: 0, acked: new Set(), received: new Map(), disconnects: 0, reasons: [], stop: null as never };
  let ending = false;
  for (const c of [sub, pub]) c.on('close', () => (ending ? undefined : b.disconnects++));
  // Why a connection ended, when the broker said so (MQTT 5 DISCONNECT reason code).
  for (const c of [sub, pub]) c.on('disconnect', (packet) => b.reasons.push(`${c.options.clientId}: DISCONNECT ${packet.reasonCode ?? ''}`));
  for (const c of [sub, pub]) c.on('error', (err) => b.reasons.push(`${c.options.clientId}: ${err.message}`));
  sub.on('message', (t, payload) => {
    if (t !== topic) return;
    const n = Number(String(payload));
    b.received.set(n, (b.received.get(n) ?? 0) + 1);
  });
  await new Promise<void>((resolve, reject) => {
    sub.once('connect', () => sub.subscribe(topic, { qos: 1 }, (err) => (err ? reject(err) : resolve())));
    sub.once('error', reject);
  });
  if (!pub.connected) await new Promise((resolve) => pub.once('connect', resolve));
  let running = true;
  const loop = (async () => {
    while (running) {
      const n = b.published++;
      pub.publish(topic, String(n), { qos: 1 }, (err) => {
        if (!err) b.acked.add(n);
      });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  b.stop = async () => {
    running = false;
    await loop;
    // Let what was acknowledged arrive (bounded).
    const deadline = Date.now() + 60_000;
    const done = () => b.acked.size === b.published && [...b.acked].every((n) => b.received.has(n));
    while (Date.now() < deadline && !done()) await new Promise((r) => setTimeout(r, 250));
    ending = true;
    await Promise.all([new Promise((r) => pub.end(false, {}, r)), new Promise((r) => sub.end(false, {}, r))]);
    let missing = 0;
    for (const n of b.acked) if (!b.received.has(n)) missing++;
    let duplicates = 0;
    for (const count of b.received.values()) if (count > 1) duplicates += count - 1;
    return { missing, duplicates, received: b.received.size, acked: b.acked.size, disconnects: b.disconnects };
  };
  return b;
}
