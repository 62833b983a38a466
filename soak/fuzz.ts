import { randomBytes, randomInt } from 'node:crypto';
import WebSocket from 'ws';
import { adminVars, shardStats } from './admin';
import { startBystander } from './bystander';
import { cpuPer, type ItemContext, type ItemResult, scaled, secs } from './item';
import { cpuSeconds, cpuSecondsSince } from './proc';
import { startSoakBroker } from './runtime';
import { connectPacket, encode, sleep } from './wire';

/**
 * Item 3: random and mutated frames through real sockets from many clients,
 * beside a bystander's QoS 1 stream. Each fuzz client connects (its CONNECT
 * sometimes mutated too), sends frames until the broker closes it or it has
 * sent its share, and starts over.
 */
const FULL_FRAMES = 1_000_000;
const CLIENTS = 40;
const FRAMES_PER_CONNECTION = 200;
const TIME_LIMIT_MS = 300_000;
/** Keeps each client from queueing more than the broker takes. */
const MAX_BUFFERED = 16 * 1024;

const QOS_LEVELS = [0, 1, 2] as const;

/** Valid packets of every kind a client may send, as the seed of mutations. */
function corpus(): Buffer[] {
  const topic = `soak/fuzz/${randomInt(1000)}`;
  return [
    encode({ cmd: 'publish', topic, payload: randomBytes(randomInt(64)), qos: 0, retain: false, dup: false }),
    encode({ cmd: 'publish', topic, payload: randomBytes(randomInt(64)), qos: 1, messageId: randomInt(1, 65535), retain: false, dup: false }),
    encode({ cmd: 'publish', topic, payload: randomBytes(8), qos: 2, messageId: randomInt(1, 65535), retain: randomInt(2) === 1, dup: false }),
    encode({ cmd: 'subscribe', messageId: randomInt(1, 65535), subscriptions: [{ topic: randomInt(2) ? 'soak/fuzz/#' : '+/+', qos: QOS_LEVELS[randomInt(3)] }] }),
    encode({ cmd: 'unsubscribe', messageId: randomInt(1, 65535), unsubscriptions: ['soak/fuzz/#'] }),
    encode({ cmd: 'puback', messageId: randomInt(1, 65535) }),
    encode({ cmd: 'pubrec', messageId: randomInt(1, 65535) }),
    encode({ cmd: 'pubrel', messageId: randomInt(1, 65535) }),
    encode({ cmd: 'pubcomp', messageId: randomInt(1, 65535) }),
    encode({ cmd: 'pingreq' }),
    connectPacket(`fuzz-${randomInt(1e9)}`),
  ];
}

function mutate(packet: Buffer): Buffer {
  const out = Buffer.from(packet);
  switch (randomInt(6)) {
    case 0: // flip bytes
      for (let k = randomInt(1, 4); k > 0; k--) out[randomInt(out.length)] ^= 1 << randomInt(8);
      return out;
    case 1: // truncate
      return out.subarray(0, randomInt(1, Math.max(2, out.length)));
    case 2: // wrong remaining length
      if (out.length > 1) out[1] = randomInt(256);
      return out;
    case 3: // trailing garbage
      return Buffer.concat([out, randomBytes(randomInt(1, 32))]);
    case 4: // fixed header flags
      out[0] = (out[0] & 0xf0) | randomInt(16);
      return out;
    default: // two packets glued, the second mutated again
      return Buffer.concat([out, mutate(packet)]);
  }
}

function nextFrame(): Buffer {
  const roll = randomInt(10);
  const seed = corpus();
  if (roll < 2) return randomBytes(randomInt(1, 300));
  if (roll < 5) return seed[randomInt(seed.length)];
  return mutate(seed[randomInt(seed.length)]);
}

interface Tally {
  frames: number;
  connections: number;
  closedByBroker: number;
}

async function fuzzClient(wsUrl: string, tally: Tally, target: number, stopAt: number): Promise<void> {
  while (tally.frames < target && Date.now() < stopAt) {
    const ws = new WebSocket(wsUrl, 'mqtt', { perMessageDeflate: false, handshakeTimeout: 30_000 });
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.on('error', () => {});
    const opened = await new Promise<boolean>((resolve) => {
      ws.once('open', () => resolve(true));
      ws.once('close', () => resolve(false));
    });
    if (!opened) {
      await sleep(100);
      continue;
    }
    tally.connections++;
    const connect = connectPacket(`fuzz-${randomInt(1e9)}`, { keepalive: randomInt(0, 120) });
    ws.send(randomInt(5) === 0 ? mutate(connect) : connect);
    tally.frames++;
    let sent = 1;
    while (ws.readyState === WebSocket.OPEN && sent < FRAMES_PER_CONNECTION && tally.frames < target && Date.now() < stopAt) {
      if (ws.bufferedAmount > MAX_BUFFERED) {
        await sleep(5);
        continue;
      }
      ws.send(nextFrame());
      sent++;
      tally.frames++;
      if (sent % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    if (ws.readyState === WebSocket.OPEN) ws.close();
    else tally.closedByBroker++;
    await Promise.race([closed, sleep(5000)]);
    ws.terminate();
  }
}

export async function frameFuzz(ctx: ItemContext): Promise<ItemResult> {
  const target = scaled(ctx, FULL_FRAMES, 1000);
  const admin = adminVars();
  const broker = await startSoakBroker({ vars: { ALLOW_ANONYMOUS: 'true', ACL_DEFAULT_POLICY: 'allow', ...admin.vars, ...ctx.vars } });
  try {
    const before = await shardStats(broker.url, admin.account);
    const bystander = await startBystander(broker.wsUrl);
    const tally: Tally = { frames: 0, connections: 0, closedByBroker: 0 };
    const stopAt = Date.now() + TIME_LIMIT_MS;
    const cpu0 = await cpuSeconds(broker.workerdPid());
    const t0 = performance.now();
    const progress = setInterval(() => ctx.log(`${tally.frames} frames, ${tally.connections} connections, bystander ${bystander.acked.size} acked`), 15_000);
    await Promise.all(Array.from({ length: CLIENTS }, () => fuzzClient(broker.wsUrl, tally, target, stopAt)));
    clearInterval(progress);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = await cpuSecondsSince(broker.workerdPid(), cpu0);
    const stream = await bystander.stop();
    const after = await shardStats(broker.url, admin.account);
    const errors = broker.logs().split('\n').filter((l) => /uncaught|internal error|exceeded|crash/i.test(l));
    const shardRestarted = before.startedAt !== after.startedAt;
    return {
      title: `${target.toLocaleString('en')} random and mutated frames from ${CLIENTS} clients`,
      figures: [
        ['frames sent', `${tally.frames.toLocaleString('en')}${tally.frames < target ? ` of ${target.toLocaleString('en')} (stopped at the ${TIME_LIMIT_MS / 1000} s limit)` : ''}`],
        ['fuzz connections / closed by the broker', `${tally.connections.toLocaleString('en')} / ${tally.closedByBroker.toLocaleString('en')}`],
        ['duration', `${secs(seconds)} (${(tally.frames / seconds).toFixed(0)} frames/s)`],
        ['workerd CPU per frame', cpuPer(cpu, tally.frames, 'µs')],
        ['shard restarted (stats startedAt changed)', shardRestarted ? `yes (${before.startedAt} → ${after.startedAt})` : 'no'],
        ['uncaught errors in the runtime log', String(errors.length)],
        ['bystander QoS 1: PUBACKed / received', `${stream.acked} / ${stream.received}`],
        ['bystander QoS 1: missing / duplicates', `${stream.missing} / ${stream.duplicates}`],
        ['bystander disconnects', String(stream.disconnects)],
        ['messages the broker dropped (stats `dropped`, before → after)', `${before.dropped} → ${after.dropped}`],
      ],
      passed: !shardRestarted && errors.length === 0 && stream.missing === 0 && stream.duplicates === 0 && stream.disconnects === 0,
      notes: [
        ...(errors.length ? ['First runtime errors:', '```', ...errors.slice(0, 5), '```'] : []),
        ...(bystander.reasons.length ? [`Bystander connection events: ${bystander.reasons.slice(0, 10).join('; ')}`] : []),
      ],
    };
  } finally {
    await broker.stop();
  }
}
