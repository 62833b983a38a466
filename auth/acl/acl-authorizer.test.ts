import { describe, expect, it } from 'vitest';
import type { AuthenticatedIdentity } from '../provider';
import { AclAuthorizer } from './acl-authorizer';
import type { AclRuleRecord, AclSnapshot } from './evaluator';

/** Bindings made while a CONNECT is handled, kept or undone when it is answered. */

const rule = (username: string, topic: string, position: number): AclRuleRecord => ({
  id: `r${position}`,
  kind: 'topic',
  principalType: 'user',
  username,
  access: 'readwrite',
  topic,
  position,
});
const RULES = [rule('alice', 'a/#', 1), rule('bob', 'b/#', 2), rule('carol', 'c/#', 3)];
const snapshot = (aclRules: AclRuleRecord[], version = 1): AclSnapshot => ({ aclRules, credentialRules: new Map(), defaultPolicy: 'deny', version });
const as = (username: string): AuthenticatedIdentity => ({ provider: 'basic', credentialId: null, username, cn: null, rules: null });
const pub = (acl: AclAuthorizer, topic: string) => acl.canPublish({ clientId: 'dev', username: null }, topic);

describe('pending bindings', () => {
  it('puts back the binding in force before a refused CONNECT', () => {
    const acl = new AclAuthorizer(snapshot(RULES));
    acl.bindPrincipal('dev', as('alice')).keep();
    expect(pub(acl, 'a/1')).toBe(true);
    const bob = acl.bindPrincipal('dev', as('bob'));
    // In force at once: the refused CONNECT's will is checked as bob.
    expect(pub(acl, 'b/1')).toBe(true);
    bob.undo();
    expect(acl.boundIdentity('dev')?.username).toBe('alice');
    expect(pub(acl, 'a/1')).toBe(true);
    expect(pub(acl, 'b/1')).toBe(false);
  });

  it('leaves no binding when a refused CONNECT was the first for its client id', () => {
    const acl = new AclAuthorizer(snapshot(RULES));
    acl.bindPrincipal('dev', as('bob')).undo();
    expect(acl.boundIdentity('dev')).toBeNull();
    expect(acl.principalsSnapshot()).toEqual([]);
    expect(pub(acl, 'b/1')).toBe(false);
  });

  it('answers a restored binding from the current snapshot', () => {
    const acl = new AclAuthorizer(snapshot(RULES));
    acl.bindPrincipal('dev', as('alice')).keep();
    expect(pub(acl, 'a/1')).toBe(true);
    const bob = acl.bindPrincipal('dev', as('bob'));
    acl.replaceSnapshot(snapshot([rule('alice', 'z/#', 1)], 2));
    bob.undo();
    expect(pub(acl, 'a/1')).toBe(false);
    expect(pub(acl, 'z/1')).toBe(true);
  });

  it('keeps the right binding when two CONNECTs for one client id are settled out of order', () => {
    const acl = new AclAuthorizer(snapshot(RULES));
    acl.bindPrincipal('dev', as('alice')).keep();
    const bob = acl.bindPrincipal('dev', as('bob'));
    const carol = acl.bindPrincipal('dev', as('carol'));
    bob.undo();
    expect(acl.boundIdentity('dev')?.username).toBe('carol');
    carol.undo();
    // bob was refused, so alice's binding is the one that comes back.
    expect(acl.boundIdentity('dev')?.username).toBe('alice');

    const dave = acl.bindPrincipal('dev', as('bob'));
    const erin = acl.bindPrincipal('dev', as('carol'));
    dave.keep();
    erin.undo();
    expect(acl.boundIdentity('dev')?.username).toBe('bob');
  });

  it('does not bring a binding back after the client id was unbound', () => {
    const acl = new AclAuthorizer(snapshot(RULES));
    acl.bindPrincipal('dev', as('alice')).keep();
    const bob = acl.bindPrincipal('dev', as('bob'));
    acl.unbindPrincipal('dev');
    bob.undo();
    expect(acl.boundIdentity('dev')).toBeNull();
  });

  it('unbinds the client ids a check turns down, names them, and keeps the rest', () => {
    const acl = new AclAuthorizer(snapshot(RULES));
    for (const id of ['a', 'b', 'c']) acl.bindPrincipal(id, as('alice')).keep();
    expect(acl.unbindUnless((id) => id === 'b')).toEqual(['a', 'c']);
    expect(acl.boundCount).toBe(1);
    expect(['a', 'b', 'c'].map((id) => acl.boundIdentity(id)?.username ?? null)).toEqual([null, 'alice', null]);
  });
});
