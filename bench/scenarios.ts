import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';

/**
 * Load scenarios driven by MQTT.js. Every loop is bounded in count and time,
 * and every client talks only to a broker on loopback.
 */
const base: IClientOptions = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 20_000, keepalive: 60 };

let counter = 0;
async function client(url: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { ...base, clientId: `bench-${process.pid}-${++counter}`, ...extra });
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

export interface LatencyResult {
  p50: number;
  p99: number;
  samples: number;
}

/** One publisher, one subscriber; each message waits for the previous one to arrive. */
export async function latency(url: string, qos: 0 | 1, count: number): Promise<LatencyResult> {
  const topic = `bench/lat/${counter}`;
  const sub = await client(url);
  await sub.subscribeAsync(topic, { qos });
  const pub = await client(url);
  const samples: number[] = [];
  const warmup = Math.min(100, Math.floor(count / 10));
  for (let i = 0; i < count + warmup; i++) {
    const started = performance.now();
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('latency message lost')), 10_000);
      sub.once('message', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    pub.publish(topic, String(i), { qos });
    await arrived;
    if (i >= warmup) samples.push(performance.now() - started);
  }
  await Promise.all([sub.endAsync(), pub.endAsync()]);
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), samples: samples.length };
}

export interface RateResult {
  rate: number;
  delivered: number;
  expected: number;
  seconds: number;
}

/** N publishers blast one topic; one subscriber counts; rate = received per second. */
export async function throughput(url: string, qos: 0 | 1, publishers: number, total: number, timeLimitMs: number): Promise<RateResult> {
  const topic = `bench/tp/${counter}`;
  const sub = await client(url);
  await sub.subscribeAsync(topic, { qos });
  const pubs = await Promise.all(Array.from({ length: publishers }, () => client(url)));
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  sub.on('message', () => {
    if (++received === total) done();
  });
  const payload = Buffer.alloc(64, 0x61);
  const perPublisher = Math.floor(total / publishers);
  const started = performance.now();
  await Promise.all(
    pubs.map(async (p) => {
      for (let i = 0; i < perPublisher; i++) {
        if (qos === 0) p.publish(topic, payload, { qos });
        // MQTT.js keeps QoS 1 in flight without a window; cap it so the client, not the broker, is not the bottleneck.
        else if (i % 100 === 99) await p.publishAsync(topic, payload, { qos });
        else p.publish(topic, payload, { qos });
      }
    }),
  );
  await Promise.race([finished, new Promise((r) => setTimeout(r, timeLimitMs))]);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([sub, ...pubs].map((c) => c.endAsync(true)));
  return { rate: received / seconds, delivered: received, expected: perPublisher * publishers, seconds };
}

/** One publisher, many subscribers on a wildcard filter: deliveries per second. */
export async function fanOut(url: string, subscribers: number, messages: number, timeLimitMs: number): Promise<RateResult> {
  const subs: MqttClient[] = [];
  for (let i = 0; i < subscribers; i += 20) {
    subs.push(...(await Promise.all(Array.from({ length: Math.min(20, subscribers - i) }, () => client(url)))));
  }
  await Promise.all(subs.map((s) => s.subscribeAsync('bench/fan/+', { qos: 0 })));
  const expected = subscribers * messages;
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  for (const s of subs) s.on('message', () => {
    if (++received === expected) done();
  });
  const pub = await client(url);
  const started = performance.now();
  for (let i = 0; i < messages; i++) pub.publish(`bench/fan/${i % 10}`, 'x', { qos: 0 });
  await Promise.race([finished, new Promise((r) => setTimeout(r, timeLimitMs))]);
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([pub, ...subs].map((c) => c.endAsync(true)));
  return { rate: received / seconds, delivered: received, expected, seconds };
}

/** Connection setup rate: CONNECT to CONNACK, a few at a time. */
export async function connectionRate(url: string, total: number, concurrency: number): Promise<RateResult> {
  const clients: MqttClient[] = [];
  let made = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (made < total) {
        made++;
        clients.push(await client(url));
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  await Promise.all(clients.map((c) => c.endAsync(true)));
  return { rate: clients.length / seconds, delivered: clients.length, expected: total, seconds };
}
