import { describe, expect, it } from 'vitest';
import { BLANK_CREDENTIAL_FIELDS } from '../../db/queries/credentials';
import { ConfigError } from '../../protocol/config';
import { AclAuthorizer } from './acl-authorizer';
import { loadAclSnapshot, parseAclDefaultPolicy, type AclRuleRow, type CredentialRow } from './load-snapshot';

const at = new Date(1_700_000_000_000);

function aclRow(over: Partial<AclRuleRow>): AclRuleRow {
  return {
    id: 'r',
    kind: 'topic',
    principalType: 'all',
    username: null,
    access: 'readwrite',
    topic: '#',
    position: 0,
    comment: null,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

function credentialRow(over: Partial<CredentialRow>): CredentialRow {
  return {
    id: 'c',
    type: 'basic',
    name: 'n',
    ...BLANK_CREDENTIAL_FIELDS,
    createdAt: at,
    updatedAt: at,
    ...over,
  };
}

describe('loadAclSnapshot', () => {
  it('turns D1 rows into the snapshot the authorizer evaluates', () => {
    const snapshot = loadAclSnapshot({
      aclRules: [
        aclRow({ id: 'late', topic: 'a/#', access: 'deny', position: 20, comment: 'not carried' }),
        aclRow({ id: 'early', principalType: 'user', username: 'alice', topic: 'a/#', position: 10 }),
      ],
      credentials: [
        credentialRow({ id: 'with-rules', rules: { publish: ['p/.*'], subscribe: ['s/.*'] } }),
        credentialRow({ id: 'x509', type: 'x509', cnRules: [{ cnPattern: 'dev-.*', publish: ['d/.*'], subscribe: [] }] }),
        credentialRow({ id: 'no-rules' }),
      ],
      version: 7,
      defaultPolicy: 'deny',
    });
    expect(snapshot.version).toBe(7);
    expect(snapshot.defaultPolicy).toBe('deny');
    expect(snapshot.aclRules).toEqual([
      { id: 'late', kind: 'topic', principalType: 'all', username: null, access: 'deny', topic: 'a/#', position: 20 },
      { id: 'early', kind: 'topic', principalType: 'user', username: 'alice', access: 'readwrite', topic: 'a/#', position: 10 },
    ]);
    expect([...snapshot.credentialRules!.keys()]).toEqual(['with-rules', 'x509']);
    expect(snapshot.credentialRules!.get('with-rules')).toEqual({ rules: { publish: ['p/.*'], subscribe: ['s/.*'] }, cnRules: null });
    expect(snapshot.credentialRules!.get('x509')).toEqual({ rules: null, cnRules: [{ cnPattern: 'dev-.*', publish: ['d/.*'], subscribe: [] }] });

    // Evaluated in position order, with deny winning anyway.
    const acl = new AclAuthorizer(snapshot);
    acl.bindPrincipal('c1', { provider: 'basic', credentialId: 'with-rules', username: 'bob', cn: null, rules: null });
    expect(acl.canPublish({ clientId: 'c1', username: 'bob' }, 'p/1')).toBe(true);
    acl.bindPrincipal('c2', { provider: 'basic', credentialId: null, username: 'alice', cn: null, rules: null });
    expect(acl.canPublish({ clientId: 'c2', username: 'alice' }, 'a/1')).toBe(false);
  });

  it('denies everything for rules that do not have the expected shape', () => {
    const snapshot = loadAclSnapshot({
      aclRules: [],
      credentials: [
        credentialRow({ id: 'bad', rules: { publish: 'p/.*' } as never }),
        credentialRow({ id: 'bad-cn', cnRules: [{ publish: ['.*'], subscribe: ['.*'] }, { cnPattern: '.*', publish: ['.*'], subscribe: ['.*'] }] as never }),
        credentialRow({ id: 'not-a-list', cnRules: 'nope' as never }),
      ],
      version: 1,
      defaultPolicy: 'allow',
    });
    expect(snapshot.credentialRules!.get('bad')).toEqual({ rules: { publish: [], subscribe: [] }, cnRules: null });
    expect(snapshot.credentialRules!.get('not-a-list')).toEqual({ rules: null, cnRules: [] });
    const acl = new AclAuthorizer(snapshot);
    for (const credentialId of ['bad', 'bad-cn', 'not-a-list']) {
      acl.bindPrincipal(credentialId, { provider: 'x509', credentialId, username: 'u', cn: 'device', rules: null });
      expect(acl.canPublish({ clientId: credentialId, username: 'u' }, 'p/1'), credentialId).toBe(false);
    }
  });
});

describe('parseAclDefaultPolicy', () => {
  it('is deny unless allow is asked for, and refuses anything else', () => {
    expect(parseAclDefaultPolicy({})).toBe('deny');
    expect(parseAclDefaultPolicy({ ACL_DEFAULT_POLICY: '' })).toBe('deny');
    expect(parseAclDefaultPolicy({ ACL_DEFAULT_POLICY: 'deny' })).toBe('deny');
    expect(parseAclDefaultPolicy({ ACL_DEFAULT_POLICY: ' Allow ' })).toBe('allow');
    expect(() => parseAclDefaultPolicy({ ACL_DEFAULT_POLICY: 'alow' })).toThrow(ConfigError);
  });
});
