import { hashPassword } from '../auth/passwords/password-hash';
import { basicCredentialSql } from '../test/support/security-fixtures';
import { openD1File, scalar, writeCounterSql } from './d1-file';
import { describeProbe, probeConnack } from './good-client';
import { cpuPer, type ItemContext, type ItemResult, scaled, secs } from './item';
import { cpuSeconds, cpuSecondsSince } from './proc';
import { startSoakBroker } from './runtime';
import { closeAll, connectPacket, openMany, openClient } from './wire';

/**
 * Item 2: refused CONNECTs from rotating client ids (a wrong password each
 * time, one new id per attempt), while one good device keeps connecting.
 * Unauthorized Clients rows must stay within UNAUTHORIZED_CLIENTS_MAX_ROWS;
 * D1 row writes are counted by triggers on the table.
 */
const FULL_COUNT = 100_000;
const PARALLEL = 100;
const TIME_LIMIT_MS = 300_000;
/**
 * The flood's address, which the local runtime takes from CF-Connecting-IP as
 * the edge would; the good device connects from 127.0.0.1. With one address
 * for both, the default per-IP automatic ban locks the good device out too.
 */
const FLOOD_IP = process.env.SOAK_FLOOD_IP ?? '198.51.100.7';
/** Below the flood's size, so the bound is exercised; --var overrides it. */
const MAX_ROWS = '10000';

export async function refusedFlood(ctx: ItemContext): Promise<ItemResult> {
  const count = scaled(ctx, FULL_COUNT, 100);
  const vars = { ALLOW_ANONYMOUS: 'false', UNAUTHORIZED_CLIENTS_MAX_ROWS: MAX_ROWS, ...ctx.vars };
  const maxRows = Number(vars.UNAUTHORIZED_CLIENTS_MAX_ROWS);
  const good = { clientId: 'soak-good-device', username: 'soak-good', password: 'soak-good-password' };
  // Few iterations: the figure of interest is the broker under a flood, not PBKDF2.
  const passwordHash = await hashPassword(good.password, { iterations: 1000 });
  const broker = await startSoakBroker({
    vars,
    setupSql: [basicCredentialSql({ id: 'soak-good', username: good.username, passwordHash }), writeCounterSql('unauthorized_clients')].join(';\n'),
  });
  const db = openD1File(broker.persistDir);
  try {
    const autoBan = await broker.d1(`SELECT value FROM broker_settings WHERE key = 'autoBan'`);
    const baseline = probeConnack(broker.wsUrl, good, 200);
    await new Promise((r) => setTimeout(r, 3000));
    await baseline.stop();

    let refused = 0;
    let other = 0;
    let maxRowsSeen = 0;
    const poll = setInterval(() => {
      maxRowsSeen = Math.max(maxRowsSeen, scalar(db, 'SELECT count(*) FROM unauthorized_clients'));
    }, 500);
    const probe = probeConnack(broker.wsUrl, good, 1000);
    const deadline = Date.now() + TIME_LIMIT_MS;
    const cpu0 = await cpuSeconds(broker.workerdPid());
    const t0 = performance.now();
    await openMany(
      count,
      PARALLEL,
      (i) =>
        openClient(broker.wsUrl, connectPacket(`soak-intruder-${i}`, { username: `intruder-${i % 97}`, password: 'wrong' }), 30_000, {
          'CF-Connecting-IP': FLOOD_IP,
        }),
      (_i, client, code) => {
        if (code !== null && code !== 0) refused++;
        else other++;
        void closeAll([client], 1000);
        if ((refused + other) % 10_000 === 0) ctx.log(`${refused + other} attempts`);
      },
      'connack',
      () => Date.now() > deadline,
    );
    const floodSeconds = (performance.now() - t0) / 1000;
    const floodCpu = await cpuSecondsSince(broker.workerdPid(), cpu0);
    await probe.stop();
    // The recorder flushes in batches; give the last ones time to land.
    await new Promise((r) => setTimeout(r, 5000));
    clearInterval(poll);
    maxRowsSeen = Math.max(maxRowsSeen, scalar(db, 'SELECT count(*) FROM unauthorized_clients'));
    const finalRows = scalar(db, 'SELECT count(*) FROM unauthorized_clients');
    const attemptsLogged = scalar(db, 'SELECT coalesce(sum(attempts), 0) FROM unauthorized_clients');
    const writes = (op: string) => scalar(db, `SELECT n FROM soak_row_writes WHERE op = '${op}'`);
    const [inserts, updates, deletes] = [writes('insert'), writes('update'), writes('delete')];
    const perAttempt = (inserts + updates + deletes) / Math.max(1, refused);
    return {
      title: `${count.toLocaleString('en')} refused CONNECTs from rotating client ids`,
      figures: [
        ['refused CONNECTs (CONNACK with a refusal code)', `${refused.toLocaleString('en')} of ${count.toLocaleString('en')}${refused + other < count ? ` (stopped at the ${TIME_LIMIT_MS / 1000} s limit)` : ''}`],
        ['attempts without a CONNACK (closed or timed out)', other.toLocaleString('en')],
        ['flood duration', `${secs(floodSeconds)} (${(refused / floodSeconds).toFixed(0)} refusals/s)`],
        ['workerd CPU per refused CONNECT', cpuPer(floodCpu, refused, 'ms')],
        ['UNAUTHORIZED_CLIENTS_MAX_ROWS', String(maxRows)],
        ['Unauthorized Clients rows: most seen / at the end', `${maxRowsSeen} / ${finalRows}`],
        ['attempts counted in the remaining rows', attemptsLogged.toLocaleString('en')],
        ['D1 row writes to unauthorized_clients (insert / update / delete)', `${inserts} / ${updates} / ${deletes}`],
        ['D1 row writes per refused attempt', perAttempt.toFixed(3)],
        ['good client CONNACK before the flood', describeProbe(baseline)],
        ['good client CONNACK during the flood', describeProbe(probe)],
        ['addresses: flood / good device', `${FLOOD_IP} / 127.0.0.1`],
        ['autoBan setting in D1', autoBan.length ? String(autoBan[0].value) : 'default (not stored)'],
      ],
      passed: maxRowsSeen <= maxRows && probe.refused === 0 && probe.failed === 0 && probe.times.length > 0,
      // Attempts that got no answer are a fault to trace: the runtime's last words come with them.
      notes: other > 0 ? [`The runtime's last output:\n\n\`\`\`\n${broker.logs().split('\n').slice(-40).join('\n')}\n\`\`\``] : [],
    };
  } finally {
    db.close();
    await broker.stop();
  }
}
