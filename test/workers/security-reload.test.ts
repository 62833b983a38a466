import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { ShardSecurity } from '../../durable-objects/shard-security';

const bumpVersion = () =>
  env.DB.prepare('INSERT INTO config_version (id, version, updated_at) VALUES (1, 1, 0) ON CONFLICT(id) DO UPDATE SET version = version + 1').run();

/**
 * The real D1, whose batch answers can be held back after D1 ran them: a
 * read that has already happened but whose answer is still on its way, as
 * when a change commits while a shard's load is in flight.
 */
function d1WithHeldAnswers(db: D1Database) {
  let held: Promise<void> | null = null;
  let release = () => {};
  const wrapped = new Proxy(db, {
    get(target, prop) {
      if (prop === 'batch') {
        return async (statements: D1PreparedStatement[]) => {
          const results = await target.batch(statements);
          if (held) await held;
          return results;
        };
      }
      const value = Reflect.get(target, prop) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return {
    db: wrapped,
    hold: () => (held = new Promise<void>((resolve) => (release = resolve))),
    release: () => {
      held = null;
      release();
    },
  };
}

describe('a shard told of a configuration change', () => {
  it('reads D1 again after a load that was already in flight, so the change is in force when it answers', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`security-reload-${crypto.randomUUID()}`));
    const versions = await runInDurableObject(stub, async (_instance, state) => {
      const d1 = d1WithHeldAnswers(env.DB);
      const security = new ShardSecurity({ ...env, DB: d1.db }, state.storage.sql, { now: () => 1_000 });
      const before = (await security.ensureFresh()).version;
      // A load is in flight: D1 has read the configuration, its answer is not back yet...
      d1.hold();
      const inFlight = security.configChanged();
      await new Promise((resolve) => setTimeout(resolve, 50));
      // ...when an administrator's change commits and the admin API tells the shard.
      await bumpVersion();
      const told = security.configChanged();
      d1.release();
      await Promise.all([inFlight, told]);
      // What the shard has in force once it has answered the admin API.
      return { before, inForce: (await security.ensureFresh()).version };
    });
    expect(versions.inForce).toBe(versions.before + 1);
  });
});
