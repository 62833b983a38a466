import { connectPacket, openClient, closeAll } from './wire';

/** One well-behaved device connecting now and then: how long its CONNACK takes, and what it says. */
export interface ConnackProbe {
  times: number[];
  refused: number;
  failed: number;
  stop(): Promise<void>;
}

export function probeConnack(wsUrl: string, credentials: { clientId: string; username?: string; password?: string }, everyMs = 1000): ConnackProbe {
  const probe: ConnackProbe = { times: [], refused: 0, failed: 0, stop: async () => {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      const client = openClient(wsUrl, connectPacket(credentials.clientId, { username: credentials.username, password: credentials.password }), 30_000);
      const code = await client.connack;
      if (code === 0) probe.times.push(performance.now() - t0);
      else if (code === null) probe.failed++;
      else probe.refused++;
      await closeAll([client]);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  probe.stop = async () => {
    running = false;
    await loop;
  };
  return probe;
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export const ms = (v: number) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(0)} ms`);

export function describeProbe(p: ConnackProbe): string {
  return `median ${ms(percentile(p.times, 50))}, p95 ${ms(percentile(p.times, 95))}, max ${ms(Math.max(...p.times))} over ${p.times.length} CONNECTs; ${p.refused} refused, ${p.failed} without CONNACK`;
}
