/**
 * `npm run bench`: EdgeMQ, aedes and mosquitto on loopback, driven by the same
 * MQTT.js load generator, with ratios against the targets. Writes markdown to
 * --out (default docs/benchmarks.md).
 *   --quick            smaller counts, for a fast check
 *   --only a,b         brokers to run (edgemq, aedes, mosquitto)
 */
import { execSync } from 'node:child_process';
import { writeFile, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startAedes, startEdgeMQ, startMosquitto, treeCpuSeconds, type RunningBroker } from './brokers';
import { connectionRate, fanOut, latency, throughput } from './scenarios';

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = (args[args.indexOf('--only') + 1] && args.includes('--only') ? args[args.indexOf('--only') + 1] : 'edgemq,aedes,mosquitto').split(',');
const out = args.includes('--out') ? args[args.indexOf('--out') + 1] : 'docs/benchmarks.md';

const sizes = quick
  ? { latency: 200, throughput0: 4_000, throughput1: 2_000, fanSubs: 50, fanMsgs: 40, conns: 50 }
  : { latency: 1_000, throughput0: 20_000, throughput1: 10_000, fanSubs: 200, fanMsgs: 100, conns: 200 };

interface Row {
  scenario: string;
  unit: string;
  higherIsBetter: boolean;
  values: Record<string, { value: number; note: string; cpu: number } | { error: string }>;
}

const rows: Row[] = [
  { scenario: 'latency p50, QoS 0', unit: 'ms', higherIsBetter: false, values: {} },
  { scenario: 'latency p99, QoS 0', unit: 'ms', higherIsBetter: false, values: {} },
  { scenario: 'latency p50, QoS 1', unit: 'ms', higherIsBetter: false, values: {} },
  { scenario: 'latency p99, QoS 1', unit: 'ms', higherIsBetter: false, values: {} },
  { scenario: 'throughput 4→1, QoS 0', unit: 'msg/s', higherIsBetter: true, values: {} },
  { scenario: 'throughput 4→1, QoS 1', unit: 'msg/s', higherIsBetter: true, values: {} },
  { scenario: `fan-out 1→${sizes.fanSubs} on a wildcard`, unit: 'deliveries/s', higherIsBetter: true, values: {} },
  { scenario: 'connections', unit: 'conn/s', higherIsBetter: true, values: {} },
];

const starters: Record<string, () => Promise<RunningBroker>> = { edgemq: startEdgeMQ, aedes: startAedes, mosquitto: startMosquitto };
const transports: Record<string, string> = {};
const names: Record<string, string> = { edgemq: 'EdgeMQ', aedes: 'aedes', mosquitto: 'mosquitto' };

async function measure<T>(broker: RunningBroker, fn: () => Promise<T>): Promise<{ result: T; cpu: number }> {
  const before = await treeCpuSeconds(broker.pid);
  const result = await fn();
  return { result, cpu: (await treeCpuSeconds(broker.pid)) - before };
}

for (const key of only) {
  const name = names[key];
  if (!starters[key]) throw new Error(`unknown broker ${key}`);
  console.log(`\n== ${name}`);
  const record = (i: number, value: number, note: string, cpu: number) => {
    rows[i].values[name] = { value, note, cpu };
    console.log(`${rows[i].scenario.padEnd(34)} ${value.toFixed(rows[i].unit === 'ms' ? 2 : 0).padStart(10)} ${rows[i].unit} ${note} (broker CPU ${cpu.toFixed(2)} s)`);
  };
  // Each scenario gets a fresh broker, so a backlog left by one cannot slow the next.
  const scenario = async (indexes: number[], fn: (broker: RunningBroker) => Promise<void>) => {
    let broker: RunningBroker;
    try {
      broker = await starters[key]();
    } catch (err) {
      for (const i of indexes) rows[i].values[name] = { error: `did not start: ${(err as Error).message.split('\n')[0]}` };
      return;
    }
    transports[name] = broker.transport;
    try {
      await fn(broker);
    } catch (err) {
      for (const i of indexes) rows[i].values[name] ??= { error: (err as Error).message };
      console.log(`failed: ${(err as Error).message}`);
    } finally {
      await broker.stop();
    }
  };
  for (const [qos, i] of [[0, 0], [1, 2]] as const) {
    await scenario([i, i + 1], async (broker) => {
      const { result, cpu } = await measure(broker, () => latency(broker.url, qos, sizes.latency));
      record(i, result.p50, `${result.samples} samples`, cpu);
      record(i + 1, result.p99, `${result.samples} samples`, cpu);
    });
  }
  for (const [qos, i, total] of [[0, 4, sizes.throughput0], [1, 5, sizes.throughput1]] as const) {
    await scenario([i], async (broker) => {
      const { result, cpu } = await measure(broker, () => throughput(broker.url, qos, 4, total, 30_000));
      record(i, result.rate, `${result.delivered}/${result.expected} in ${result.seconds.toFixed(1)} s`, cpu);
    });
  }
  await scenario([6], async (broker) => {
    const { result, cpu } = await measure(broker, () => fanOut(broker.url, sizes.fanSubs, sizes.fanMsgs, 30_000));
    record(6, result.rate, `${result.delivered}/${result.expected} in ${result.seconds.toFixed(1)} s`, cpu);
  });
  await scenario([7], async (broker) => {
    const { result, cpu } = await measure(broker, () => connectionRate(broker.url, sizes.conns, 20));
    record(7, result.rate, `${result.delivered} in ${result.seconds.toFixed(1)} s`, cpu);
  });
}

// ---------------------------------------------------------------- report

const fmt = (row: Row, name: string) => {
  const v = row.values[name];
  if (!v) return 'n/a';
  if ('error' in v) return `failed (${v.error})`;
  return `${v.value.toFixed(row.unit === 'ms' ? 2 : 0)} ${row.unit}`;
};
const num = (row: Row, name: string) => {
  const v = row.values[name];
  return v && 'value' in v ? v.value : null;
};

function verdict(row: Row): string {
  const e = num(row, 'EdgeMQ');
  if (row.unit === 'ms') {
    if (!row.scenario.includes('p50')) return '';
    const m = num(row, 'mosquitto');
    if (e === null || m === null) return 'not measured';
    const ratio = e / m;
    return `${ratio.toFixed(2)}× mosquitto (target ≤ 3×): ${ratio <= 3 ? 'met' : '**MISSED**'}`;
  }
  const a = num(row, 'aedes');
  if (e === null || a === null) return 'not measured';
  const ratio = e / a;
  return `${ratio.toFixed(2)}× aedes (target ≥ 1×): ${ratio >= 1 ? 'met' : '**MISSED**'}`;
}

const version = (cmd: string) => {
  try {
    // mosquitto -h prints its version but exits non-zero.
    return execSync(`${cmd} 2>&1 || true`, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n')[0] || 'unknown';
  } catch {
    return 'unknown';
  }
};
const pkgVersion = async (name: string) => JSON.parse(await readFile(path.join('node_modules', name, 'package.json'), 'utf8')).version as string;

const brokersRun = Object.keys(transports);
const lines: string[] = [];
lines.push('# Benchmarks', '');
lines.push('`npm run bench` runs the same MQTT.js load generator against EdgeMQ, aedes and mosquitto, one after the other, on loopback. Numbers are from one run on one machine; rerun before drawing conclusions.', '');
lines.push(`- Date: ${new Date().toISOString().slice(0, 10)}${quick ? ' (quick run: smaller counts)' : ''}`);
lines.push(`- Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${version('uname -sr')}`);
lines.push(`- Node ${process.version}; wrangler ${await pkgVersion('wrangler')}; workerd ${await pkgVersion('workerd')}; mqtt (MQTT.js) ${await pkgVersion('mqtt')}; aedes ${await pkgVersion('aedes')}; ${version('/usr/sbin/mosquitto -h')}`);
for (const b of brokersRun) lines.push(`- ${b}: ${transports[b]}`);
lines.push('');
lines.push(`| scenario | ${brokersRun.join(' | ')} | target |`);
lines.push(`| --- | ${brokersRun.map(() => '---').join(' | ')} | --- |`);
for (const row of rows) lines.push(`| ${row.scenario} | ${brokersRun.map((b) => fmt(row, b)).join(' | ')} | ${verdict(row)} |`);
lines.push('');
lines.push('Broker CPU seconds spent in each scenario (the broker process and its children: for EdgeMQ that is wrangler and workerd), to tell a busy broker from a busy load generator:', '');
lines.push(`| scenario | ${brokersRun.join(' | ')} |`);
lines.push(`| --- | ${brokersRun.map(() => '---').join(' | ')} |`);
for (const row of rows) lines.push(`| ${row.scenario} | ${brokersRun.map((b) => { const v = row.values[b]; return v && 'cpu' in v ? `${v.cpu.toFixed(2)} s` : 'n/a'; }).join(' | ')} |`);
lines.push('');
const notes = await readFile(path.join(import.meta.dirname, 'notes.md'), 'utf8').catch(() => '');
if (notes) lines.push(notes.trim(), '');
await writeFile(out, lines.join('\n'));
console.log(`\nwrote ${out}`);
