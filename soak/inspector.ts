import WebSocket from 'ws';
import { workerTarget } from '../bench/profile';

/**
 * V8 heap figures of the Worker's isolate through the runtime's inspector
 * (Chrome DevTools Protocol), to tell JavaScript heap from the runtime's own
 * memory (sockets, buffers) in workerd's RSS.
 */
export interface HeapUsage {
  usedBytes: number;
  totalBytes: number;
}


/** Runs CDP commands in order on one fresh inspector connection; resolves with the last one's result. */
async function commands<T>(port: number, list: [string, Record<string, unknown>?][]): Promise<T> {
  const ws = new WebSocket(await workerTarget(port));
  try {
    return await new Promise<T>((resolve, reject) => {
      // The isolate answers between events; a busy shard delays the answer.
      const timer = setTimeout(() => reject(new Error(`${list.map(([m]) => m).join(', ')} timed out`)), 60_000);
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      ws.on('message', (data) => {
        const msg = JSON.parse(String(data)) as { id?: number; result?: T; error?: { message: string } };
        if (msg.id === undefined) return;
        if (msg.error) {
          clearTimeout(timer);
          reject(new Error(msg.error.message));
        } else if (msg.id === list.length) {
          clearTimeout(timer);
          resolve(msg.result as T);
        }
      });
      ws.once('open', () => list.forEach(([method, params], i) => ws.send(JSON.stringify({ id: i + 1, method, params: params ?? {} }))));
    });
  } finally {
    ws.close();
  }
}

/** Heap in use after a full garbage collection, so the figure is live objects only. */
export async function isolateHeap(port: number): Promise<HeapUsage> {
  const usage = await commands<{ usedSize: number; totalSize: number }>(port, [
    ['HeapProfiler.enable'],
    ['HeapProfiler.collectGarbage'],
    ['Runtime.getHeapUsage'],
  ]);
  return { usedBytes: usage.usedSize, totalBytes: usage.totalSize };
}
