import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userRule } from '../support/acl-fixtures';
import { shardIndexFor } from '../../protocol/cluster/shard-hash';
import { idOnShard } from '../support/shard-ids';
import { startBroker, testShardCount, waitFor, type BrokerHandle } from '../support/broker-process';
import { basicCredentialSql, configure, mosquittoHash } from '../support/security-fixtures';
import { end, open, publish, received, subDenied, subscribe, topicsOf, VERSIONS, type AclClient } from './acl-clients';

/**
 * A change written straight into D1 (CLI, another region), with nobody telling
 * the broker: open connections pick it up at the periodic recheck
 * (CONFIG_RECHECK_SECONDS, 1 s here). The change here is to a credential's
 * own topic rules, which follow the credential on open connections.
 */

const PASSWORD = 'recheck-pw';

/**
 * The cells' client ids, all on one shard: each shard rechecks D1 on its own
 * alarm, so the 5.0 client's PUBACK shows that its shard has the new rules,
 * and the 3.1.1 client (whose PUBACK says nothing) shares that shard.
 */
function cellId(v: number): string {
  const shards = Number(testShardCount());
  const home = shardIndexFor('cell-5', shards);
  if (v === 5) return 'cell-5';
  return idOnShard(`cell-${v}-`, home, shards);
}
let broker: BrokerHandle;

const RULES = { publish: ['plant/${clientId}/.*'], subscribe: ['plant/cmd/.*', 'marker/.*'] };
const REVOKED = { publish: ['elsewhere/.*'], subscribe: ['marker/.*'] };
const setRules = (rules: unknown) => `UPDATE credentials SET rules = '${JSON.stringify(rules)}', updated_at = ${Date.now()} WHERE id = 'cell'`;

beforeAll(async () => {
  broker = await startBroker({ vars: { ALLOW_ANONYMOUS: 'false', AUTH_PROVIDERS: 'basic', ACL_DEFAULT_POLICY: 'deny', CONFIG_RECHECK_SECONDS: '1' } });
  const hash = mosquittoHash(PASSWORD);
  await configure(
    broker,
    basicCredentialSql({ id: 'root', username: 'root', passwordHash: hash }),
    basicCredentialSql({ id: 'cell', username: 'cell', passwordHash: hash, rules: RULES }),
    userRule('root-all', 'root', 'readwrite', '#', 1),
  );
});
afterAll(async () => {
  await broker?.stop();
});

describe('34 topic ACLs changed in D1 behind the broker', () => {
  it('applies credential rule changes to open connections at the periodic recheck, both ways', async () => {
    const root = await open(broker.wsUrl, 5, { clientId: 'recheck-root', username: 'root', password: PASSWORD });
    expect(await subscribe(root, 'plant/#')).toEqual([1]);
    const cells = new Map<number, AclClient>();
    for (const v of VERSIONS) {
      const c = await open(broker.wsUrl, v, { clientId: cellId(v), username: 'cell', password: PASSWORD });
      expect(await subscribe(c, 'plant/cmd/#', 'marker/#')).toEqual([1, 1]);
      cells.set(v, c);
    }
    const cell5 = cells.get(5)!;
    /** The 5.0 client's PUBACK tells when the shard has the new rules; every connection shares them. */
    const publishAnswer = (code: number) =>
      waitFor(async () => (await publish(cell5, `plant/${cellId(5)}/probe`, 'probe', 1)) === code, 30_000, 250);

    const allowedBothWays = async (tag: string) => {
      for (const v of VERSIONS) {
        const c = cells.get(v)!;
        expect(await publish(c, `plant/${cellId(v)}/${tag}`, 'reading', 1)).toBe(0);
        await received(root, `plant/${cellId(v)}/${tag}`, 'reading');
        await publish(root, `plant/cmd/${v}-${tag}`, 'command', 1);
        await received(c, `plant/cmd/${v}-${tag}`, 'command');
      }
    };
    await allowedBothWays('before');

    await configure(broker, setRules(REVOKED));
    await publishAnswer(0x87);
    for (const v of VERSIONS) {
      const c = cells.get(v)!;
      expect(await publish(c, `plant/${cellId(v)}/revoked`, 'reading', 1)).toBe(v === 5 ? 0x87 : 0);
      await publish(root, `plant/${v}-marker`, 'marker', 1);
      await received(root, `plant/${v}-marker`, 'marker');
      expect(topicsOf(root)).not.toContain(`plant/${cellId(v)}/revoked`);
      await publish(root, `plant/cmd/${v}-revoked`, 'command', 1);
      await publish(root, `marker/${v}-revoked`, 'marker', 1);
      await received(c, `marker/${v}-revoked`, 'marker');
      expect(topicsOf(c)).not.toContain(`plant/cmd/${v}-revoked`);
      expect(await subscribe(c, `plant/cmd/${v}-new`)).toEqual([subDenied(v)]);
      expect(c.client.connected).toBe(true);
    }

    await configure(broker, setRules(RULES));
    await publishAnswer(0);
    await allowedBothWays('granted');
    await end(root, ...cells.values());
  });
});
