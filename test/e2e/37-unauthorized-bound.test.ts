import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, type BrokerHandle } from '../support/broker-process';
import { startSecuredBroker, unauthorizedRow } from '../support/security-fixtures';
import { connackOf } from './mqtt-clients';

/**
 * UNAUTHORIZED_CLIENTS_MAX_ROWS bounds the Unauthorized Clients table at all
 * times, not only after the periodic trim: a flood of refused CONNECTs from
 * rotating client ids, then a trickle of single refusals, never leaves more
 * rows than the bound.
 */

const MAX_ROWS = 20;
let broker: BrokerHandle;

const rowCount = async () => Number((await broker.d1('SELECT count(*) AS n FROM unauthorized_clients'))[0].n);

async function refuse(clientId: string): Promise<void> {
  const ack = (await connackOf(broker.wsUrl, { protocolVersion: 4, clientId, username: 'intruder', password: 'wrong' })) as { returnCode?: number };
  // 3.1.1: 4 = bad user name or password.
  expect(ack.returnCode, clientId).toBe(4);
}

beforeAll(async () => {
  // All refusals come from one address: automatic bans would refuse them before they are logged as wrong passwords,
  // and a wave that outran the shard's hash budget (how much it refills between waves depends on how long the D1 reads
  // take) would be refused as busy (return code 3); neither is what this test is about.
  broker = await startSecuredBroker({ providers: 'basic', vars: { UNAUTHORIZED_CLIENTS_MAX_ROWS: String(MAX_ROWS), AUTH_MAX_HASHES_PER_SECOND: '0' } });
}, 120_000);

afterAll(async () => {
  await broker?.stop();
});

describe('Unauthorized Clients row bound', () => {
  it('never holds more rows than UNAUTHORIZED_CLIENTS_MAX_ROWS, during a flood and after single refusals', async () => {
    const seen: number[] = [];
    for (let wave = 0; wave < 4; wave++) {
      await Promise.all(Array.from({ length: 15 }, (_, i) => refuse(`e2e-flood-${wave}-${i}`)));
      seen.push(await rowCount());
    }
    // The last wave is logged once the batches have landed. Which of its rows stay is not fixed: with
    // several shards the 15 refusals are stamped in whatever order the shards take them, and a shard's
    // trim keeps the newest rows, so the last one sent may be among the last wave's oldest.
    await waitFor(async () => Number((await broker.d1(`SELECT count(*) AS n FROM unauthorized_clients WHERE client_id LIKE 'e2e-flood-3-%'`))[0].n) > 0, 10_000);
    seen.push(await rowCount());

    // One refusal at a time: each is its own batch, smaller than the trim interval.
    for (let i = 0; i < 4; i++) {
      await refuse(`e2e-single-${i}`);
      await unauthorizedRow(broker, `e2e-single-${i}`);
      seen.push(await rowCount());
    }
    expect(Math.max(...seen), `row counts seen: ${seen.join(', ')}`).toBeLessThanOrEqual(MAX_ROWS);
    // The bound keeps the newest rows: the last refusal is there, the first flood's are gone.
    expect(await waitFor(async () => (await broker.d1(`SELECT client_id FROM unauthorized_clients WHERE client_id = 'e2e-single-3'`)).length === 1)).toBe(true);
    expect((await broker.d1(`SELECT count(*) AS n FROM unauthorized_clients WHERE client_id LIKE 'e2e-flood-0-%'`))[0].n).toBe(0);
  }, 480_000);
});
