import { readFile, readlink } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { cpuSeconds } from '../bench/proc';
import { findDescendant } from '../test/support/runtime-process';

/**
 * What the soak reads about the runtime from /proc (Linux only): resident
 * memory and CPU time of one process, and the processes under a launcher.
 */

export { cpuSeconds, findDescendant };

/** VmRSS in bytes; 0 once the process is gone. */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kib ? Number(kib) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * CPU seconds pid spent since `start` (its cpuSeconds reading then), or NaN
 * when the process is gone: a runtime that crashed or was restarted is a new
 * workerd, and the old one would read 0, a difference without meaning.
 */
export async function cpuSecondsSince(pid: number, start: number): Promise<number> {
  return (await rssBytes(pid)) > 0 ? (await cpuSeconds(pid)) - start : NaN;
}

/** `workerd --version` of the running binary. */
export async function workerdVersion(pid: number): Promise<string> {
  try {
    const exe = await readlink(`/proc/${pid}/exe`);
    const { stdout } = await promisify(execFile)(exe, ['--version'], { timeout: 5000 });
    return stdout.trim();
  } catch {
    return 'unknown';
  }
}
