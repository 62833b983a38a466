/**
 * `npm run bench`: a floor reference (the least an MQTT forwarder in one
 * Durable Object can do, on the same runtime), EdgeMQ, aedes and mosquitto on
 * loopback, driven by the same MQTT.js load generator over ws:// with two
 * client framings, with EdgeMQ's ratios against the floor and the peers.
 *
 *   --only a,b     brokers to run: floor, floorgw (the floor behind a relaying
 *                  gateway Worker), floorapart (that gateway in its own workerd
 *                  process), edgemq, edgemq4 (EdgeMQ with four shards),
 *                  edgemqdirect (EdgeMQ with BROKER_GATEWAY=direct: the one
 *                  shard holds the client sockets, as the floor does; the
 *                  targets are judged on it when it runs), edgemqapart
 *                  (EdgeMQ with its gateway in its own workerd process),
 *                  aedes, mosquitto (default: all nine)
 *   --quick        smaller counts and windows, for a fast check
 *   --runs a,b     only these scenarios (lat0, lat1, tp0, tp1, fan, tp0acl, fanacl, conn, flood, floodLimited)
 *   --framing a,b  only these client framings: mqttjs, packet (default: both)
 *   --reps N       repetitions per scenario (default 3, 1 with --quick)
 *   --out FILE     markdown report; a full run writes docs/benchmarks.md unless
 *                  told otherwise, a quick run writes nothing unless told
 *   --profile      afterwards, repeat EdgeMQ's scenarios (one frame per packet)
 *                  with the V8 sampling profiler attached to the Worker and
 *                  report the hottest code (kept apart so the profiler cannot
 *                  skew the measured runs); on by default for a full run,
 *                  whose report must show where the time goes
 *   --no-profile   skip that
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { brokerNames, CLUSTER_BENCH_VARS, DIRECT_BENCH_VARS, GATEWAY_PROCESS, SHARDS_PROCESS, startEdgeMQ, starters, type BrokerKey, type BrokerStats, type RunningBroker } from './brokers';
import { cpuDelta, sampleCpu, type CpuDelta } from './proc';
import { startProfiler, type ProfileSummary } from './profile';
import {
  connectDuringFlood,
  connectionRate,
  fanOut,
  framesSent,
  framings as allFramings,
  latency,
  percentile,
  throughput,
  warmUp,
  type FloodResult,
  type Framing,
  type LatencyResult,
  type Log,
  type RateResult,
} from './scenarios';
import { parseBrokerConfig } from '../protocol/config';

// ---------------------------------------------------------------- options

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const option = (name: string) => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const value = args[i + 1];
  if (!value || value.startsWith('--')) throw new Error(`${name} needs a value`);
  return value;
};
const known = new Set(['--only', '--quick', '--out', '--profile', '--no-profile', '--runs', '--framing', '--reps']);
for (const a of args) if (a.startsWith('--') && !known.has(a)) throw new Error(`unknown flag ${a}`);

const quick = flag('--quick');
const profiling = flag('--profile') || (!quick && !flag('--no-profile'));
const only = (option('--only') ?? 'floor,floorgw,floorapart,edgemq,edgemqdirect,edgemq4,edgemqapart,aedes,mosquitto').split(',').map((s) => s.trim().toLowerCase()) as BrokerKey[];
/**
 * The broker the targets judge: a broker in one Durable Object against the
 * floor, which is one too. EdgeMQ with BROKER_GATEWAY=direct is that; the
 * default EdgeMQ adds the edge gateway's hop, which the floor behind a
 * gateway and the per-shard and same-hop comparisons in the report account for.
 */
const subjectKey: BrokerKey = only.includes('edgemqdirect') ? 'edgemqdirect' : 'edgemq';
const SUBJECT = brokerNames[subjectKey];
for (const key of only) if (!(key in starters)) throw new Error(`unknown broker "${key}" (${Object.keys(starters).join(', ')})`);
const framings = (option('--framing') ?? allFramings.join(',')).split(',').map((s) => s.trim()) as Framing[];
for (const f of framings) if (!allFramings.includes(f)) throw new Error(`unknown framing "${f}" (${allFramings.join(', ')})`);
const out = option('--out') ?? (quick ? undefined : 'docs/benchmarks.md');

interface Sizes {
  latency: number;
  warmup: number;
  total: number;
  windowMs: number;
  fanSubs: number;
  fanMsgs: number;
  conns: number;
}
const quickSizes: Sizes = { latency: 200, warmup: 50, total: 4_000, windowMs: 5_000, fanSubs: 50, fanMsgs: 40, conns: 50 };
/**
 * 100,000 messages per throughput run. At 20,000 the brokers on this machine
 * finished in 0.5–1.0 s, and one broker's runs differed by up to a fifth. The longer runs
 * favour EdgeMQ against the floor, mostly because the floor's CPU per
 * message rises in them, for a reason not established (QoS 1: floor 33 µs
 * and EdgeMQ direct 48 µs at 20,000, 39 and 43 µs at 100,000;
 * docs/benchmarks.md). Slow brokers with MQTT.js framing now reach the
 * window (windowMs) before publishing all of them.
 */
const fullSizes: Sizes = { latency: 2_000, warmup: 200, total: 100_000, windowMs: 10_000, fanSubs: 200, fanMsgs: 500, conns: 1_000 };
const sizes = quick ? quickSizes : fullSizes;
/**
 * Every scenario runs this many times, each on a fresh broker, and the median
 * (by the scenario's first metric) is reported: on a shared 2-CPU machine one
 * run of a few seconds varies by a factor of two or more. The brokers take
 * turns within each repetition, so the floor and EdgeMQ see the same load on
 * the machine.
 */
const defaultRepetitions = 3;
const repetitions = option('--reps') ? Number(option('--reps')) : quick ? 1 : defaultRepetitions;
if (!Number.isInteger(repetitions) || repetitions < 1) throw new Error('--reps needs a positive integer');
const publishers = 4;
const connConcurrency = 20;
/** Connecting during a flood: a new client this often, each given this long for its CONNACK. */
const probeEveryMs = 500;
const connackDeadlineMs = 10_000;
/** EdgeMQ's default MQTT_MAX_PUBLISH_RATE, as a fresh deployment has it. */
const floodRateLimit = parseBrokerConfig({}).maxPublishRate;
/** Hard stop for one scenario, start-up included, whatever the broker does. */
const scenarioLimitMs = 180_000;

const framingNames: Record<Framing, string> = { mqttjs: 'MQTT.js framing', packet: 'one frame per packet' };

// ---------------------------------------------------------------- scenarios and metrics

type Result = LatencyResult | RateResult | FloodResult;
/**
 * `frames`: WebSocket frames the load generator sent during the scenario.
 * `stats`: what the broker reported afterwards. `spread`: the primary value of
 * every repetition, in run order, when there were several.
 */
type Outcome = { ok: true; result: Result; cpu: CpuDelta; frames: number; stats?: BrokerStats; spread?: number[] } | { ok: false; error: string };

interface Scenario {
  id: string;
  title: string;
  go(url: string, framing: Framing, log: Log): Promise<Result>;
  /** Runs only against EdgeMQ, started with these Worker vars. */
  edgemqVars?: Record<string, string>;
  /** SQL for EdgeMQ's D1 before it starts (the ACL rules of the ACL scenarios). */
  edgemqSql?: string;
}

/** A scenario with one client framing. */
interface Run extends Scenario {
  base: string;
  framing: Framing;
}

/**
 * The ACL scenarios: default deny, and ${aclRuleCount} mosquitto-style rules
 * for the (anonymous) benchmark clients, of which only the last grants the
 * benchmark topics. Every publish and every delivery is evaluated against
 * the whole list, the worst case for a rule set of that size.
 */
const aclRuleCount = 1_000;
const aclVars = { ACL_DEFAULT_POLICY: 'deny' };
function aclRulesSql(): string {
  const now = Date.now();
  const row = (i: number, access: string, topic: string) => `('bench-${i}', 'topic', 'anonymous', NULL, '${access}', '${topic}', ${i}, NULL, ${now}, ${now})`;
  const rows = Array.from({ length: aclRuleCount - 1 }, (_, i) => row(i, i % 2 ? 'read' : 'write', `fleet/site-${i}/+/telemetry/#`));
  rows.push(row(aclRuleCount - 1, 'readwrite', 'bench/#'));
  // D1 caps one statement at 100 KB: insert in chunks.
  const inserts: string[] = [];
  for (let i = 0; i < rows.length; i += 100) {
    inserts.push(`INSERT INTO acl_rules (id, kind, principal_type, username, access, topic, position, comment, created_at, updated_at) VALUES\n${rows.slice(i, i + 100).join(',\n')};`);
  }
  return [...inserts, 'UPDATE config_version SET version = version + 1;'].join('\n');
}

const makeScenarios = (z: Sizes): Scenario[] => [
  { id: 'lat0', title: 'latency, QoS 0', go: (u, f, log) => latency(u, f, 0, z.latency, z.warmup, log) },
  { id: 'lat1', title: 'latency, QoS 1', go: (u, f, log) => latency(u, f, 1, z.latency, z.warmup, log) },
  { id: 'tp0', title: `throughput ${publishers}→1, QoS 0`, go: (u, f, log) => throughput(u, f, 0, publishers, z.total, z.windowMs, log) },
  { id: 'tp1', title: `throughput ${publishers}→1, QoS 1`, go: (u, f, log) => throughput(u, f, 1, publishers, z.total, z.windowMs, log) },
  { id: 'fan', title: `fan-out 1→${z.fanSubs}, wildcard`, go: (u, f, log) => fanOut(u, f, z.fanSubs, z.fanMsgs, z.windowMs, log) },
  { id: 'conn', title: 'connections', go: (u, f, log) => connectionRate(u, f, z.conns, connConcurrency, log) },
  {
    id: 'tp0acl',
    title: `throughput ${publishers}→1, QoS 0, ${aclRuleCount} ACL rules`,
    go: (u, f, log) => throughput(u, f, 0, publishers, z.total, z.windowMs, log),
    edgemqVars: aclVars,
    edgemqSql: aclRulesSql(),
  },
  {
    id: 'fanacl',
    title: `fan-out 1→${z.fanSubs}, wildcard, ${aclRuleCount} ACL rules`,
    go: (u, f, log) => fanOut(u, f, z.fanSubs, z.fanMsgs, z.windowMs, log),
    edgemqVars: aclVars,
    edgemqSql: aclRulesSql(),
  },
  {
    id: 'flood',
    title: `connecting during a ${publishers}-publisher flood`,
    go: (u, f, log) => connectDuringFlood(u, f, publishers, z.windowMs, probeEveryMs, connackDeadlineMs, log),
  },
  {
    id: 'floodLimited',
    title: `connecting during a flood, default MQTT_MAX_PUBLISH_RATE=${floodRateLimit}`,
    go: (u, f, log) => connectDuringFlood(u, f, publishers, z.windowMs, probeEveryMs, connackDeadlineMs, log),
    edgemqVars: { MQTT_MAX_PUBLISH_RATE: String(floodRateLimit) },
  },
];
const withFramings = (scenarios: Scenario[], fs: Framing[]): Run[] =>
  scenarios.flatMap((s) => fs.map((framing) => ({ ...s, base: s.id, framing, id: `${s.id}/${framing}`, title: `${s.title}, ${framingNames[framing]}` })));
const allScenarios = makeScenarios(sizes);
const chosen = option('--runs')?.split(',').map((s) => s.trim());
for (const id of chosen ?? []) if (!allScenarios.some((r) => r.id === id)) throw new Error(`unknown scenario "${id}" (${allScenarios.map((r) => r.id).join(', ')})`);
const runs = withFramings(chosen ? allScenarios.filter((r) => chosen.includes(r.id)) : allScenarios, framings);
const isFlood = (id: string) => id.startsWith('flood');
/** Brokers a run applies to: the EdgeMQ-only variants (ACLs, its publish rate limit) run on EdgeMQ alone. */
const appliesTo = (run: Run, key: BrokerKey) => !run.edgemqVars || key === 'edgemq' || key === 'edgemqdirect' || key === 'edgemq4';
/**
 * The profiled pass uses small counts whatever the flags, and the framing of
 * the targets: a QoS 0 backlog keeps the isolate busy after the window, and
 * the inspector answers only once it is drained.
 */
const profiledRuns = withFramings(makeScenarios({ ...quickSizes, total: 1_000 }), ['packet']).filter(
  (r) => !isFlood(r.base) && runs.some((x) => x.base === r.base),
);

interface Metric {
  run: string;
  base: string;
  framing: Framing;
  title: string;
  unit: string;
  /** Lower is better (latency). */
  lower?: boolean;
  value(r: Result): number;
  /** How the value reads when a bare number would hide something (attempts that got nothing). */
  format?(r: Result): string;
  /** EdgeMQ's target as a ratio to the floor from the same run. */
  target?: { text: string; pass(ratio: number, edgemq: Result): boolean };
}

/** QoS 1 counts only when nothing acknowledged was lost. */
const nothingLost = (r: Result) => (r as RateResult).lost === 0;
type BaseMetric = Omit<Metric, 'run' | 'framing'>;
const metricDefs: BaseMetric[] = [
  { base: 'lat0', title: 'latency p50, QoS 0', unit: 'ms', lower: true, value: (r) => (r as LatencyResult).p50, target: { text: '≤ 1.2× floor', pass: (x) => x <= 1.2 } },
  { base: 'lat0', title: 'latency p99, QoS 0', unit: 'ms', lower: true, value: (r) => (r as LatencyResult).p99 },
  { base: 'lat1', title: 'latency p50, QoS 1', unit: 'ms', lower: true, value: (r) => (r as LatencyResult).p50, target: { text: '≤ 1.2× floor', pass: (x) => x <= 1.2 } },
  { base: 'lat1', title: 'latency p99, QoS 1', unit: 'ms', lower: true, value: (r) => (r as LatencyResult).p99 },
  { base: 'tp0', title: `throughput ${publishers}→1, QoS 0`, unit: 'msg/s', value: (r) => (r as RateResult).rate, target: { text: '≥ 0.9× floor', pass: (x) => x >= 0.9 } },
  {
    base: 'tp1',
    title: `throughput ${publishers}→1, QoS 1`,
    unit: 'msg/s',
    value: (r) => (r as RateResult).rate,
    target: { text: '≥ 0.8× floor, nothing acknowledged lost', pass: (x, r) => x >= 0.8 && nothingLost(r) },
  },
  { base: 'fan', title: `fan-out 1→${sizes.fanSubs}, wildcard`, unit: 'deliveries/s', value: (r) => (r as RateResult).rate, target: { text: '≥ 0.9× floor', pass: (x) => x >= 0.9 } },
  { base: 'tp0acl', title: `throughput ${publishers}→1, QoS 0, ${aclRuleCount} ACL rules`, unit: 'msg/s', value: (r) => (r as RateResult).rate },
  { base: 'fanacl', title: `fan-out 1→${sizes.fanSubs}, wildcard, ${aclRuleCount} ACL rules`, unit: 'deliveries/s', value: (r) => (r as RateResult).rate },
  { base: 'conn', title: 'connection setup', unit: 'conn/s', value: (r) => (r as RateResult).rate, target: { text: '≥ 0.9× floor', pass: (x) => x >= 0.9 } },
  ...(['flood', 'floodLimited'] as const).flatMap((base): BaseMetric[] => {
    const suffix = base === 'flood' ? 'during a flood' : `during a flood, EdgeMQ at its default limit of ${floodRateLimit} PUBLISH/s per connection`;
    return [
      { base, title: `CONNACK p50 ${suffix}`, unit: 'ms', lower: true, value: (r) => floodValue(r as FloodResult, 50), format: (r) => floodCell(r as FloodResult, 50) },
      { base, title: `CONNACK worst ${suffix}`, unit: 'ms', lower: true, value: (r) => floodValue(r as FloodResult, 100), format: (r) => floodCell(r as FloodResult, 100) },
    ];
  }),
];
/** Targets apply with one frame per packet, the framing of browsers and paho. */
const metrics: Metric[] = allFramings.flatMap((framing) =>
  metricDefs.map((m) => ({ ...m, run: `${m.base}/${framing}`, framing, title: `${m.title}, ${framingNames[framing]}`, target: framing === 'packet' ? m.target : undefined })),
);

/** A percentile over every attempt, counting one without a CONNACK as slower than any that got one. */
function floodValue(r: FloodResult, p: number): number {
  const all = [...r.connackMs, ...Array.from({ length: r.failed }, () => Infinity)];
  return percentile(all, p);
}

function floodCell(r: FloodResult, p: number): string {
  const v = floodValue(r, p);
  if (r.attempts === 0) return 'no attempts';
  return Number.isFinite(v) ? `${v.toFixed(0)} ms` : `none within ${connackDeadlineMs / 1000} s`;
}

function detail(r: Result): string {
  if ('p50' in r) return `${r.samples} samples${r.lost ? `, ${r.lost} lost` : ''}`;
  if ('connackMs' in r) {
    const cut = r.cutOff ? `; the broker closed ${r.cutOff} of ${publishers} publishers, the first after ${r.firstCutOffAt!.toFixed(1)} s` : '';
    return `${r.attempts - r.failed} of ${r.attempts} connection attempts got a CONNACK within ${connackDeadlineMs / 1000} s; ${r.published} messages published, ${r.delivered} delivered${cut}`;
  }
  const errors = r.errors ? `, ${r.errors} errors` : '';
  const published = r.sent < r.planned ? ` (${r.sent} of ${r.planned} published in time)` : '';
  const acks = r.acked !== undefined ? `; ${r.acked} acknowledged, ${r.received} received, ${r.lost} acknowledged but lost` : '';
  return `${r.delivered}/${r.expected} in ${r.seconds.toFixed(1)} s${published}${errors}${acks}`;
}

/** Messages the load generator published in a run (connections for the connection scenario). */
function messagesOf(run: string, r: Result, warmup: number): number {
  if ('p50' in r) return r.samples + r.lost + warmup;
  if ('connackMs' in r) return r.published;
  if (run.startsWith('conn')) return r.delivered;
  return r.sent;
}

const fmtValue = (v: number, unit: string) => (unit === 'ms' ? v.toFixed(2) : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const show = (m: Metric, r: Result) => (m.format ? m.format(r) : `${fmtValue(m.value(r), m.unit)} ${m.unit}`);

// ---------------------------------------------------------------- running

const outcomes: Record<string, Record<string, Outcome>> = {};
const transports: Record<string, string> = {};
const runtimes: Record<string, string> = {};
const loadAtStart = os.loadavg()[0];
const startedAt = new Date();

async function withLimit<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

async function startBroker(key: BrokerKey, run: Run): Promise<RunningBroker> {
  if (key === 'edgemq') return startEdgeMQ({ vars: run.edgemqVars, setupSql: run.edgemqSql });
  if (key === 'edgemqdirect') return startEdgeMQ({ vars: { ...run.edgemqVars, ...DIRECT_BENCH_VARS }, setupSql: run.edgemqSql });
  if (key === 'edgemq4') return startEdgeMQ({ vars: { ...run.edgemqVars, ...CLUSTER_BENCH_VARS }, setupSql: run.edgemqSql });
  if (key === 'edgemqapart') return startEdgeMQ({ vars: run.edgemqVars, setupSql: run.edgemqSql, gatewayApart: true });
  return starters[key]();
}

/** One repetition of one run on one freshly started broker. */
async function attempt(key: BrokerKey, run: Run): Promise<Outcome & { startFailed?: boolean }> {
  const name = brokerNames[key];
  const log: Log = (line) => console.log(`   ${name}, ${run.title}: ${line}`);
  let broker: RunningBroker;
  try {
    broker = await withLimit(startBroker(key, run), 120_000, 'start-up');
  } catch (err) {
    const error = `did not start: ${firstLine(err)}`;
    log(error);
    return { ok: false, error, startFailed: true };
  }
  transports[name] = broker.transport;
  if (broker.runtime) runtimes[name] = broker.runtime;
  try {
    await withLimit(warmUp(broker.url, run.framing), 60_000, 'warm-up');
    const before = await sampleCpu(broker.processes, broker.label);
    const framesBefore = framesSent();
    const result = await withLimit(run.go(broker.url, run.framing, log), scenarioLimitMs, run.title);
    const cpu = cpuDelta(before, await sampleCpu(broker.processes, broker.label));
    const frames = framesSent() - framesBefore;
    const stats = await broker.stats?.().catch((err) => {
      log(`broker stats: ${firstLine(err)}`);
      return undefined;
    });
    const values = metrics.filter((m) => m.run === run.id).map((m) => `${m.title.split(',')[0]} ${show(m, result)}`);
    const dropped = stats?.dropped !== undefined ? `; dropped ${stats.dropped}` : '';
    log(`${values.join(', ')} (${detail(result)}${dropped}; ${frames} frames; broker CPU ${cpu.brokerTotal.toFixed(2)} s, load generator CPU ${cpu.client.toFixed(2)} s, wall ${cpu.wallSeconds.toFixed(1)} s)`);
    return { ok: true, result, cpu, frames, stats };
  } catch (err) {
    log(`FAILED: ${firstLine(err)}`);
    return { ok: false, error: firstLine(err) };
  } finally {
    await broker.stop().catch((err) => log(`stopping: ${firstLine(err)}`));
  }
}

/** Filled by the profiled pass after the measured runs. */
const profiles: Record<string, ProfileSummary | { error: string }> = {};
const startFailures = new Map<BrokerKey, string>();
for (const key of only) outcomes[brokerNames[key]] = {};
for (const run of runs) {
  console.log(`\n== ${run.title}`);
  const primary = metrics.find((m) => m.run === run.id)!;
  const attempts = new Map<BrokerKey, Outcome[]>();
  for (let rep = 1; rep <= repetitions; rep++) {
    if (repetitions > 1) console.log(`   run ${rep} of ${repetitions}`);
    // The brokers take turns, so each repetition compares them under the same load.
    for (const key of only) {
      if (!appliesTo(run, key)) continue;
      const failure = startFailures.get(key);
      const list = attempts.get(key) ?? [];
      attempts.set(key, list);
      if (failure) {
        if (list.length === 0) list.push({ ok: false, error: failure });
        continue;
      }
      const o = await attempt(key, run);
      if ('startFailed' in o && o.startFailed) startFailures.set(key, o.ok ? '' : o.error);
      list.push(o);
    }
  }
  for (const [key, list] of attempts) outcomes[brokerNames[key]][run.id] = medianOutcome(list, primary);
  await writeReport(`${runs.indexOf(run) + 1} of ${runs.length} scenarios done, no profile yet`);
}

/** The repetition with the median primary value; a failed repetition makes the scenario failed, as it would be for a user. */
function medianOutcome(attempts: Outcome[], primary: Metric): Outcome {
  const failed = attempts.find((a) => !a.ok);
  if (failed || attempts.length === 0) return failed ?? { ok: false, error: 'not run' };
  const done = attempts as Extract<Outcome, { ok: true }>[];
  const spread = done.map((a) => primary.value(a.result));
  const sorted = [...done].sort((a, b) => primary.value(a.result) - primary.value(b.result));
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return done.length > 1 ? { ...median, spread } : median;
}

const profileDir = path.join(os.tmpdir(), 'edgemq-bench-profiles');
if (profiling && only.includes(subjectKey)) {
  console.log(`\n== ${SUBJECT} again, with the V8 profiler attached to the Worker`);
  await mkdir(profileDir, { recursive: true });
  for (const run of profiledRuns) {
    const log: Log = (line) => console.log(`   ${run.title} (profiled): ${line}`);
    let broker: RunningBroker;
    try {
      const vars = { ...run.edgemqVars, ...(subjectKey === 'edgemqdirect' ? DIRECT_BENCH_VARS : {}) };
      broker = await withLimit(startEdgeMQ({ inspector: true, vars, setupSql: run.edgemqSql }), 120_000, 'start-up');
    } catch (err) {
      profiles[run.id] = { error: `did not start: ${firstLine(err)}` };
      break;
    }
    try {
      const port = broker.inspectorPort;
      if (port === undefined) throw new Error('the broker was started without an inspector');
      await withLimit(warmUp(broker.url, run.framing), 60_000, 'warm-up');
      const profiler = await startProfiler(port, process.cwd());
      await withLimit(run.go(broker.url, run.framing, log), scenarioLimitMs, run.title).catch((err) => log(`failed: ${firstLine(err)}`));
      const summary = await profiler.stop();
      profiles[run.id] = summary;
      const file = path.join(profileDir, `${run.id.replace("/", "-")}.cpuprofile`);
      await writeFile(file, JSON.stringify(summary.profile));
      await writeFile(file.replace(/\.cpuprofile$/, '.functions.txt'), summary.functions.map((f) => `${f.ms.toFixed(1)} ms  ${f.name}`).join('\n'));
      log(`${(summary.sampledMs - summary.idleMs).toFixed(0)} ms busy of ${summary.sampledMs.toFixed(0)} ms sampled; hottest: ${summary.files[0]?.name ?? 'n/a'}; raw profile in ${file}`);
    } catch (err) {
      profiles[run.id] = { error: firstLine(err) };
      log(`profiling failed: ${firstLine(err)}`);
    } finally {
      await broker.stop().catch(() => {});
    }
  }
}

/** The error on one line: its first lines, so "exited before it was ready:" keeps the reason that follows. */
function firstLine(err: unknown): string {
  const lines = (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.slice(0, 3).join(' ').slice(0, 300);
}

// ---------------------------------------------------------------- report

/**
 * Writes the report (and prints it when final). Written after every scenario as
 * well, so a run cut short still leaves what it measured.
 */
async function writeReport(partial: string | null): Promise<void> {

const brokersRun = only.map((k) => brokerNames[k]);
const peers = [brokerNames.floor, brokerNames.floorgw, brokerNames.aedes, brokerNames.mosquitto].filter((b) => brokersRun.includes(b));
const valueOf = (broker: string, m: Metric): number | null => {
  const o = outcomes[broker]?.[m.run];
  return o?.ok ? m.value(o.result) : null;
};
const runOf = (id: string) => runs.find((r) => r.id === id);
const cell = (broker: string, m: Metric): string => {
  const o = outcomes[broker]?.[m.run];
  const run = runOf(m.run);
  if (!o && run && broker !== 'EdgeMQ' && run.edgemqVars) return '—';
  if (!o) return 'not run';
  if (!o.ok) return `failed: ${o.error.replace(/\|/g, '\\|')}`;
  return show(m, o.result);
};
/** `of`'s value ÷ `other`'s (the targets' subject's, unless another broker is named). */
const ratio = (m: Metric, other: string, of = SUBJECT): number | null => {
  const e = valueOf(of, m);
  const o = valueOf(other, m);
  return e === null || o === null || o === 0 || !Number.isFinite(e) || !Number.isFinite(o) ? null : e / o;
};
const fmtRatio = (r: number | null) => (r === null ? '—' : `${r >= 10 ? r.toFixed(0) : r.toFixed(2)}×`);
/** The ratio of every repetition (the subject's i-th run ÷ the floor's i-th run of the same repetition). */
const ratioSpread = (m: Metric): string => {
  // The spread is of each run's primary value, so only that metric's row shows it.
  if (metrics.find((x) => x.run === m.run) !== m) return '';
  const e = outcomes[SUBJECT]?.[m.run];
  const f = outcomes.floor?.[m.run];
  if (!e?.ok || !f?.ok || !e.spread || !f.spread || e.spread.length !== f.spread.length) return '';
  return e.spread.map((v, i) => fmtRatio(f.spread![i] && Number.isFinite(v / f.spread![i]) ? v / f.spread![i] : null)).join(' / ');
};

interface Verdict {
  metric: Metric;
  ratio: number | null;
  pass: boolean | null;
}
/** A ratio judged against the metric's target; not measured when it or `broker`'s run is missing. */
const judge = (m: Metric, r: number | null, broker: string): Verdict => {
  const e = outcomes[broker]?.[m.run];
  return { metric: m, ratio: r, pass: r === null || !e?.ok ? null : m.target!.pass(r, e.result) };
};
const verdicts: Verdict[] = metrics.filter((m) => m.target && runOf(m.run)).map((m) => judge(m, ratio(m, 'floor'), SUBJECT));
/** With the direct broker as the subject, the default EdgeMQ (edge gateway) against the same floor, unjudged. */
const relayRatios = SUBJECT !== 'EdgeMQ' && brokersRun.includes('EdgeMQ');
const mark = (v: Verdict | undefined) => (!v ? '' : v.pass === null ? 'NOT MEASURED' : v.pass ? 'PASS' : '**MISSED**');

/**
 * Per shard, with each gateway in its own workerd process (one thread each
 * locally, as on Cloudflare the Worker runs apart from the Durable Objects):
 * the CPU the shards' process spends per delivered message against the
 * floor's whole process, which terminates the clients' sockets itself. The
 * inverse ratio is what one shard can carry against what the floor can on
 * the same core. Rates only; a latency has no per-shard share.
 */
const APART = brokerNames.edgemqapart;
const FLOOR_APART = brokerNames.floorapart;
const cpuPerMessage = (broker: string, run: string, part?: string): number | null => {
  const o = outcomes[broker]?.[run];
  if (!o?.ok || !('delivered' in o.result) || !o.result.delivered) return null;
  const seconds = part === undefined ? (o.cpu.broker.get('workerd') ?? o.cpu.brokerTotal) : o.cpu.broker.get(part);
  return seconds === undefined ? null : seconds / o.result.delivered;
};
/** The floor's CPU per message ÷ the shard's: what one shard can carry against the floor. */
const shardRatio = (run: string): number | null => {
  const floor = cpuPerMessage('floor', run);
  const shard = cpuPerMessage(APART, run, SHARDS_PROCESS);
  return floor === null || !shard ? null : floor / shard;
};
/**
 * Latency has no share per process, but both gateway-apart brokers pay the
 * same hop between two processes: EdgeMQ, gateway apart ÷ floor, gateway
 * apart is EdgeMQ's own latency above the least broker with that hop.
 */
const sameHopVerdicts: Verdict[] = metrics
  .filter((m) => m.target && m.lower && runOf(m.run))
  .map((m) => judge(m, ratio(m, FLOOR_APART, APART), APART));
const shardVerdicts: Verdict[] = metrics
  .filter((m) => m.target && m.unit.includes('/s') && runOf(m.run))
  .map((m) => judge(m, shardRatio(m.run), APART));

const lines: string[] = [];
const p = (...l: string[]) => lines.push(...l);

p('# Benchmarks', '');
if (partial) p(`**Partial report**, written while the benchmark was still running: ${partial}.`, '');
if (!quick && repetitions < defaultRepetitions) p(`**Reduced run**: ${repetitions} repetition${repetitions > 1 ? 's' : ''} per scenario instead of ${defaultRepetitions} (\`--reps\`).`, '');
p(
  '`npm run bench` drives a **floor reference** (the least an MQTT forwarder in one Durable Object can do, on the same local runtime as EdgeMQ), ' +
    'the **floor behind a gateway** (the same object behind the least relaying Worker a broker with many shards needs), ' +
    'EdgeMQ, EdgeMQ with the client sockets in its one shard (**direct**, `BROKER_GATEWAY=direct`), the floor behind a gateway and EdgeMQ again with the gateway in its own workerd process (**gateway apart**), aedes and mosquitto with the same load generator (MQTT.js over `ws://`, MQTT 3.1.1, 64-byte payloads), each broker on loopback on the same machine, ' +
    'and every scenario with two client framings: **MQTT.js framing** (MQTT.js on Node as it is, several WebSocket frames per packet) and ' +
    '**one frame per packet** (as browsers and paho send). EdgeMQ\'s targets are ratios to the floor from the same run, with one frame per packet' +
    (SUBJECT === 'EdgeMQ'
      ? '. '
      : `, judged on **${SUBJECT}** (\`BROKER_GATEWAY=direct\`: the one shard holds the client sockets, as the floor's one object does); the default EdgeMQ, whose edge gateway relays every frame, is shown beside it against the same floor. `) +
    (repetitions > 1
      ? `Every scenario runs ${repetitions} times, each on freshly started brokers that take turns (${brokersRun.join(', ')}), so each repetition compares them under the same load on the machine; tables show the run with the median value, and the per-broker tables list every run's value.`
      : 'Every scenario gets freshly started brokers. Numbers come from one run; rerun before drawing conclusions.'),
  '',
);

const measured = verdicts.filter((v) => v.pass !== null);
const missed = verdicts.filter((v) => v.pass === false);
const unmeasured = verdicts.filter((v) => v.pass === null);
p('## Summary', '');
if (!only.includes(subjectKey) || !only.includes('floor')) {
  p('EdgeMQ and the floor were not both part of this run, so no target was checked.', '');
} else {
  p(
    (measured.length ? `**${measured.length - missed.length} of ${verdicts.length} targets met**` : `**None of the ${verdicts.length} targets could be checked**`) +
      (SUBJECT === 'EdgeMQ' ? '.' : ` by ${SUBJECT} (\`BROKER_GATEWAY=direct\`, one shard; not the default, which relays through the edge gateway: see the line on the default EdgeMQ below).`),
  );
  if (missed.length) {
    p('', `Targets MISSED (${missed.length}):`, '');
    for (const v of missed) {
      const e = outcomes[SUBJECT]?.[v.metric.run];
      const lost = e?.ok && (e.result as RateResult).lost ? `, with ${(e.result as RateResult).lost} acknowledged messages lost` : '';
      p(`- MISSED: ${v.metric.title}: ${SUBJECT} is at ${fmtRatio(v.ratio)} the floor${lost}; the target is ${v.metric.target!.text}.`);
    }
  }
  if (unmeasured.length) {
    p('', `Targets that could not be checked because a run failed or was skipped (${unmeasured.length}):`, '');
    for (const v of unmeasured) p(`- ${v.metric.title} (target ${v.metric.target!.text})`);
  }
  p('');
  if (relayRatios) {
    const relay = verdicts.map((v) => ({ v, r: ratio(v.metric, 'floor', 'EdgeMQ') })).filter((x) => x.r !== null);
    if (relay.length) {
      p(
        `**The default EdgeMQ** (\`BROKER_GATEWAY=relay\`, the edge gateway relaying every frame to the shard) against the same floor: ` +
          relay.map(({ v, r }) => `${v.metric.title} ${fmtRatio(r)} (${v.metric.target!.pass(r!, (outcomes.EdgeMQ![v.metric.run] as { result: Result }).result) ? 'within' : 'outside'} the target)`).join('; ') +
          '.',
        '',
      );
    }
  }
  const shardMeasured = shardVerdicts.filter((v) => v.pass !== null);
  if (shardMeasured.length) {
    p(
      `**Per shard, with the gateway in its own process** (what one shard can carry against the floor, from CPU per delivered message; see "Per shard" below): ` +
        `${shardMeasured.filter((v) => v.pass).length} of ${shardVerdicts.length} throughput targets met` +
        (shardMeasured.some((v) => !v.pass) ? `; missed: ${shardMeasured.filter((v) => !v.pass).map((v) => `${v.metric.title} (${fmtRatio(v.ratio)})`).join(', ')}.` : '.'),
      '',
    );
  }
  const hopMeasured = sameHopVerdicts.filter((v) => v.pass !== null);
  if (hopMeasured.length) {
    p(
      `**Latency with the same hop** (EdgeMQ, gateway apart ÷ floor, gateway apart): ` +
        hopMeasured.map((v) => `${v.metric.title} ${fmtRatio(v.ratio)} (${v.pass ? 'PASS' : 'MISSED'})`).join('; ') +
        '.',
      '',
    );
  }
}

p('## Results', '');
const ratioCols = [...peers.map((b) => `${SUBJECT} ÷ ${b}`), ...(relayRatios ? ['EdgeMQ ÷ floor'] : [])];
p(`| scenario | ${brokersRun.join(' | ')} | ${ratioCols.join(' | ')} | ${SUBJECT} ÷ floor, every run | target | result |`);
p(`| --- | ${brokersRun.map(() => '---:').join(' | ')} | ${ratioCols.map(() => '---:').join(' | ')} | --- | --- | --- |`);
for (const framing of framings) {
  for (const m of metrics.filter((x) => x.framing === framing && runOf(x.run))) {
    const v = verdicts.find((x) => x.metric === m);
    const ratios = [...peers.map((b) => fmtRatio(ratio(m, b))), ...(relayRatios ? [fmtRatio(ratio(m, 'floor', 'EdgeMQ'))] : [])];
    p(`| ${m.title} | ${brokersRun.map((b) => cell(b, m)).join(' | ')} | ${ratios.join(' | ')} | ${ratioSpread(m)} | ${m.target?.text ?? ''} | ${mark(v)} |`);
  }
}
p('');
p(
  'Latency is lower-is-better (publish on one connection to delivery on another, measured from a timestamp in the payload), and so is a lower ratio for it; ' +
    `every other row is higher-is-better. "${SUBJECT} ÷ floor, every run" divides each of its runs by the floor\'s run of the same repetition.`,
  '',
);

const qos1Runs = runs.filter((r) => r.base === 'tp1');
if (qos1Runs.length && brokersRun.some((b) => qos1Runs.some((r) => outcomes[b]?.[r.id]?.ok))) {
  p('## QoS 1: acknowledged, received, lost', '');
  p(
    'Throughput at QoS 1 counts only if what was acknowledged arrives. PUBACKs are counted at the publishers, distinct messages at the subscriber ' +
      '(each payload carries its publisher and sequence number), after the window and up to 10 s more for messages still on their way; ' +
      '"lost" is acknowledged messages the subscriber never got. "dropped" is EdgeMQ\'s own counter from `/api/v1/stats` after the run. Values are from the median run.',
    '',
  );
  p('| scenario | broker | msg/s | published | acknowledged | received | acknowledged but lost | dropped (broker) |');
  p('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const run of qos1Runs) {
    for (const b of brokersRun) {
      const o = outcomes[b]?.[run.id];
      if (!o?.ok) continue;
      const r = o.result as RateResult;
      p(`| ${run.title} | ${b} | ${r.rate.toFixed(0)} | ${r.sent} | ${r.acked ?? '—'} | ${r.received ?? '—'} | ${r.lost ?? '—'} | ${o.stats?.dropped ?? '—'} |`);
    }
  }
  p('');
}

if (brokersRun.some((b) => runs.some((run) => outcomes[b]?.[run.id]?.ok))) {
  p('## Durable Object WebSocket events per message', '');
  p(
    'Every WebSocket frame that reaches a Durable Object is a billed event. Counted, not estimated: the load generator counts every `WebSocket.send` on every client socket ' +
      '(CONNECT, SUBSCRIBE, PUBLISH, PUBACK, DISCONNECT …) during the scenario, and divides by the messages it published (connections, for the connection scenario). ' +
      'For EdgeMQ and the floor each frame is one `webSocketMessage` event on the shard; the floor also counts the events it received, shown in brackets as a check. ' +
      'aedes and mosquitto read the same frames from a byte stream. Messages delivered are not events (sending is not billed per frame).',
    '',
  );
  p(`| scenario | ${brokersRun.join(' | ')} |`);
  p(`| --- | ${brokersRun.map(() => '---:').join(' | ')} |`);
  for (const run of runs) {
    const perMessage = (b: string) => {
      const o = outcomes[b]?.[run.id];
      if (!o?.ok) return '—';
      const n = messagesOf(run.base, o.result, sizes.warmup);
      if (n === 0) return '—';
      const check = o.stats?.frames !== undefined ? ` (${(o.stats.frames / n).toFixed(2)})` : '';
      return `${(o.frames / n).toFixed(2)}${check}`;
    };
    p(`| ${run.title} | ${brokersRun.map(perMessage).join(' | ')} |`);
  }
  p('');
}

if (outcomes.EdgeMQ && runs.some((r) => r.base === 'tp0acl' || r.base === 'fanacl')) {
  p('## Cost of topic ACLs', '');
  p(
    `EdgeMQ with ACL_DEFAULT_POLICY=deny and ${aclRuleCount} rules for the benchmark clients (only the last one grants the benchmark topics), ` +
      'against the same scenario with no rules (ACL_DEFAULT_POLICY=allow). Answers are cached per client and topic (a rule change drops the cache), ' +
      'so the first message on a topic looks up the rules and the rest are cache hits, as on a fleet that publishes to the same topics over and over. ' +
      'A look-up checks only the rules whose first topic level matches (`bench`) or is a wildcard, not all of them. ' +
      'Each value is a median; the EdgeMQ table below lists every run, and a ratio inside that spread is noise, not a cost.',
    '',
  );
  p('| scenario | ACLs off | ' + `${aclRuleCount} ACL rules | with ÷ without | broker CPU per message, off → on |`);
  p('| --- | ---: | ---: | ---: | --- |');
  for (const framing of framings) {
    for (const [off, on] of [['tp0', 'tp0acl'], ['fan', 'fanacl']] as const) {
      const mOff = metrics.find((m) => m.run === `${off}/${framing}`)!;
      const mOn = metrics.find((m) => m.run === `${on}/${framing}`)!;
      if (!runOf(mOff.run) || !runOf(mOn.run)) continue;
      const a = valueOf('EdgeMQ', mOff);
      const b = valueOf('EdgeMQ', mOn);
      const perMessage = (id: string) => {
        const o = outcomes.EdgeMQ?.[id];
        if (!o?.ok || !('delivered' in o.result) || !o.result.delivered) return '—';
        return `${((o.cpu.brokerTotal / o.result.delivered) * 1e6).toFixed(0)} µs`;
      };
      p(`| ${mOn.title.replace(`, ${aclRuleCount} ACL rules`, '')} | ${cell('EdgeMQ', mOff)} | ${cell('EdgeMQ', mOn)} | ${a && b !== null ? fmtRatio(b / a) : '—'} | ${perMessage(mOff.run)} → ${perMessage(mOn.run)} |`);
    }
  }
  p('');
}

if (brokersRun.includes('EdgeMQ') && brokersRun.includes('EdgeMQ ×4')) {
  p('## One shard and four', '');
  p(
    'EdgeMQ with `BROKER_SHARDS=1` and with `=4`, in the same run. The load generator\'s client ids are random, so with four shards most ' +
      'messages cross from the publisher\'s shard to the subscriber\'s (a call between Durable Objects, one batch in flight per pair). ' +
      'Per shard is the cluster\'s figure divided by four. Locally every shard shares one workerd process on this machine\'s cores, so four ' +
      'shards cannot be faster than one here; the figures show what crossing shards costs, not the platform\'s parallelism. ' +
      'CPU is the whole local runtime\'s per delivered message; Durable Object requests are the shards\' own counters (upgrades, alarms, ' +
      'calls between shards, incoming WebSocket messages at 1/20) per delivered message.',
    '',
  );
  p('| scenario | EdgeMQ | EdgeMQ ×4 | ×4 per shard | CPU per message, 1 → 4 | DO requests per message, 1 → 4 | calls between shards per message (×4) |');
  p('| --- | ---: | ---: | ---: | --- | --- | ---: |');
  const delivered = (o: Outcome | undefined) => (o?.ok && 'delivered' in o.result && o.result.delivered ? o.result.delivered : null);
  for (const m of metrics) {
    if (metrics.find((x) => x.run === m.run) !== m || !runOf(m.run)) continue;
    const one = outcomes.EdgeMQ?.[m.run];
    const four = outcomes['EdgeMQ ×4']?.[m.run];
    if (!one && !four) continue;
    const v4 = valueOf('EdgeMQ ×4', m);
    // Rates divide over the shards; a latency does not.
    const perShard = v4 === null || !m.unit.includes('/s') ? '—' : `${fmtValue(v4 / 4, m.unit)} ${m.unit}`;
    const per = (o: Outcome | undefined, f: (ok: Extract<Outcome, { ok: true }>, n: number) => string) => {
      const n = delivered(o);
      return o?.ok && n ? f(o, n) : '—';
    };
    const cpu = (o: Outcome | undefined) => per(o, (ok, n) => `${((ok.cpu.brokerTotal / n) * 1e6).toFixed(0)} µs`);
    const req = (o: Outcome | undefined) => per(o, (ok, n) => (ok.stats?.doRequests !== undefined ? (ok.stats.doRequests / n).toFixed(3) : '—'));
    const calls = per(four, (ok, n) => (ok.stats?.clusterCalls !== undefined ? (ok.stats.clusterCalls / n).toFixed(3) : '—'));
    p(`| ${m.title} | ${cell('EdgeMQ', m)} | ${cell('EdgeMQ ×4', m)} | ${perShard} | ${cpu(one)} → ${cpu(four)} | ${req(one)} → ${req(four)} | ${calls} |`);
  }
  p('');
}

if (brokersRun.includes(APART) && brokersRun.includes('floor')) {
  p('## Per shard: the gateway in its own process', '');
  p(
    'Locally one workerd process runs every isolate on one thread, so the edge gateway and the shard it relays to share one core, which ' +
      'on Cloudflare they do not: the Worker runs at the edge, apart from the Durable Object. Here **EdgeMQ, gateway apart** runs the same bundle in ' +
      'two workerd processes (`scripts/local-runtime.mjs --gateway-apart`): clients reach the Worker in one, which reaches the shard in the other ' +
      'through Miniflare\'s dev registry; **floor, gateway apart** does the same with the floor\'s relay and object (`bench/floor/start.mjs --apart`). ' +
      'What the shards\' process spends per delivered message (connection, for the connection scenario) is a shard\'s own cost, and the floor\'s ' +
      'whole process, which terminates the clients\' sockets itself, is the least one object can spend. Their ratio (floor ÷ shard) is what one ' +
      'shard can carry against what the floor can on the same core; it is checked against the same targets. The rates themselves are limited ' +
      'by whichever process is busiest, on this machine\'s two cores shared with the load generator, and are shown for reference.',
    '',
  );
  const us = (x: number | null) => (x === null ? '—' : `${(x * 1e6).toFixed(0)} µs`);
  const hasFloorApart = brokersRun.includes(FLOOR_APART);
  p(
    `| scenario | floor | ${hasFloorApart ? `${FLOOR_APART} | ` : ''}${APART} | CPU per message: floor | ${hasFloorApart ? `${FLOOR_APART}: object / gateway | ` : ''}${APART}: shard / gateway | a shard ÷ the floor | target | result |`,
  );
  p(`| --- | ---: | ${hasFloorApart ? '---: | ' : ''}---: | ---: | ${hasFloorApart ? '--- | ' : ''}--- | ---: | --- | --- |`);
  for (const m of metrics) {
    if (metrics.find((x) => x.run === m.run) !== m || !runOf(m.run) || !m.unit.includes('/s') || runOf(m.run)!.edgemqVars) continue;
    const v = shardVerdicts.find((x) => x.metric === m);
    const floorApart = hasFloorApart ? `${cell(FLOOR_APART, m)} | ` : '';
    const floorApartCpu = hasFloorApart ? `${us(cpuPerMessage(FLOOR_APART, m.run, SHARDS_PROCESS))} / ${us(cpuPerMessage(FLOOR_APART, m.run, GATEWAY_PROCESS))} | ` : '';
    p(
      `| ${m.title} | ${cell('floor', m)} | ${floorApart}${cell(APART, m)} | ${us(cpuPerMessage('floor', m.run))} | ${floorApartCpu}` +
        `${us(cpuPerMessage(APART, m.run, SHARDS_PROCESS))} / ${us(cpuPerMessage(APART, m.run, GATEWAY_PROCESS))} | ${fmtRatio(shardRatio(m.run))} | ${v ? m.target!.text : ''} | ${mark(v)} |`,
    );
  }
  p('');
  const hopRows = sameHopVerdicts.filter((v) => valueOf(APART, v.metric) !== null || valueOf(FLOOR_APART, v.metric) !== null);
  if (hasFloorApart && hopRows.length) {
    p(
      'Latency has no share per process: a message crosses both. Both gateway-apart brokers pay the same hop between two workerd processes, ' +
        'so EdgeMQ\'s ratio to the floor with the gateway apart is its own latency above the least broker with that hop, judged against the same target.',
      '',
    );
    p(`| scenario | ${FLOOR_APART} | ${APART} | ${APART} ÷ ${FLOOR_APART} | target | result |`);
    p('| --- | ---: | ---: | ---: | --- | --- |');
    for (const v of hopRows) p(`| ${v.metric.title} | ${cell(FLOOR_APART, v.metric)} | ${cell(APART, v.metric)} | ${fmtRatio(v.ratio)} | ${v.metric.target!.text} | ${mark(v)} |`);
    p('');
  }
}

p('## Setup', '');
p(`- Date: ${startedAt.toISOString().replace('T', ' ').slice(0, 16)} UTC${quick ? ' (**quick run**: smaller counts)' : ''}`);
p(`- Machine: ${os.availableParallelism()} CPUs (\`nproc\`), ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB memory, shared with other work`);
p(`- OS: ${osName()}, kernel ${os.release()}; 1-minute load average at start ${loadAtStart.toFixed(2)}, at the end ${os.loadavg()[0].toFixed(2)}`);
p(`- Node ${process.version} (load generator, aedes, the EdgeMQ and floor launchers)`);
p(
  `- wrangler ${pkgVersion('wrangler')} (bundling, config) with its Miniflare ${wranglerDependencyVersion('miniflare')}, ${runtimes.EdgeMQ ?? runtimes.floor ?? `workerd ${wranglerDependencyVersion('workerd')} (package)`}, ` +
    `aedes ${pkgVersion('aedes')}, MQTT.js (mqtt) ${pkgVersion('mqtt')}, mqtt-packet ${pkgVersion('mqtt-packet')}, ws ${pkgVersion('ws')}, ${mosquittoVersion()}`,
);
for (const b of brokersRun) p(`- ${b}: ${transports[b] ?? 'not started'}`);
p('');
p('Scenarios:', '');
p(
  '- **client framings**: *MQTT.js framing* is MQTT.js on Node unchanged: its WebSocket stream sends every write as a frame, and it writes a packet in parts ' +
    '(a 64-byte PUBLISH as 5 frames, a CONNECT as 9). *One frame per packet* is the same MQTT.js client whose socket (`createWebsocket`) gathers the parts ' +
    'of each packet, reading its length from the fixed header, and sends the whole packet as one frame, as browsers and paho do; packets, their order and ' +
    'the stream\'s backpressure are unchanged (see `bench/scenarios.ts`).',
);
p(
  '- **warm-up**: before every measured window, on every broker: 20 clients connect, one subscribes, another publishes 100 QoS 1 messages to it, all leave, and 0.5 s passes. A freshly started broker would otherwise charge its start (EdgeMQ\'s shard: tables, configuration from D1, compiling) to the scenario.',
);
p(`- **latency**: one publisher, one subscriber on one topic; ${sizes.warmup} warm-up messages, then ${sizes.latency} measured. Each message is sent once the previous one arrived, so the broker never queues.`);
p(
  `- **throughput**: ${publishers} publishers → 1 subscriber on one topic, ${sizes.total} messages in total or a ${sizes.windowMs / 1000} s window, whichever ends first; ` +
    'the rate is messages received ÷ time to the last one (or the window). Publishers honour stream backpressure as MQTT.js reports it; ' +
    'at QoS 1 each keeps at most 100 messages awaiting PUBACK (MQTT.js has no outgoing window of its own; 100 is the Receive Maximum EdgeMQ advertises by default).',
);
p(`- **fan-out**: ${sizes.fanSubs} subscribers on \`…/+\`, one publisher sending ${sizes.fanMsgs} QoS 0 messages across 10 topics that match; deliveries received ÷ time, ${sizes.windowMs / 1000} s window at most.`);
p(`- **connections**: ${sizes.conns} MQTT connections (WebSocket upgrade, CONNECT, CONNACK), ${connConcurrency} at a time, all held open until the last one is up.`);
p(
  `- **connecting during a flood**: ${publishers} publishers send QoS 0 to one subscriber as fast as their sockets accept it for ${sizes.windowMs / 1000} s, ` +
    `while a new client connects every ${probeEveryMs} ms and gets ${connackDeadlineMs / 1000} s for its CONNACK. Worst counts an attempt without a CONNACK as slower than any other. ` +
    `EdgeMQ runs it twice: with no rate limit (\`MQTT_MAX_PUBLISH_RATE=0\`, like the floor, aedes and mosquitto) and with its default \`MQTT_MAX_PUBLISH_RATE=${floodRateLimit}\`.`,
);
p('');

p('## Per broker', '');
p(
  'Broker CPU is user + system time of the broker processes from `/proc/<pid>/stat` over the scenario; load-generator CPU is this Node process. ' +
    'CPU ÷ wall near 1.0 for a single-threaded process means that process was saturated.',
  '',
);
for (const b of brokersRun) {
  p(`### ${b}`, '');
  p('| scenario | result | detail | wall | broker CPU | broker CPU ÷ wall | load generator CPU | broker CPU by process |');
  p('| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |');
  const key = only.find((k) => brokerNames[k] === b)!;
  for (const run of runs) {
    if (!appliesTo(run, key)) continue;
    const o = outcomes[b]?.[run.id];
    const values = metrics.filter((m) => m.run === run.id);
    if (!o || !o.ok) {
      p(`| ${run.title} | ${o ? `failed: ${o.error.replace(/\|/g, '\\|')}` : 'not run'} | | | | | | |`);
      continue;
    }
    const label = (m: Metric) => (m.title.startsWith('latency') ? m.title.split(',')[0].replace('latency ', '') + ' ' : m.title.startsWith('CONNACK') ? m.title.split(' ').slice(0, 2).join(' ') + ' ' : '');
    const shown = values.map((m) => `${label(m)}${show(m, o.result)}`).join(', ');
    const runsOf = o.spread ? `; runs: ${o.spread.map((v) => (Number.isFinite(v) ? fmtValue(v, values[0].unit) : '—')).join(' / ')} ${values[0].unit}` : '';
    const dropped = o.stats?.dropped !== undefined ? `; dropped ${o.stats.dropped}` : '';
    const parts = [...o.cpu.broker.entries()]
      .filter(([, sec]) => sec >= 0.005)
      .sort((x, y) => y[1] - x[1])
      .map(([n, sec]) => `${n} ${sec.toFixed(2)} s`)
      .join('; ');
    p(
      `| ${run.title} | ${shown} | ${detail(o.result)}${dropped}${runsOf} | ${o.cpu.wallSeconds.toFixed(1)} s | ${o.cpu.brokerTotal.toFixed(2)} s | ` +
        `${(o.cpu.brokerTotal / o.cpu.wallSeconds).toFixed(2)} | ${o.cpu.client.toFixed(2)} s | ${parts || '—'} |`,
    );
  }
  p('');
}

// Fan-out and connections are dominated by outbound deliveries and handshakes, not inbound frames.
const frameRows = runs.filter((run) => run.base.startsWith('lat') || run.base === 'tp0' || run.base === 'tp1');
if (brokersRun.some((b) => frameRows.some((run) => outcomes[b]?.[run.id]?.ok))) {
  p('## Broker CPU per WebSocket frame', '');
  p(`| scenario | ${brokersRun.map((b) => `${b}: broker CPU per frame`).join(' | ')} |`);
  p(`| --- | ${brokersRun.map(() => '---:').join(' | ')} |`);
  for (const run of frameRows) {
    const perFrame = (b: string) => {
      const o = outcomes[b]?.[run.id];
      if (!o?.ok || o.frames === 0) return '—';
      // /proc counts in 10 ms ticks; below a few ticks the quotient is noise.
      if (o.cpu.brokerTotal < 0.03) return `< ${Math.ceil((0.03 / o.frames) * 1e6)} µs`;
      return `${((o.cpu.brokerTotal / o.frames) * 1e6).toFixed(0)} µs`;
    };
    p(`| ${run.title} | ${brokersRun.map(perFrame).join(' | ')} |`);
  }
  p('', 'Broker CPU per frame is all of the broker\'s CPU in the scenario (deliveries included) divided by the frames it was sent.', '');
}

if (Object.keys(profiles).length > 0) {
  p(`## ${SUBJECT} CPU profile`, '');
  p(
    `Each ${SUBJECT} scenario run once more,` + ' with one frame per packet, with the V8 sampling profiler attached to the Worker\'s isolate (which also runs the Durable Object), ' +
      'through workerd\'s inspector. Self time is attributed to the original source files through the bundle\'s source map. ' +
      '"Busy" excludes idle samples; `(program)` is time V8 saw outside JavaScript (the runtime\'s own work: WebSocket event dispatch, I/O, SQLite), ' +
      'and "runtime APIs" are calls such as `WebSocket.send` whose time is spent in workerd on JavaScript\'s behalf. ' +
      `These runs use smaller counts (${quickSizes.latency} latency samples, ${1_000} throughput messages, ${quickSizes.fanSubs} fan-out subscribers, ${quickSizes.conns} connections) ` +
      'and are slower than the measured ones because of the profiler; only the proportions matter.',
    '',
  );
  for (const run of profiledRuns) {
    const s = profiles[run.id];
    if (!s) continue;
    p(`### ${run.title}`, '');
    if ('error' in s) {
      p(`Profiling failed: ${s.error}`, '');
      continue;
    }
    const busy = s.sampledMs - s.idleMs;
    const pct = (ms: number) => `${((ms / busy) * 100).toFixed(0)}%`;
    p(`${busy.toFixed(0)} ms busy in ${s.sampledMs.toFixed(0)} ms sampled.`, '');
    p('| source file | self time | share of busy |', '| --- | ---: | ---: |');
    for (const f of s.files.slice(0, 8)) p(`| ${f.name} | ${f.ms.toFixed(0)} ms | ${pct(f.ms)} |`);
    p('', '| function | self time | share of busy |', '| --- | ---: | ---: |');
    for (const f of s.functions.slice(0, 10)) p(`| ${f.name.replace(/\|/g, '\\|')} | ${f.ms.toFixed(0)} ms | ${pct(f.ms)} |`);
    p('');
  }
}

const notes = await readFile(path.join(import.meta.dirname, 'notes.md'), 'utf8').catch(() => '');
if (notes.trim()) p(notes.trim(), '');

const report = lines.join('\n');
if (!partial) console.log('\n' + report);
if (out) {
  await mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFile(out, report);
  if (!partial) console.log(`\nwrote ${out}`);
}
}

await writeReport(null);
// Clients closed with force can leave timers behind; nothing else is pending.
process.exit(0);

// ---------------------------------------------------------------- versions

function pkgVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(path.join('node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

/** A package as wrangler resolves it (its workerd and Miniflare need not be the top-level ones). */
function wranglerDependencyVersion(name: string): string {
  try {
    const fromWrangler = createRequire(path.resolve('node_modules/wrangler/package.json'));
    return fromWrangler(`${name}/package.json`).version;
  } catch {
    return 'unknown';
  }
}

function mosquittoVersion(): string {
  try {
    // -h prints the version and exits non-zero.
    execFileSync('/usr/sbin/mosquitto', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const text = String((err as { stdout?: string }).stdout ?? '');
    const m = /mosquitto version \S+/.exec(text);
    if (m) return m[0];
  }
  return 'mosquitto version unknown';
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync('/etc/os-release', 'utf8'));
    if (m) return m[1];
  } catch {
    // not Linux
  }
  return `${os.type()} ${os.release()}`;
}
