import { readdir, readFile, readlink } from 'node:fs/promises';

/**
 * What tests and the soak read about the local runtime's processes from
 * /proc (Linux only).
 */

/** The first process named `comm` under root (root included), breadth first. */
export async function findDescendant(root: number, comm: string): Promise<number | null> {
  const queue = [root];
  const seen = new Set<number>();
  while (queue.length > 0 && seen.size < 64) {
    const pid = queue.shift()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    const name = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
    if (name === comm) return pid;
    const children = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
    for (const child of children.trim().split(/\s+/).filter(Boolean)) queue.push(Number(child));
  }
  return null;
}

/** How many of pid's file descriptors are sockets. */
export async function socketDescriptors(pid: number): Promise<number> {
  let n = 0;
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
    if (target.startsWith('socket:')) n++;
  }
  return n;
}
