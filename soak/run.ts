import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { chaos } from './chaos';
import { frameFuzz } from './fuzz';
import { idleConnections } from './idle';
import type { ItemContext, ItemResult } from './item';
import { refusedFlood } from './refused';
import { reconnectStorm } from './storm';

/**
 * npm run soak -- [--only idle,refused,fuzz,chaos,storm] [--scale 0.05] [--var KEY=VALUE ...]
 *
 * Abuse at scale against the local runtime, on loopback, each item bounded
 * in count and time. Prints the figures as Markdown for docs/reliability.md.
 * --var passes broker vars (wrangler.toml [vars]) to every item's broker, so
 * a shard-count setting is one flag away.
 */
const ITEMS: Record<string, (ctx: ItemContext) => Promise<ItemResult>> = {
  idle: idleConnections,
  refused: refusedFlood,
  fuzz: frameFuzz,
  chaos,
  storm: reconnectStorm,
};

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    scale: { type: 'string', default: '1' },
    var: { type: 'string', multiple: true, default: [] },
  },
  strict: true,
});
const scale = Number(values.scale);
if (!(scale > 0 && scale <= 1)) throw new Error(`--scale must be in (0, 1], got ${values.scale}`);
const vars: Record<string, string> = {};
for (const pair of values.var) {
  const i = pair.indexOf('=');
  if (i <= 0) throw new Error(`--var expects KEY=VALUE, got "${pair}"`);
  vars[pair.slice(0, i)] = pair.slice(i + 1);
}
const selected = values.only ? values.only.split(',').map((s) => s.trim()) : Object.keys(ITEMS);
for (const name of selected) if (!ITEMS[name]) throw new Error(`unknown item "${name}"; items: ${Object.keys(ITEMS).join(', ')}`);

const started = new Date();
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
})();
console.log(`# Soak run ${started.toISOString()}`);
console.log(`commit ${commit}; node ${process.version}; ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}; ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
console.log(`load average at start ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; scale ${scale}; vars ${JSON.stringify(vars)}`);

let failed = false;
for (const name of selected) {
  const t0 = performance.now();
  const ctx: ItemContext = { scale, vars, log: (m) => console.error(`[${name} ${((performance.now() - t0) / 1000).toFixed(0)} s] ${m}`) };
  console.error(`[${name}] starting; load average ${os.loadavg()[0].toFixed(2)}`);
  let result: ItemResult;
  try {
    result = await ITEMS[name](ctx);
  } catch (err) {
    failed = true;
    console.log(`\n## ${name}: failed to run\n\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    continue;
  }
  if (!result.passed) failed = true;
  console.log(`\n## ${name}: ${result.title} — ${result.passed ? 'pass' : 'FAIL'}\n`);
  console.log('| What | Value |\n|---|---|');
  for (const [what, value] of result.figures) console.log(`| ${what} | ${value} |`);
  for (const note of result.notes) console.log(`\n${note}`);
  console.log(`\n(${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
process.exit(failed ? 1 : 0);
