import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/**
 * Load scenarios driven by MQTT.js over ws://. Every loop is bounded in count
 * and in time, and every client talks only to a broker on loopback.
 *
 * MQTT 3.1.1 throughout: aedes does not speak MQTT 5, and 3.1.1 keeps the
 * three brokers on the same wire protocol.
 */
const baseOptions: IClientOptions = {
  protocolVersion: 4,
  reconnectPeriod: 0,
  connectTimeout: 10_000,
  keepalive: 60,
  clean: true,
  // MQTT.js on Node offers permessage-deflate. aedes and mosquitto decline it and so does the
  // EdgeMQ Worker, but locally Miniflare's entry Worker sits in front of it and accepts the
  // offer on its own, which would put zlib on every frame at both ends (see bench/notes.md).
  wsOptions: { perMessageDeflate: false },
};

export type Log = (line: string) => void;

let clientCounter = 0;
let topicCounter = 0;
const uniqueTopic = (prefix: string) => `${prefix}/${process.pid}-${++topicCounter}`;

let framesWritten = 0;
/**
 * WebSocket frames the load generator has sent since it started (CONNECTs
 * excepted). MQTT.js on Node writes each packet in several chunks and the ws
 * stream turns every chunk into its own frame, so this is what a broker sees
 * as separate WebSocket messages.
 */
export const framesSent = () => framesWritten;

async function connectClient(url: string): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { ...baseOptions, clientId: `bench-${process.pid}-${++clientCounter}` });
  // Without a listener an 'error' event would throw; failures show up as missing messages instead.
  c.on('error', () => {});
  const stream = c.stream as unknown as { write: (...args: unknown[]) => boolean };
  const write = stream.write.bind(stream);
  stream.write = (...args: unknown[]) => {
    framesWritten++;
    return write(...args);
  };
  return c;
}

async function closeAll(clients: MqttClient[]): Promise<void> {
  await Promise.all(
    clients.map((c) =>
      Promise.race([c.endAsync(true).catch(() => {}), sleep(2000)]),
    ),
  );
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

// ---------------------------------------------------------------- latency

export interface LatencyResult {
  p50: number;
  p99: number;
  samples: number;
  lost: number;
}

/**
 * One publisher, one subscriber. Each 64-byte payload carries its send time
 * and sequence number; the next message goes out once the previous one has
 * arrived (or was given up on after 2 s), so the broker is never queueing.
 */
export async function latency(url: string, qos: 0 | 1, count: number, warmup: number, log: Log): Promise<LatencyResult> {
  const topic = uniqueTopic('bench/lat');
  const clients: MqttClient[] = [];
  try {
    const sub = await connectClient(url);
    clients.push(sub);
    await sub.subscribeAsync(topic, { qos });
    const pub = await connectClient(url);
    clients.push(pub);

    const samples: number[] = [];
    let lost = 0;
    let expecting = -1;
    let arrived: (() => void) | null = null;
    sub.on('message', (_t, payload) => {
      if (payload.length < 12) return;
      const seq = payload.readUInt32LE(8);
      if (seq !== expecting) return;
      if (seq >= warmup) samples.push(performance.now() - payload.readDoubleLE(0));
      arrived?.();
    });

    const payload = Buffer.alloc(64, 0x61);
    const deadline = performance.now() + 120_000;
    for (let seq = 0; seq < warmup + count; seq++) {
      if (performance.now() > deadline) throw new Error(`latency run exceeded 120 s after ${seq} messages`);
      expecting = seq;
      const got = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 2000);
        arrived = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      payload.writeDoubleLE(performance.now(), 0);
      payload.writeUInt32LE(seq, 8);
      pub.publish(topic, payload, { qos });
      if (!(await got)) {
        lost++;
        if (lost > 20) throw new Error(`more than 20 of ${seq + 1} messages never arrived`);
      }
      if (seq >= warmup && (seq - warmup + 1) % 1000 === 0) log(`${seq - warmup + 1}/${count} measured`);
    }
    samples.sort((a, b) => a - b);
    return { p50: percentile(samples, 50), p99: percentile(samples, 99), samples: samples.length, lost };
  } finally {
    await closeAll(clients);
  }
}

// ---------------------------------------------------------------- publishing with flow control

interface PublishLoopOptions {
  topic: (i: number) => string;
  qos: 0 | 1;
  count: number;
  /** Most QoS 1 messages awaiting PUBACK at once. */
  window: number;
  stopAt: number;
}

/**
 * Publishes as fast as MQTT.js and the socket accept. QoS 0 waits only when
 * the stream signals backpressure (MQTT.js then holds the callback until
 * 'drain'); QoS 1 additionally keeps at most `window` messages unacknowledged.
 * MQTT.js itself would put every QoS 1 message in flight at once, which a
 * broker advertising a Receive Maximum may treat as a protocol error.
 */
/** What the publishers did so far; read at the end of a window even while a loop is still blocked. */
interface Tally {
  sent: number;
  errors: number;
}

async function publishLoop(c: MqttClient, o: PublishLoopOptions, tally: Tally): Promise<void> {
  const payload = Buffer.alloc(64, 0x61);
  const window = o.qos === 0 ? 1 : o.window;
  let outstanding = 0;
  let wake: (() => void) | null = null;
  const settle = (err?: Error) => {
    outstanding--;
    if (err) tally.errors++;
    const w = wake;
    wake = null;
    w?.();
  };
  for (let i = 0; i < o.count; i++) {
    while (outstanding >= window) {
      const left = o.stopAt - performance.now();
      if (left <= 0) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    if (performance.now() >= o.stopAt) break;
    // Closed by the broker (a rate limit, an error): nothing more would leave.
    if (!c.connected) break;
    // All clients share this process's event loop: let the subscriber read now and then.
    if (i % 64 === 63) await yieldToLoop();
    outstanding++;
    c.publish(o.topic(i), payload, { qos: o.qos }, settle);
    tally.sent++;
  }
}

// ---------------------------------------------------------------- throughput

export interface RateResult {
  rate: number;
  delivered: number;
  expected: number;
  seconds: number;
  /** Messages the publishers handed to MQTT.js (connection attempts for the connection scenario). */
  sent: number;
  /** How many the scenario meant to send. */
  planned: number;
  /** Publish callbacks that reported an error. */
  errors: number;
}

function progressTicker(log: Log, label: () => string): () => void {
  const timer = setInterval(() => log(label()), 2000);
  return () => clearInterval(timer);
}

/** N publishers on one topic, one subscriber counting: messages received per second. */
export async function throughput(
  url: string,
  qos: 0 | 1,
  publishers: number,
  total: number,
  windowMs: number,
  log: Log,
): Promise<RateResult> {
  const topic = uniqueTopic('bench/tp');
  const clients: MqttClient[] = [];
  try {
    const sub = await connectClient(url);
    clients.push(sub);
    await sub.subscribeAsync(topic, { qos });
    const pubs = await Promise.all(Array.from({ length: publishers }, () => connectClient(url)));
    clients.push(...pubs);

    const perPublisher = Math.floor(total / publishers);
    const expected = perPublisher * publishers;
    let received = 0;
    let lastAt = 0;
    let allIn!: () => void;
    const finished = new Promise<void>((r) => (allIn = r));
    sub.on('message', () => {
      lastAt = performance.now();
      if (++received === expected) allIn();
    });

    const started = performance.now();
    const stopAt = started + windowMs;
    const stopTicker = progressTicker(log, () => `${received}/${expected} received after ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const tally: Tally = { sent: 0, errors: 0 };
    const sending = Promise.all(pubs.map((p) => publishLoop(p, { topic: () => topic, qos, count: perPublisher, window: 100, stopAt }, tally)));
    await Promise.race([finished, sleep(windowMs)]);
    stopTicker();
    await Promise.race([sending, sleep(100)]);
    const seconds = ((received === expected ? lastAt : Math.max(lastAt, stopAt)) - started) / 1000;
    return { rate: received / seconds, delivered: received, expected, seconds, sent: tally.sent, planned: expected, errors: tally.errors };
  } finally {
    await closeAll(clients);
  }
}

// ---------------------------------------------------------------- fan-out

async function connectMany(url: string, n: number, concurrency: number): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += concurrency) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(concurrency, n - i) }, () => connectClient(url)));
    for (const r of batch) if (r.status === 'fulfilled') clients.push(r.value);
    const failed = batch.find((r) => r.status === 'rejected');
    if (failed) {
      await closeAll(clients);
      throw new Error(`connecting subscriber ${clients.length + 1} of ${n}: ${(failed as PromiseRejectedResult).reason?.message ?? failed}`);
    }
  }
  return clients;
}

/** One publisher, many subscribers on one wildcard filter: deliveries per second. */
export async function fanOut(url: string, subscribers: number, messages: number, windowMs: number, log: Log): Promise<RateResult> {
  const prefix = uniqueTopic('bench/fan');
  const filter = `${prefix}/+`;
  const clients: MqttClient[] = [];
  try {
    const subs = await connectMany(url, subscribers, 20);
    clients.push(...subs);
    await Promise.all(subs.map((s) => s.subscribeAsync(filter, { qos: 0 })));
    const pub = await connectClient(url);
    clients.push(pub);

    const expected = subscribers * messages;
    let received = 0;
    let lastAt = 0;
    let allIn!: () => void;
    const finished = new Promise<void>((r) => (allIn = r));
    const onMessage = () => {
      lastAt = performance.now();
      if (++received === expected) allIn();
    };
    for (const s of subs) s.on('message', onMessage);

    const started = performance.now();
    const stopAt = started + windowMs;
    const stopTicker = progressTicker(log, () => `${received}/${expected} delivered after ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const tally: Tally = { sent: 0, errors: 0 };
    const sending = publishLoop(pub, { topic: (i) => `${prefix}/${i % 10}`, qos: 0, count: messages, window: 1, stopAt }, tally);
    await Promise.race([finished, sleep(windowMs)]);
    stopTicker();
    await Promise.race([sending, sleep(100)]);
    const seconds = ((received === expected ? lastAt : Math.max(lastAt, stopAt)) - started) / 1000;
    return { rate: received / seconds, delivered: received, expected, seconds, sent: tally.sent, planned: messages, errors: tally.errors };
  } finally {
    await closeAll(clients);
  }
}

// ---------------------------------------------------------------- connection rate

/** CONNECT to CONNACK for `total` clients, `concurrency` at a time; all stay open until the end. */
export async function connectionRate(url: string, total: number, concurrency: number, log: Log): Promise<RateResult> {
  const clients: MqttClient[] = [];
  let started = 0;
  let failed = 0;
  let firstError = '';
  const t0 = performance.now();
  const deadline = t0 + 60_000;
  try {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (started < total && performance.now() < deadline) {
          started++;
          try {
            clients.push(await connectClient(url));
          } catch (err) {
            failed++;
            firstError ||= (err as Error).message;
          }
          if ((clients.length + failed) % 100 === 0) log(`${clients.length + failed}/${total} attempted`);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    if (clients.length === 0) throw new Error(`no connection succeeded: ${firstError}`);
    return { rate: clients.length / seconds, delivered: clients.length, expected: total, seconds, sent: started, planned: total, errors: failed };
  } finally {
    await closeAll(clients);
  }
}

// ---------------------------------------------------------------- connecting during a flood

export interface FloodResult {
  /** CONNECT to CONNACK of the clients that got one, ascending, in ms. */
  connackMs: number[];
  /** Connection attempts without a CONNACK within the deadline. */
  failed: number;
  attempts: number;
  /** Messages the publishers handed to MQTT.js during the window, and what reached the subscriber. */
  published: number;
  delivered: number;
  /** Publishers the broker closed during the window (a rate limit at work). */
  cutOff: number;
  /** Seconds into the window when the first publisher was closed, if any was. */
  firstCutOffAt: number | null;
}

/**
 * Publishers send QoS 0 as fast as their sockets take it, far more than one
 * subscriber can be sent, while a new client connects every `probeEveryMs`.
 * What counts is whether those clients still get a CONNACK, and how fast.
 */
export async function connectDuringFlood(
  url: string,
  publishers: number,
  windowMs: number,
  probeEveryMs: number,
  connackDeadlineMs: number,
  log: Log,
): Promise<FloodResult> {
  const topic = uniqueTopic('bench/flood');
  const clients: MqttClient[] = [];
  try {
    const sub = await connectClient(url);
    clients.push(sub);
    await sub.subscribeAsync(topic, { qos: 0 });
    let delivered = 0;
    sub.on('message', () => delivered++);
    const pubs = await Promise.all(Array.from({ length: publishers }, () => connectClient(url)));
    clients.push(...pubs);

    const started = performance.now();
    const stopAt = started + windowMs;
    let cutOff = 0;
    let firstCutOffAt: number | null = null;
    for (const p of pubs) {
      p.once('close', () => {
        if (performance.now() >= stopAt) return;
        cutOff++;
        firstCutOffAt ??= (performance.now() - started) / 1000;
      });
    }
    const tally: Tally = { sent: 0, errors: 0 };
    const sending = Promise.all(
      pubs.map((p) => publishLoop(p, { topic: () => topic, qos: 0, count: Number.MAX_SAFE_INTEGER, window: 1, stopAt }, tally)),
    );

    const connackMs: number[] = [];
    let failed = 0;
    const probes: Promise<void>[] = [];
    const probe = async () => {
      const t0 = performance.now();
      try {
        const c = await mqtt.connectAsync(url, { ...baseOptions, clientId: `bench-${process.pid}-${++clientCounter}`, connectTimeout: connackDeadlineMs });
        connackMs.push(performance.now() - t0);
        clients.push(c);
      } catch {
        failed++;
      }
    };
    const stopTicker = progressTicker(log, () => `${connackMs.length} CONNACKs, ${failed} failed, ${delivered} delivered after ${((performance.now() - started) / 1000).toFixed(0)} s`);
    while (performance.now() + probeEveryMs < stopAt) {
      await sleep(probeEveryMs);
      probes.push(probe());
    }
    await Promise.race([sending, sleep(Math.max(0, stopAt - performance.now()) + 100)]);
    // Attempts made near the end get their full deadline.
    await Promise.all(probes);
    stopTicker();
    connackMs.sort((a, b) => a - b);
    return { connackMs, failed, attempts: probes.length, published: tally.sent, delivered, cutOff, firstCutOffAt };
  } finally {
    await closeAll(clients);
  }
}

