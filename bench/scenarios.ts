import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import WebSocket from 'ws';

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
 * WebSocket frames the load generator has sent since it started, CONNECTs
 * included: what reaches a Durable Object as separate `webSocketMessage`
 * events, each one billed. Counted at `WebSocket.send` on every client socket.
 */
export const framesSent = () => framesWritten;

/**
 * How a client puts MQTT packets into WebSocket frames.
 *
 * - `mqttjs`: MQTT.js on Node as it is. Its ws stream sends every write as
 *   its own frame, and mqtt-packet writes a packet in several parts (a 64-byte
 *   PUBLISH as five frames, a CONNECT as nine).
 * - `packet`: one frame per MQTT packet, as browsers (MQTT.js's browser
 *   build) and paho send. The same MQTT.js client, whose socket gathers the
 *   parts of each packet (read from its fixed header) and sends the packet as
 *   one frame once it is complete. Nothing else changes: the packets, their
 *   order and the stream's backpressure are MQTT.js's own.
 */
export type Framing = 'mqttjs' | 'packet';
export const framings: Framing[] = ['mqttjs', 'packet'];

type SendCallback = (err?: Error) => void;

/** MQTT.js's `createWebsocket` hook: a `ws` socket whose sends are counted, and gathered per packet if asked. */
function socketFactory(framing: Framing) {
  return (url: string, protocols: string[]): WebSocket => {
    const socket = new WebSocket(url, protocols, { perMessageDeflate: false });
    const send = socket.send.bind(socket) as (data: Buffer, cb?: SendCallback) => void;
    const frame = (data: Buffer, cb?: SendCallback) => {
      framesWritten++;
      send(data, cb);
    };
    if (framing === 'mqttjs') {
      socket.send = frame as WebSocket['send'];
      return socket;
    }
    let parts: Buffer[] = [];
    let buffered = 0;
    socket.send = ((data: Buffer, cb?: SendCallback) => {
      parts.push(data);
      buffered += data.length;
      const joined = parts.length === 1 ? parts[0] : Buffer.concat(parts, buffered);
      let at = 0;
      let sentAll = false;
      for (;;) {
        const size = packetSize(joined, at);
        if (size === null || at + size > joined.length) break;
        const last = at + size === joined.length;
        // The callback of the write that completes the last packet waits for the socket, as before.
        frame(joined.subarray(at, at + size), last ? cb : undefined);
        at += size;
        if (last) sentAll = true;
      }
      parts = at < joined.length ? [joined.subarray(at)] : [];
      buffered = joined.length - at;
      // A part of a packet still being written: the stream may go on at once.
      if (!sentAll) queueMicrotask(() => cb?.());
    }) as WebSocket['send'];
    return socket;
  };
}

/** Size of the MQTT packet starting at `at` (fixed header included), or null while its header is incomplete. */
function packetSize(bytes: Buffer, at: number): number | null {
  let remaining = 0;
  let multiplier = 1;
  for (let i = at + 1; i < bytes.length && i <= at + 4; i++) {
    remaining += (bytes[i] & 0x7f) * multiplier;
    multiplier *= 128;
    if ((bytes[i] & 0x80) === 0) return i + 1 - at + remaining;
  }
  return null;
}

function clientOptions(framing: Framing, extra: IClientOptions = {}): IClientOptions {
  return { ...baseOptions, clientId: `bench-${process.pid}-${++clientCounter}`, createWebsocket: socketFactory(framing), ...extra };
}

async function connectClient(url: string, framing: Framing): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, clientOptions(framing));
  // Without a listener an 'error' event would throw; failures show up as missing messages instead.
  c.on('error', () => {});
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

// ---------------------------------------------------------------- warming up

/**
 * Before a measured window, every broker runs each path once: clients
 * connect, one subscribes, messages go through at QoS 1, and they leave.
 * A freshly started broker otherwise charges its start to the first
 * scenario: EdgeMQ's shard creates its tables, reads its configuration from
 * D1 and compiles its code on the first connection, which over 200
 * connections was a third of the shard's CPU per connection, while the
 * floor has almost nothing to start. A shard starts once per deploy or
 * eviction and then serves thousands of connections, so the rates are of a
 * started broker; restarts under load are the soak's storm item
 * (docs/reliability.md).
 */
export async function warmUp(url: string, framing: Framing, clientCount = 20, messages = 100): Promise<void> {
  const topic = uniqueTopic('bench/warm');
  const connected = await Promise.allSettled(Array.from({ length: clientCount }, () => connectClient(url, framing)));
  const clients = connected.flatMap((c) => (c.status === 'fulfilled' ? [c.value] : []));
  try {
    const failed = connected.find((c) => c.status === 'rejected');
    if (failed) throw new Error(`warm-up: a client could not connect: ${(failed.reason as Error).message}`);
    const [sub, pub] = clients;
    await sub.subscribeAsync(topic, { qos: 1 });
    let received = 0;
    const all = new Promise<void>((resolve) => {
      sub.on('message', () => {
        if (++received === messages) resolve();
      });
    });
    await Promise.all(Array.from({ length: messages }, () => pub.publishAsync(topic, Buffer.alloc(64, 0x61), { qos: 1 })));
    await Promise.race([all, sleep(10_000)]);
    if (received < messages) throw new Error(`warm-up: ${received} of ${messages} messages arrived`);
  } finally {
    await closeAll(clients);
  }
  // The broker handles the last closes after the clients see them: let that finish outside the measured window.
  await sleep(500);
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
export async function latency(url: string, framing: Framing, qos: 0 | 1, count: number, warmup: number, log: Log): Promise<LatencyResult> {
  const topic = uniqueTopic('bench/lat');
  const clients: MqttClient[] = [];
  try {
    const sub = await connectClient(url, framing);
    clients.push(sub);
    await sub.subscribeAsync(topic, { qos });
    const pub = await connectClient(url, framing);
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
  /** QoS 1 messages whose PUBACK arrived, by publisher and sequence number (publisher × 2³² + i). */
  acked: Set<number>;
}

async function publishLoop(c: MqttClient, o: PublishLoopOptions, tally: Tally, publisher = 0): Promise<void> {
  const shared = Buffer.alloc(64, 0x61);
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
    // QoS 1 messages carry who sent them, so the subscriber can tell each one apart; MQTT.js keeps
    // the payload until its PUBACK, so each gets its own buffer.
    const payload = o.qos === 0 ? shared : Buffer.alloc(64, 0x61);
    if (o.qos > 0) payload.writeUInt32LE(publisher, 0), payload.writeUInt32LE(i, 4);
    const key = publisher * 2 ** 32 + i;
    c.publish(o.topic(i), payload, { qos: o.qos }, (err) => {
      if (!err && o.qos > 0) tally.acked.add(key);
      settle(err);
    });
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
  /**
   * QoS 1 only, counted after the deliveries in flight at the end had time to arrive:
   * PUBACKs the publishers got, distinct messages the subscriber got, and the
   * acknowledged messages it never got.
   */
  acked?: number;
  received?: number;
  lost?: number;
}

function progressTicker(log: Log, label: () => string): () => void {
  const timer = setInterval(() => log(label()), 2000);
  return () => clearInterval(timer);
}

/** N publishers on one topic, one subscriber counting: messages received per second. */
export async function throughput(
  url: string,
  framing: Framing,
  qos: 0 | 1,
  publishers: number,
  total: number,
  windowMs: number,
  log: Log,
): Promise<RateResult> {
  const topic = uniqueTopic('bench/tp');
  const clients: MqttClient[] = [];
  try {
    const sub = await connectClient(url, framing);
    clients.push(sub);
    await sub.subscribeAsync(topic, { qos });
    const pubs = await Promise.all(Array.from({ length: publishers }, () => connectClient(url, framing)));
    clients.push(...pubs);

    const perPublisher = Math.floor(total / publishers);
    const expected = perPublisher * publishers;
    let received = 0;
    let lastAt = 0;
    let allIn!: () => void;
    const finished = new Promise<void>((r) => (allIn = r));
    const distinct = new Set<number>();
    sub.on('message', (_t, payload) => {
      lastAt = performance.now();
      if (qos > 0 && payload.length >= 8) distinct.add(payload.readUInt32LE(0) * 2 ** 32 + payload.readUInt32LE(4));
      if (++received === expected) allIn();
    });

    const started = performance.now();
    const stopAt = started + windowMs;
    const stopTicker = progressTicker(log, () => `${received}/${expected} received after ${((performance.now() - started) / 1000).toFixed(0)} s`);
    const tally: Tally = { sent: 0, errors: 0, acked: new Set() };
    const sending = Promise.all(pubs.map((p, n) => publishLoop(p, { topic: () => topic, qos, count: perPublisher, window: 100, stopAt }, tally, n)));
    await Promise.race([finished, sleep(windowMs)]);
    stopTicker();
    await Promise.race([sending, sleep(100)]);
    const seconds = ((received === expected ? lastAt : Math.max(lastAt, stopAt)) - started) / 1000;
    const result: RateResult = { rate: received / seconds, delivered: received, expected, seconds, sent: tally.sent, planned: expected, errors: tally.errors };
    if (qos === 0) return result;
    // Acknowledged messages still on their way get up to 10 s (at most 1 s apart) before they count as lost.
    const endedAt = performance.now();
    const drainUntil = endedAt + 10_000;
    const missing = () => {
      let n = 0;
      for (const key of tally.acked) if (!distinct.has(key)) n++;
      return n;
    };
    while ((missing() > 0 || tally.acked.size + tally.errors < tally.sent) && performance.now() < drainUntil && performance.now() - Math.max(lastAt, endedAt) < 1_000) await sleep(100);
    return { ...result, acked: tally.acked.size, received: distinct.size, lost: missing() };
  } finally {
    await closeAll(clients);
  }
}

// ---------------------------------------------------------------- fan-out

async function connectMany(url: string, framing: Framing, n: number, concurrency: number): Promise<MqttClient[]> {
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += concurrency) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(concurrency, n - i) }, () => connectClient(url, framing)));
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
export async function fanOut(url: string, framing: Framing, subscribers: number, messages: number, windowMs: number, log: Log): Promise<RateResult> {
  const prefix = uniqueTopic('bench/fan');
  const filter = `${prefix}/+`;
  const clients: MqttClient[] = [];
  try {
    const subs = await connectMany(url, framing, subscribers, 20);
    clients.push(...subs);
    await Promise.all(subs.map((s) => s.subscribeAsync(filter, { qos: 0 })));
    const pub = await connectClient(url, framing);
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
    const tally: Tally = { sent: 0, errors: 0, acked: new Set() };
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
export async function connectionRate(url: string, framing: Framing, total: number, concurrency: number, log: Log): Promise<RateResult> {
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
            clients.push(await connectClient(url, framing));
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
  framing: Framing,
  publishers: number,
  windowMs: number,
  probeEveryMs: number,
  connackDeadlineMs: number,
  log: Log,
): Promise<FloodResult> {
  const topic = uniqueTopic('bench/flood');
  const clients: MqttClient[] = [];
  try {
    const sub = await connectClient(url, framing);
    clients.push(sub);
    await sub.subscribeAsync(topic, { qos: 0 });
    let delivered = 0;
    sub.on('message', () => delivered++);
    const pubs = await Promise.all(Array.from({ length: publishers }, () => connectClient(url, framing)));
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
    const tally: Tally = { sent: 0, errors: 0, acked: new Set() };
    const sending = Promise.all(
      pubs.map((p) => publishLoop(p, { topic: () => topic, qos: 0, count: Number.MAX_SAFE_INTEGER, window: 1, stopAt }, tally)),
    );

    const connackMs: number[] = [];
    let failed = 0;
    const probes: Promise<void>[] = [];
    const probe = async () => {
      const t0 = performance.now();
      try {
        const c = await mqtt.connectAsync(url, clientOptions(framing, { connectTimeout: connackDeadlineMs }));
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

