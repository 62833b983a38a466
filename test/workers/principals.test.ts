import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { RawClient } from './raw-client';
import { untilShardMayHibernate } from './hibernation';
import { SINGLE_SHARD_NAME } from '../../worker/broker-router';
import { AclAuthorizer } from '../../auth/acl/acl-authorizer';
import { PrincipalStore, SessionPrincipals } from '../../durable-objects/principal-store';
import type { AuthenticatedIdentity } from '../../auth/provider';

const shard = () => env.BROKER.get(env.BROKER.idFromName(SINGLE_SHARD_NAME));

/** Who the shard still holds an identity for, in SQLite and in the authorizer's memory, among `ids`. */
async function principalsOf(ids: string[]) {
  return runInDurableObject(shard(), (instance, state) => {
    const rows = state.storage.sql.exec(`SELECT client_id FROM principals ORDER BY client_id`).toArray().map((r) => String(r.client_id));
    // The engine's authorizer is the shard's AclAuthorizer; its bindings are what ACL checks read.
    const authorizer = (instance as unknown as { engine: { authorizer: { boundIdentity(id: string): unknown } } }).engine.authorizer;
    return {
      stored: rows.filter((id) => ids.includes(id)),
      bound: ids.filter((id) => authorizer.boundIdentity(id) !== null),
    };
  });
}

describe('principals of ended sessions', () => {
  it('are forgotten, in memory and in SQLite, while those of live and persistent sessions stay, written with their sessions', async () => {
    const run = crypto.randomUUID().slice(0, 8);
    const ids = { online: `online-${run}`, offline: `offline-${run}`, gone: [1, 2, 3].map((i) => `gone-${i}-${run}`) };
    const all = [ids.online, ids.offline, ...ids.gone];

    for (const clientId of ids.gone) {
      const c = await RawClient.open(4);
      await c.connect({ clientId, clean: true });
      c.send({ cmd: 'disconnect' });
      await c.waitClosed();
    }
    const persistent = await RawClient.open(4);
    await persistent.connect({ clientId: ids.offline, clean: false });
    persistent.close();
    await persistent.waitClosed();
    const online = await RawClient.open(4);
    await online.connect({ clientId: ids.online, clean: true });

    // The shard's alarm (statistics, configuration recheck) comes at least once a minute while it has connections.
    await runDurableObjectAlarm(shard());
    // The live clean session has no will: its row, and its principal with it, wait until the shard may hibernate.
    // Those that ended before were never written.
    expect(await principalsOf(all)).toEqual({ stored: [ids.offline], bound: [ids.online, ids.offline] });
    await untilShardMayHibernate(shard());
    const kept = [ids.offline, ids.online].sort();
    expect(await principalsOf(all)).toEqual({ stored: kept, bound: [ids.online, ids.offline] });
    online.close();
  });

  it('keeps the principal of a session taken over by a new connection with the same client id', async () => {
    const clientId = `taken-${crypto.randomUUID().slice(0, 8)}`;
    const first = await RawClient.open(5);
    await first.connect({ clientId, clean: true });
    const second = await RawClient.open(5);
    await second.connect({ clientId, clean: true });
    await first.waitClosed();
    await untilShardMayHibernate(shard());
    expect(await principalsOf([clientId])).toEqual({ stored: [clientId], bound: [clientId] });
    second.close();
  });

  it('waits until more than its allowance have ended, and never forgets a CONNECT still being answered', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`principals-slack-${crypto.randomUUID()}`));
    const result = await runInDurableObject(stub, (_instance, state) => {
      const authorizer = new AclAuthorizer();
      const principals = new SessionPrincipals(authorizer, new PrincipalStore(state.storage.sql), { now: () => 1 });
      const identity = { username: null } as unknown as AuthenticatedIdentity;
      const sessions = new Set<string>(['live']);
      const stored = () => state.storage.sql.exec(`SELECT client_id FROM principals ORDER BY client_id`).toArray().map((r) => String(r.client_id));
      principals.onAccepted('live', identity).settle(true);
      for (const id of ['e1', 'e2']) principals.onAccepted(id, identity).settle(true);
      principals.forgetEnded(sessions, 2);
      const withinAllowance = stored();
      const { settle } = principals.onAccepted('answering', identity);
      principals.onAccepted('e3', identity).settle(true);
      principals.forgetEnded(sessions, 2);
      const beyondAllowance = stored();
      settle(true);
      sessions.add('answering');
      principals.forgetEnded(sessions, 0);
      return { withinAllowance, beyondAllowance, bound: authorizer.boundCount, after: stored() };
    });
    expect(result).toEqual({
      withinAllowance: ['e1', 'e2', 'live'],
      beyondAllowance: ['answering', 'live'],
      bound: 2,
      after: ['answering', 'live'],
    });
  });

  it('waits for the session row when it has none, and puts back only what waited when a CONNECT is refused', async () => {
    const stub = env.BROKER.get(env.BROKER.idFromName(`principals-with-row-${crypto.randomUUID()}`));
    const result = await runInDurableObject(stub, (_instance, state) => {
      const authorizer = new AclAuthorizer();
      const rowStored = new Set<string>(['stored']);
      const principals = new SessionPrincipals(authorizer, new PrincipalStore(state.storage.sql), { now: () => 1 }, (id) => rowStored.has(id));
      const as = (username: string) => ({ username }) as unknown as AuthenticatedIdentity;
      const stored = () =>
        state.storage.sql.exec(`SELECT client_id, identity FROM principals ORDER BY client_id`).toArray().map((r) => `${r.client_id}:${JSON.parse(String(r.identity)).username}`);
      // A session with its row: saved at once, as before. One without: bound now, saved with its row.
      principals.onAccepted('stored', as('a')).settle(true);
      principals.onAccepted('waiting', as('b')).settle(true);
      const first = stored();
      // A second CONNECT for the waiting id authenticates as someone else, and is refused (its will): the first identity waits again.
      principals.onAccepted('waiting', as('c')).settle(false);
      const boundAfterRefusal = (authorizer.boundIdentity('waiting') as { username: string } | null)?.username;
      // Two CONNECTs for another waiting id authenticate, and the first is refused after the second: the second's identity waits.
      principals.onAccepted('raced', as('d'));
      const refusedFirst = principals.onAccepted('raced', as('e'));
      const second = principals.onAccepted('raced', as('f'));
      refusedFirst.settle(false);
      second.settle(true);
      principals.sessionStored('raced');
      principals.sessionStored('waiting');
      const withRow = stored();
      // Written once: a later row write of the same session writes no principal again.
      state.storage.sql.exec(`DELETE FROM principals WHERE client_id = 'waiting'`);
      principals.sessionStored('waiting');
      return { first, boundAfterRefusal, withRow, again: stored() };
    });
    expect(result).toEqual({ first: ['stored:a'], boundAfterRefusal: 'b', withRow: ['raced:f', 'stored:a', 'waiting:b'], again: ['raced:f', 'stored:a'] });
  });
});
