import { env, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import type { IConnackPacket } from 'mqtt-packet';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';
import { LoggedRefusals } from '../../durable-objects/logged-refusals';
import { api, tokens } from './admin-support';
import { RawClient } from './raw-client';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));

/** The client ids the shard remembers having put in the Unauthorized Clients log. */
function loggedHere(): Promise<string[]> {
  return runInDurableObject(shard(), (_instance, state) =>
    state.storage.sql
      .exec('SELECT client_id FROM logged_refusals ORDER BY client_id')
      .toArray()
      .map((row) => String(row.client_id)),
  );
}

async function inD1Log(clientId: string): Promise<boolean> {
  return (await env.DB.prepare('SELECT 1 FROM unauthorized_clients WHERE client_id = ?').bind(clientId).first()) !== null;
}

async function eventually(predicate: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not within 2 s: ${what}`);
}

async function connackOf(fields: Record<string, unknown>): Promise<number> {
  const client = await RawClient.open(4);
  const ack = (await client.connect(fields)) as IConnackPacket;
  client.close();
  return ack.returnCode ?? -1;
}

describe('LoggedRefusals, on the shard\'s SQLite', () => {
  it('remembers noted ids until taken, and keeps only the newest maxRows', async () => {
    await runInDurableObject(shard(), (_instance, state) => {
      const logged = new LoggedRefusals(state.storage.sql, 3, 2);
      // Trimmed every two notes: after lr-b (nothing to drop), after lr-d (lr-a, the oldest, goes).
      for (const [i, id] of ['lr-a', 'lr-b', 'lr-c', 'lr-d'].entries()) logged.noteAll([id], 1_000 + i);
      expect(logged.size()).toBe(3);
      expect(logged.take('lr-a')).toBe(false);
      expect(logged.take('never-refused')).toBe(false);
      expect(logged.take('lr-d')).toBe(true);
      expect(logged.take('lr-d')).toBe(false);
      // A second refusal of the same id is one row with the newer time.
      logged.noteAll(['lr-b'], 5_000);
      expect(logged.size()).toBe(2);
    });
  });

  it('finds an id noted after the table was emptied, and one left by an earlier instance', async () => {
    await runInDurableObject(shard(), (_instance, state) => {
      state.storage.sql.exec('DELETE FROM logged_refusals');
      const logged = new LoggedRefusals(state.storage.sql, 100);
      // Empty: nothing to read, and nothing found.
      expect(logged.take('lr-x')).toBe(false);
      logged.noteAll(['lr-x', 'lr-y'], 1_000);
      expect(logged.take('lr-x')).toBe(true);
      expect(logged.take('lr-y')).toBe(true);
      // Emptied by takes, then noted again: still found.
      logged.noteAll(['lr-z'], 2_000);
      expect(logged.take('lr-z')).toBe(true);
      // A row written before this instance (a restart): the next one finds it.
      logged.noteAll(['lr-w'], 3_000);
      expect(new LoggedRefusals(state.storage.sql, 100).take('lr-w')).toBe(true);
    });
  });
});

describe('clearing the Unauthorized Clients log on a successful CONNECT', () => {
  it('clears an id the shard refused, and writes nothing to D1 for one it never logged', async () => {
    const { admin } = await tokens();
    expect((await api('PUT', '/auth-providers/basic', { token: admin, body: { enabled: true, settings: { matchBy: 'username' } } })).status).toBe(200);
    for (const name of ['meter-7', 'meter-8']) {
      const created = await api('POST', '/credentials', { token: admin, body: { type: 'basic', name, username: name, password: `${name}-password` } });
      expect(created.status).toBe(201);
    }

    // A row the shard did not write (logged before this shard kept its list): a successful CONNECT leaves it.
    await env.DB.prepare(
      "INSERT INTO unauthorized_clients (client_id, username, password_provided, tls_used, ip, reason_code, reason, attempts, first_seen, last_update) VALUES ('meter-8', 'meter-8', 1, 0, '192.0.2.8', 'PASSWORD_DOES_NOT_MATCH', 'older row', 1, 1, 1)",
    ).run();

    expect(await connackOf({ clientId: 'meter-7', username: 'meter-7', password: 'wrong' })).not.toBe(0);
    expect(await loggedHere()).toContain('meter-7');
    await eventually(() => inD1Log('meter-7'), 'the refusal of meter-7 reaches D1');

    expect(await connackOf({ clientId: 'meter-8', username: 'meter-8', password: 'meter-8-password' })).toBe(0);
    expect(await connackOf({ clientId: 'meter-7', username: 'meter-7', password: 'meter-7-password' })).toBe(0);
    await eventually(async () => !(await inD1Log('meter-7')), 'meter-7 leaves the log after connecting');
    expect(await loggedHere()).not.toContain('meter-7');
    // meter-8's CONNECT came first; had it queued a delete, that delete would have reached D1 before meter-7's.
    expect(await inD1Log('meter-8')).toBe(true);
  });
});
