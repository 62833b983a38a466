import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { SqliteClusterStore } from '../../durable-objects/cluster/sqlite-cluster-store';
import type { ForwardedPublish } from '../../protocol/cluster/messages';

const message = {
  topic: 'jobs/secret',
  payload: new Uint8Array([1, 2, 3]),
  qos: 1 as const,
  retain: false,
  properties: {},
  expiresAt: null,
  origin: 'pub',
  createdAt: 1_000,
};

// Inside workerd, in the object itself, where the SQL API lives.
describe('SQLite cluster store inside a Durable Object', () => {
  it('keeps a forwarded message’s shards passed over per shared group, and reads an older row’s single list', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`cluster-store-${crypto.randomUUID()}`));
    const read = await runInDurableObject(stub, (_instance, state) => {
      const store = new SqliteClusterStore(state.storage.sql);
      const entry: ForwardedPublish = {
        kind: 'publish',
        message,
        direct: false,
        groups: ['$share/A/jobs/#', '$share/B/jobs/+'],
        retain: false,
        passedOver: [0],
        passedOverByGroup: { '$share/A/jobs/#': [0], '$share/B/jobs/+': [] },
      };
      const seq = store.appendOutbox(2, entry);
      // A row as older code wrote it: one list for every group.
      const written = JSON.parse(state.storage.sql.exec(`SELECT meta FROM cluster_outbox WHERE seq = ?`, seq).one().meta as string) as { message: string };
      state.storage.sql.exec(
        `INSERT INTO cluster_outbox (dest, seq, kind, topic, payload, meta) VALUES (?, ?, 'publish', ?, ?, ?)`,
        2,
        seq + 1,
        message.topic,
        message.payload.buffer,
        JSON.stringify({ direct: false, groups: ['$share/B/jobs/+'], retain: false, passedOver: [1], message: written.message }),
      );
      store.addRoute(1, '#connected/$share/B/jobs/+');
      return { entries: store.peekOutbox(2, 0, 10).map((e) => e.entry), routes: store.loadRoutes() };
    });
    const [now, older] = read.entries as ForwardedPublish[];
    expect(now).toMatchObject({ kind: 'publish', groups: ['$share/A/jobs/#', '$share/B/jobs/+'], passedOver: [0], passedOverByGroup: { '$share/A/jobs/#': [0], '$share/B/jobs/+': [] } });
    expect([...now.message.payload]).toEqual([1, 2, 3]);
    expect(older).toMatchObject({ kind: 'publish', groups: ['$share/B/jobs/+'], passedOver: [1] });
    expect(older.passedOverByGroup).toBeUndefined();
    expect(read.routes).toEqual([{ shard: 1, key: '#connected/$share/B/jobs/+' }]);
  });
});
