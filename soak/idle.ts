import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error plain ESM JavaScript shared with npm start and the tests
import { freePort } from '../scripts/local-broker.mjs';
import { isolateHeap, type HeapUsage } from './inspector';
import { type ItemContext, type ItemResult, kib, mib, scaled, secs } from './item';
import { cpuSeconds, findDescendant, rssBytes } from './proc';
import { startSoakBroker } from './runtime';
import { closeAll, connectPacket, openClient, openMany, sleep, type RawClient } from './wire';
import { idsOnShards } from '../test/support/shard-ids';

/**
 * Item 1: idle connections held. The same sockets (same CONNECT bytes,
 * keepalive 60 s) go, one runtime after the other on the same workerd, to:
 * a Durable Object that only accepts them (the reference); the same object
 * behind the path EdgeMQ's configuration gives an upgrade locally (the static
 * assets router in front, an attachment, a CONNACK); that path behind the
 * least gateway a sharded broker needs (a Worker that keeps the client's
 * socket and relays it to the object over a second one, as EdgeMQ's edge
 * gateway does); and EdgeMQ. The first difference is EdgeMQ's share as a
 * whole; the difference from the gateway path is what its code keeps.
 */
const FULL_COUNT = 10_000;
const PARALLEL_HANDSHAKES = 200;
const SETTLE_MS = 5_000;
const IDLE_WINDOW_MS = 30_000;

interface Side {
  /** RSS with the code loaded and one object awake: one shard of EdgeMQ, the references' one object. */
  rssOneAwake: number;
  /** RSS with every object awake (EdgeMQ's shards each woken by one client), the per-connection baseline. */
  rssBefore: number;
  rssAfter: number;
  heapBefore: HeapUsage | null;
  heapAfter: HeapUsage | null;
  acceptSeconds: number;
  held: number;
  idleCpuPercent: number;
}

async function holdIdle(
  ctx: ItemContext,
  label: string,
  target: { wsUrl: string; pid: number; inspectorPort?: number },
  count: number,
  until: 'connack' | 'open',
  shards = 1,
): Promise<Side> {
  const heap = async () => (target.inspectorPort === undefined ? null : isolateHeap(target.inspectorPort).catch(() => null));
  // Warm up: code loaded, then every object created, before the baseline is read. An object's fixed
  // cost (its SQLite database, its configuration snapshot) is not a connection's: with four shards and
  // one woken here, three shards' start-up would land in the per-connection figure. It is reported apart.
  const warmOn = async (clientIds: string[]) => {
    const warm = clientIds.map((id) => openClient(target.wsUrl, connectPacket(id)));
    await Promise.all(warm.map((w) => (until === 'connack' ? w.connack : w.opened)));
    await closeAll(warm);
    await sleep(1000);
  };
  const warmIds = idsOnShards('soak-warm-', Array.from({ length: shards }, (_, i) => i), shards);
  await warmOn(warmIds.slice(0, 1));
  const rssOneAwake = await rssBytes(target.pid);
  if (shards > 1) await warmOn(warmIds.slice(1));
  const heapBefore = await heap();
  const rssBefore = await rssBytes(target.pid);
  const clients: RawClient[] = [];
  let held = 0;
  const t0 = performance.now();
  await openMany(
    count,
    PARALLEL_HANDSHAKES,
    (i) => openClient(target.wsUrl, connectPacket(`soak-idle-${i}`, { keepalive: 60 }), 120_000),
    (_i, client, code) => {
      clients.push(client);
      if (code === 0) held++;
    },
    until,
  );
  const acceptSeconds = (performance.now() - t0) / 1000;
  ctx.log(`${label}: ${held}/${count} held after ${secs(acceptSeconds)}`);
  await sleep(SETTLE_MS);
  const cpu0 = await cpuSeconds(target.pid);
  const w0 = performance.now();
  await sleep(IDLE_WINDOW_MS);
  const idleCpuPercent = (100 * ((await cpuSeconds(target.pid)) - cpu0)) / ((performance.now() - w0) / 1000);
  const rssAfter = await rssBytes(target.pid);
  const heapAfter = await heap();
  const stillOpen = clients.filter((c) => c.ws.readyState === c.ws.OPEN).length;
  if (stillOpen < held) {
    const why = new Map<string, number>();
    for (const c of clients) if (c.closedWith) why.set(c.closedWith, (why.get(c.closedWith) ?? 0) + 1);
    ctx.log(`${label}: only ${stillOpen} of ${held} still open after the idle window; close frames: ${[...why].map(([w, n]) => `${n} × "${w}"`).join(', ')}`);
  }
  await closeAll(clients);
  return { rssOneAwake, rssBefore, rssAfter, heapBefore, heapAfter, acceptSeconds, held: Math.min(held, stillOpen), idleCpuPercent };
}

interface ReferencePath {
  /** The static assets router in front of the Worker, as EdgeMQ's wrangler.toml has it. */
  assets?: boolean;
  /** A relaying gateway Worker in front of the object (bench/floor/edge-relay.mjs). */
  gateway?: boolean;
}

export async function startReference(mode: 'silent' | 'answer', { assets = false, gateway = false }: ReferencePath = {}): Promise<{ wsUrl: string; pid: number; inspectorPort: number; stop(): Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-soak-ref-'));
  const port: number = await freePort();
  const inspectorPort: number = await freePort();
  const child = spawn(
    process.execPath,
    [path.join(import.meta.dirname, 'reference', 'run.mjs'), '--port', String(port), '--persist-to', dir, '--inspector-port', String(inspectorPort), '--mode', mode, ...(assets ? ['--assets'] : []), ...(gateway ? ['--gateway'] : [])],
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  child.stderr!.on('data', (d: Buffer) => (output = (output + String(d)).slice(-8192)));
  const killGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  process.once('exit', () => killGroup('SIGKILL'));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the reference Durable Object did not start')), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      if (String(d).includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`the reference exited (${code}):\n${output}`)));
  });
  const pid = (await findDescendant(child.pid!, 'workerd')) ?? child.pid!;
  return {
    wsUrl: `ws://127.0.0.1:${port}/mqtt`,
    pid,
    inspectorPort,
    async stop() {
      killGroup('SIGTERM');
      await new Promise((r) => setTimeout(r, 2000));
      killGroup('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export async function idleConnections(ctx: ItemContext): Promise<ItemResult> {
  const count = scaled(ctx, FULL_COUNT, 10);
  const sideOf = async (mode: 'silent' | 'answer', platformPath: ReferencePath): Promise<Side> => {
    const reference = await startReference(mode, platformPath);
    const label = [mode, platformPath.assets ? 'assets' : '', platformPath.gateway ? 'gateway' : ''].filter(Boolean).join(', ');
    try {
      return await holdIdle(ctx, `reference (${label})`, reference, count, mode === 'silent' ? 'open' : 'connack');
    } finally {
      await reference.stop();
    }
  };
  const ref = await sideOf('silent', {});
  const answering = await sideOf('answer', { assets: true });
  const relayed = await sideOf('answer', { assets: true, gateway: true });
  const broker = await startSoakBroker({ vars: { ALLOW_ANONYMOUS: 'true', ACL_DEFAULT_POLICY: 'allow', ...ctx.vars }, inspector: true });
  const shards = Number(ctx.vars.BROKER_SHARDS ?? 1);
  let edge: Side;
  try {
    edge = await holdIdle(ctx, 'EdgeMQ', { wsUrl: broker.wsUrl, pid: broker.workerdPid(), inspectorPort: broker.inspectorPort }, count, 'connack', shards);
  } finally {
    await broker.stop();
  }
  // A runtime that lost its sockets (or its process) has no per-connection figure: a difference
  // over nothing held, or from a process that is gone, would be a number without meaning.
  const measurable = (s: Side) => s.held > 0 && s.rssAfter > 0;
  const per = (s: Side) => (measurable(s) ? (s.rssAfter - s.rssBefore) / s.held : NaN);
  const heapPer = (s: Side, k: keyof HeapUsage = 'usedBytes') => (measurable(s) && s.heapAfter && s.heapBefore ? (s.heapAfter[k] - s.heapBefore[k]) / s.held : NaN);
  const own = per(edge) - per(ref);
  const code = per(edge) - per(relayed);
  const sides = [edge, ref, answering, relayed];
  return {
    title: `${count.toLocaleString('en')} idle connections (keepalive 60 s)`,
    figures: [
      ['connections held (EdgeMQ / reference / platform-path reference / gateway-path reference)', sides.map((x) => x.held).join(' / ')],
      ['workerd RSS, EdgeMQ (every shard awake → connections held)', `${mib(edge.rssBefore)} → ${mib(edge.rssAfter)}`],
      ...(shards > 1
        ? ([[`each shard's fixed cost, woken by one client (not counted per connection)`, mib((edge.rssBefore - edge.rssOneAwake) / (shards - 1))]] as [string, string][])
        : []),
      ['workerd RSS, reference Durable Object', `${mib(ref.rssBefore)} → ${mib(ref.rssAfter)}`],
      ['RSS per connection, EdgeMQ', kib(per(edge))],
      ['RSS per connection, reference', kib(per(ref))],
      ["RSS per connection, platform-path reference (assets router in front, attachment, CONNACK)", kib(per(answering))],
      ['RSS per connection, gateway-path reference (that path behind a relaying gateway Worker: two sockets per client)', kib(per(relayed))],
      ["EdgeMQ's share per connection (EdgeMQ − do-nothing reference)", kib(own)],
      ["EdgeMQ's share without its gateway's second socket (EdgeMQ − platform-path reference)", kib(per(edge) - per(answering))],
      ["EdgeMQ's code per connection (EdgeMQ − gateway-path reference)", kib(code)],
      ['isolate JS heap per connection, EdgeMQ (after GC)', kib(heapPer(edge))],
      ['isolate JS heap per connection, reference (after GC)', kib(heapPer(ref))],
      ['isolate JS heap per connection, platform-path reference (after GC)', kib(heapPer(answering))],
      ['isolate JS heap per connection, gateway-path reference (after GC)', kib(heapPer(relayed))],
      ['isolate JS heap committed per connection (EdgeMQ / reference / platform-path / gateway-path)', sides.map((x) => kib(heapPer(x, 'totalBytes'))).join(' / ')],
      ['time to accept all (EdgeMQ, to CONNACK)', secs(edge.acceptSeconds)],
      ['time to accept all (reference, to WebSocket open)', secs(ref.acceptSeconds)],
      ['time to accept all (gateway-path reference, to CONNACK)', secs(relayed.acceptSeconds)],
      [`workerd CPU while idle (${IDLE_WINDOW_MS / 1000} s window), EdgeMQ`, `${edge.idleCpuPercent.toFixed(1)} % of a core`],
      [`workerd CPU while idle, reference`, `${ref.idleCpuPercent.toFixed(1)} % of a core`],
    ],
    // Judged against the gateway path: a broker that picks its shard from the CONNECT needs the
    // second socket, and on Cloudflare it lives in the edge Worker, not in the shard's isolate.
    passed: edge.held === count && relayed.held === count && code <= 10 * 1024,
    notes: [],
  };
}
