import { hashPassword } from '../auth/passwords/password-hash';
import { basicCredentialSql } from '../test/support/security-fixtures';
import { cpuPer, type ItemContext, type ItemResult, scaled, secs } from './item';
import { cpuSeconds, cpuSecondsSince } from './proc';
import { startSoakBroker } from './runtime';
import { closeAll, connectPacket, openClient, openMany, type RawClient } from './wire';

/**
 * Item 5: a deploy-style reconnect storm. N devices, each with its own
 * username and password (mosquitto $7$ hashes in D1), are connected; the
 * runtime is restarted as a deploy restarts it (every socket dropped), and
 * all N reconnect at once.
 */
const FULL_COUNT = 5000;
/**
 * PBKDF2 iterations of the stored hashes. The CLI's default (100,000) would
 * make the first, cold connection of 5,000 devices take minutes of CPU on
 * this machine; the storm after the restart is what is measured here, and
 * there the verified-password cache decides the cost.
 */
const ITERATIONS = 1000;
const COLD_PARALLEL = 200;
const TIME_LIMIT_MS = 300_000;

export async function reconnectStorm(ctx: ItemContext): Promise<ItemResult> {
  const count = scaled(ctx, FULL_COUNT, 10);
  const password = 'soak-device-password';
  const statements: string[] = [];
  for (let i = 0; i < count; i++) {
    statements.push(basicCredentialSql({ id: `soak-dev-${i}`, username: `soak-dev-${i}`, passwordHash: await hashPassword(password, { iterations: ITERATIONS }) }));
  }
  const broker = await startSoakBroker({ vars: { ALLOW_ANONYMOUS: 'false', ACL_DEFAULT_POLICY: 'allow', ...ctx.vars }, setupSql: statements.join(';\n') });
  const attempt = (i: number) => openClient(broker.wsUrl, connectPacket(`soak-dev-${i}`, { username: `soak-dev-${i}`, password, clean: true }), TIME_LIMIT_MS);
  let retries = 0;
  const deadline = () => Date.now() + TIME_LIMIT_MS;
  /**
   * A device as firmware does it: when the socket fails before a CONNACK
   * (a refused or reset handshake when thousands arrive at once), it tries
   * again after a second or two, until the time limit.
   */
  const device = (i: number): RawClient => {
    const until = deadline();
    const first = attempt(i);
    const handle: RawClient = { ws: first.ws, opened: first.opened, connack: Promise.resolve(null), closed: first.closed };
    handle.connack = (async () => {
      let client = first;
      for (;;) {
        const code = await client.connack;
        if (code !== null || Date.now() > until) {
          handle.ws = client.ws;
          handle.closed = client.closed;
          return code;
        }
        retries++;
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
        client = attempt(i);
      }
    })();
    return handle;
  };
  try {
    const connectAll = async (parallel: number) => {
      const clients: RawClient[] = [];
      let ok = 0;
      const codes = new Map<string, number>();
      const pid = broker.workerdPid();
      const cpu0 = await cpuSeconds(pid);
      const t0 = performance.now();
      await openMany(count, parallel, device, (_i, c, code) => {
        clients.push(c);
        if (code === 0) ok++;
        else codes.set(String(code), (codes.get(String(code)) ?? 0) + 1);
      });
      return { clients, ok, codes, seconds: (performance.now() - t0) / 1000, cpu: await cpuSecondsSince(pid, cpu0) };
    };
    const cold = await connectAll(COLD_PARALLEL);
    ctx.log(`cold: ${cold.ok}/${count} in ${secs(cold.seconds)}`);
    const restartT0 = performance.now();
    // The devices see their sockets drop as the runtime stops, and let go of them.
    await Promise.all([broker.restart(), closeAll(cold.clients, 30_000)]);
    const restartSeconds = (performance.now() - restartT0) / 1000;
    const retriesCold = retries;
    retries = 0;
    const storm = await connectAll(count);
    ctx.log(`storm: ${storm.ok}/${count} in ${secs(storm.seconds)}`);
    await closeAll(storm.clients);
    const other = (r: { codes: Map<string, number> }) => (r.codes.size ? [...r.codes].map(([c, n]) => `${n} × ${c === 'null' ? 'no CONNACK' : `code ${c}`}`).join(', ') : 'none');
    return {
      title: `reconnect storm of ${count.toLocaleString('en')} password-authenticated devices`,
      figures: [
        ['first connection (cold, 200 handshakes at a time): connected / time', `${cold.ok} / ${secs(cold.seconds)}`],
        ['first connection: workerd CPU per CONNECT', cpuPer(cold.cpu, cold.ok, 'ms')],
        ['restart (SIGTERM, start again on the same storage) until /health answers', secs(restartSeconds)],
        ['storm (all at once): back / time until all back', `${storm.ok} / ${secs(storm.seconds)}`],
        // The restart before the storm replaces workerd, so the process sampled may be gone by its end.
        ['storm: workerd CPU per reconnect', cpuPer(storm.cpu, storm.ok, 'ms')],
        ['storm: refused or without CONNACK at the end', other(storm)],
        ['failed handshakes retried (first connection / storm)', `${retriesCold} / ${retries}`],
        ['PBKDF2 iterations of the stored hashes', ITERATIONS.toLocaleString('en')],
      ],
      passed: storm.ok === count && cold.ok === count,
      notes: [],
    };
  } finally {
    await broker.stop();
  }
}
