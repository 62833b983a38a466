import { readFile } from 'node:fs/promises';

/**
 * CPU accounting from /proc, so the report can tell a saturated broker from a
 * saturated load generator. Linux only; elsewhere every figure reads as 0.
 */

export interface ProcessInfo {
  pid: number;
  comm: string;
  args: string;
}

// USER_HZ is 100 on every Linux platform Node supports.
const TICKS_PER_SECOND = 100;

/** utime + stime of one process, in seconds; 0 once it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** A process and all its live descendants. */
export async function processTree(root: number): Promise<ProcessInfo[]> {
  const found: ProcessInfo[] = [];
  const queue = [root];
  const seen = new Set<number>();
  while (queue.length > 0 && found.length < 64) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    try {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      const args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').join(' ').trim();
      found.push({ pid, comm, args });
      // One children file per thread; the main thread's lists the children forked from it.
      const tasks = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
      for (const child of tasks.trim().split(/\s+/).filter(Boolean)) queue.push(Number(child));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

export interface CpuSample {
  /** label → CPU seconds so far */
  parts: Map<string, number>;
  client: number;
  at: number;
}

/** Labels the processes of one broker, e.g. "workerd (Worker)". */
export type Labeller = (p: ProcessInfo) => string;

export async function sampleCpu(processes: ProcessInfo[], label: Labeller): Promise<CpuSample> {
  const parts = new Map<string, number>();
  for (const p of processes) {
    const name = label(p);
    parts.set(name, (parts.get(name) ?? 0) + (await cpuSeconds(p.pid)));
  }
  const usage = process.cpuUsage();
  return { parts, client: (usage.user + usage.system) / 1e6, at: performance.now() };
}

export interface CpuDelta {
  wallSeconds: number;
  /** label → CPU seconds spent between the two samples */
  broker: Map<string, number>;
  brokerTotal: number;
  /** CPU seconds of this load-generator process */
  client: number;
}

export function cpuDelta(before: CpuSample, after: CpuSample): CpuDelta {
  const broker = new Map<string, number>();
  let brokerTotal = 0;
  for (const [name, value] of after.parts) {
    const spent = Math.max(0, value - (before.parts.get(name) ?? 0));
    broker.set(name, spent);
    brokerTotal += spent;
  }
  return { wallSeconds: (after.at - before.at) / 1000, broker, brokerTotal, client: after.client - before.client };
}
