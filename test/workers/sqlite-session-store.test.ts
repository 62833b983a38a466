import { env, evictDurableObject, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../durable-objects/sqlite-session-store';
import { sessionStoreContract } from '../../protocol/store/session-store.contract';

// Inside workerd the contract runs within the object itself, where the SQL API lives.
describe('SQLite session store inside a Durable Object', () => {
  it('passes the SessionStore contract', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`store-contract-${crypto.randomUUID()}`));
    const failures = await runInDurableObject(stub, async (_instance, state) => {
      const results: string[] = [];
      const tests: Array<[string, () => void | Promise<void>]> = [];
      let prefix = '';
      sessionStoreContract(
        'sqlite',
        () => {
          // A clean slate per test inside the same object.
          state.storage.sql.exec('DROP TABLE IF EXISTS meta');
          for (const table of ['sessions', 'subscriptions', 'outbound', 'queue', 'inbound_qos2', 'retained', 'topic_aliases', 'counters']) {
            state.storage.sql.exec(`DROP TABLE IF EXISTS ${table}`);
          }
          return new SqliteSessionStore(state.storage.sql);
        },
        {
          describe: (name, fn) => {
            prefix = name;
            fn();
          },
          it: (name, fn) => tests.push([`${prefix} > ${name}`, fn]),
          expect,
        },
      );
      for (const [name, fn] of tests) {
        try {
          await fn();
        } catch (err) {
          results.push(`${name}: ${(err as Error).message}`);
        }
      }
      return { failures: results, ran: tests.length };
    });
    expect(failures.ran).toBeGreaterThanOrEqual(7);
    expect(failures.failures).toEqual([]);
  });

  it('keeps what was written across eviction', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`store-evict-${crypto.randomUUID()}`));
    await runInDurableObject(stub, (_instance, state) => {
      const store = new SqliteSessionStore(state.storage.sql);
      store.saveSession({ clientId: 'e', protocolVersion: 4, expiryInterval: 10, disconnectedAt: 5, will: null, willDueAt: null, droppedMessages: 0, username: null, createdAt: 1 });
      store.enqueue('e', { message: { topic: 't', payload: new Uint8Array([1, 2, 3]), qos: 1, retain: false, properties: {}, expiresAt: null, origin: null, createdAt: 1 }, qos: 1, retain: false, subscriptionIds: [] });
    });
    await evictDurableObject(stub);
    const after = await runInDurableObject(stub, (_instance, state) => {
      const store = new SqliteSessionStore(state.storage.sql);
      return { sessions: store.loadSessions().map((s) => s.clientId), queued: store.peekQueue('e', 10).map((r) => [...r.delivery.message.payload]), bytes: store.queueBytes('e') };
    });
    expect(after).toEqual({ sessions: ['e'], queued: [[1, 2, 3]], bytes: 4 });
  });

  it('ends a session whose queue, in-flight and QoS 2 rows an earlier instance wrote, leaving none behind', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`store-delete-after-evict-${crypto.randomUUID()}`));
    const delivery = { message: { topic: 't', payload: new Uint8Array([1]), qos: 1 as const, retain: false, properties: {}, expiresAt: null, origin: null, createdAt: 1 }, qos: 1 as const, retain: false, subscriptionIds: [] };
    await runInDurableObject(stub, (_instance, state) => {
      const store = new SqliteSessionStore(state.storage.sql);
      for (const clientId of ['p', 'q']) {
        store.saveSession({ clientId, protocolVersion: 5, expiryInterval: 60, disconnectedAt: 5, will: null, willDueAt: null, droppedMessages: 0, username: null, createdAt: 1 });
        store.enqueue(clientId, delivery);
        store.saveOutbound({ clientId, packetId: 7, state: 'publish', seq: 1, delivery });
        store.saveInboundQos2(clientId, 9);
      }
    });
    await evictDurableObject(stub);
    const rows = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      new SqliteSessionStore(sql).deleteSession('p');
      const owners = (table: string) => sql.exec(`SELECT client_id FROM ${table} ORDER BY client_id`).toArray().map((r) => r.client_id);
      return { sessions: owners('sessions'), queue: owners('queue'), outbound: owners('outbound'), inbound: owners('inbound_qos2') };
    });
    expect(rows).toEqual({ sessions: ['q'], queue: ['q'], outbound: ['q'], inbound: ['q'] });
  });

  it('migrates a version 1 queue: existing rows get their byte size and stay in order', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`store-migrate-${crypto.randomUUID()}`));
    const result = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      sql.exec('DROP TABLE IF EXISTS queue');
      // The queue table exactly as schema version 1 created it.
      sql.exec(`CREATE TABLE queue (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, client_id TEXT NOT NULL, qos INTEGER NOT NULL, retain INTEGER NOT NULL,
        subscription_ids TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL, message TEXT NOT NULL)`);
      const meta = JSON.stringify({ qos: 1, retain: false, expiresAt: null, origin: null, createdAt: 1, properties: {} });
      for (const payload of [[1, 2], [3, 4, 5, 6]]) {
        sql.exec(`INSERT INTO queue (client_id, qos, retain, subscription_ids, topic, payload, message) VALUES ('m', 1, 0, '[]', 'ab/c', ?, ?)`, new Uint8Array(payload).buffer, meta);
      }
      sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '1')`);
      const store = new SqliteSessionStore(sql);
      store.enqueue('m', { message: { topic: 'z', payload: new Uint8Array([9]), qos: 1, retain: false, properties: {}, expiresAt: null, origin: null, createdAt: 1 }, qos: 1, retain: false, subscriptionIds: [] });
      return {
        version: sql.exec(`SELECT value FROM meta WHERE key = 'schema_version'`).one().value,
        bytes: store.queueBytes('m'),
        queued: store.peekQueue('m', 10).map((r) => [...r.delivery.message.payload]),
      };
    });
    // Migrated through every later version too.
    expect(result).toEqual({ version: '3', bytes: 4 + 2 + 4 + 4 + 1 + 1, queued: [[1, 2], [3, 4, 5, 6], [9]] });
  });

  it('migrates a version 2 shard: the statistics history table is added and what was stored stays', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`store-migrate-3-${crypto.randomUUID()}`));
    const result = await runInDurableObject(stub, (_instance, state) => {
      const sql = state.storage.sql;
      new SqliteSessionStore(sql).saveSession({ clientId: 'v2', protocolVersion: 4, expiryInterval: 10, disconnectedAt: 5, will: null, willDueAt: null, droppedMessages: 0, username: null, createdAt: 1 });
      // Back to version 2 as it was: no statistics table in the schema.
      sql.exec('DROP TABLE admin_stats_history');
      sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', '2')`);
      const store = new SqliteSessionStore(sql);
      sql.exec(`INSERT INTO admin_stats_history (slot, at, sample) VALUES (1, 60000, '{}')`);
      return {
        version: sql.exec(`SELECT value FROM meta WHERE key = 'schema_version'`).one().value,
        samples: sql.exec('SELECT count(*) AS n FROM admin_stats_history').one().n,
        sessions: store.loadSessions().map((s) => s.clientId),
      };
    });
    expect(result).toEqual({ version: '3', samples: 1, sessions: ['v2'] });
  });
});
