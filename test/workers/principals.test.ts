import { env, runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { describe, expect, it } from 'vitest';
import { RawClient } from './raw-client';
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
  it('are forgotten, in memory and in SQLite, while those of live and persistent sessions stay', async () => {
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
    await runDurableObjectAlarm(shard());
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
});
