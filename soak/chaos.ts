import { randomInt } from 'node:crypto';
import { type ItemContext, type ItemResult, scaled, secs } from './item';
import { startSoakBroker } from './runtime';
import { sleep } from './wire';
import { countDeliveries, numberedFlow, persistentClient, publishNumbered } from '../test/support/numbered-flow';

/**
 * Item 4: the runtime is killed (SIGKILL to workerd and its launcher) and
 * started again on the same storage, again and again, during a QoS 1 and a
 * QoS 2 flood between persistent sessions (MQTT.js, MQTT 5, session expiry
 * one hour). Every acknowledged message must reach the subscriber, QoS 2
 * ones exactly once.
 */
const FULL_RESTARTS = 10;
const WINDOW = 20;
const DRAIN_MS = 120_000;

export async function chaos(ctx: ItemContext): Promise<ItemResult> {
  const restarts = scaled(ctx, FULL_RESTARTS, 2);
  const broker = await startSoakBroker({ vars: { ALLOW_ANONYMOUS: 'true', ACL_DEFAULT_POLICY: 'allow', ...ctx.vars } });
  const streams = ([1, 2] as const).map((qos) => numberedFlow(qos, `soak/chaos/qos${qos}`));
  const sub = persistentClient(broker.wsUrl, 'soak-chaos-sub');
  const pubs = streams.map((s) => persistentClient(broker.wsUrl, `soak-chaos-pub-qos${s.qos}`));
  let reconnects = 0;
  for (const c of [sub, ...pubs]) c.on('reconnect', () => reconnects++);
  try {
    countDeliveries(sub, streams);
    await new Promise<void>((resolve, reject) => {
      sub.once('connect', () => sub.subscribe(streams.map((s) => s.topic), { qos: 2 }, (err) => (err ? reject(err) : resolve())));
    });
    let running = true;
    const floods = streams.map((s, i) => publishNumbered(pubs[i], s, () => running, WINDOW));
    const downtimes: number[] = [];
    for (let r = 1; r <= restarts; r++) {
      await sleep(randomInt(3000, 8000));
      const t0 = performance.now();
      await broker.crashAndRestart();
      downtimes.push((performance.now() - t0) / 1000);
      ctx.log(`restart ${r}/${restarts} (${secs(downtimes.at(-1)!)} down); acked ${streams.map((s) => s.acked.size).join(' / ')}`);
    }
    await sleep(5000);
    running = false;
    await Promise.all(floods);
    // Everything acknowledged must arrive; wait for it (bounded), and for the publishers' in-flight to settle.
    const deadline = Date.now() + DRAIN_MS;
    const settled = () => streams.every((s) => s.acked.size === s.published && [...s.acked].every((n) => s.received.has(n)));
    while (Date.now() < deadline && !settled()) await sleep(250);
    // A late duplicate would show up here.
    await sleep(2000);
    const figures: [string, string][] = [
      ['kills and restarts', `${restarts} (restart took ${secs(Math.min(...downtimes))} – ${secs(Math.max(...downtimes))})`],
      ['client reconnects', String(reconnects)],
    ];
    let passed = true;
    for (const s of streams) {
      let missing = 0;
      for (const n of s.acked) if (!s.received.has(n)) missing++;
      let duplicates = 0;
      for (const count of s.received.values()) if (count > 1) duplicates += count - 1;
      const unacked = s.published - s.acked.size;
      figures.push([`QoS ${s.qos}: published / acknowledged / received`, `${s.published} / ${s.acked.size} / ${s.received.size}`]);
      figures.push([`QoS ${s.qos}: acknowledged but missing`, String(missing)]);
      figures.push([`QoS ${s.qos}: duplicates${s.qos === 1 ? ' (allowed at QoS 1)' : ''}`, String(duplicates)]);
      figures.push([`QoS ${s.qos}: never acknowledged within ${DRAIN_MS / 1000} s after the last restart`, String(unacked)]);
      if (missing > 0 || (s.qos === 2 && duplicates > 0)) passed = false;
    }
    return { title: `${restarts} kills and restarts during a QoS 1 and QoS 2 flood with persistent sessions`, figures, passed, notes: [] };
  } finally {
    for (const c of [sub, ...pubs]) c.end(true);
    await broker.stop();
  }
}
