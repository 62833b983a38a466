import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../test/support/free-port';
import { aclTopicProblem, parseAclFile, serializeAclFile, type AclRule } from './acl-file';

const strip = (rules: AclRule[]) => rules.map(({ line: _line, ...rest }) => rest);

describe('parseAclFile: documented examples', () => {
  it("reads mosquitto's aclfile.example", () => {
    const text = `# This affects access control for clients with no username.
topic read $SYS/#

# This only affects clients with username "roger".
user roger
topic foo/bar

# This affects all clients.
pattern write $SYS/broker/connection/%c/state
`;
    expect(parseAclFile(text)).toEqual({
      errors: [],
      rules: [
        { kind: 'topic', principal: { type: 'anonymous' }, access: 'read', topic: '$SYS/#', line: 2 },
        { kind: 'topic', principal: { type: 'user', username: 'roger' }, access: 'readwrite', topic: 'foo/bar', line: 6 },
        { kind: 'pattern', principal: { type: 'all' }, access: 'write', topic: '$SYS/broker/connection/%c/state', line: 9 },
      ],
    });
  });

  it('reads the mosquitto.conf(5) forms, deny included', () => {
    const text = ['topic readwrite a/#', 'topic deny a/secret', 'user alice', 'topic write sensors/+/data', 'pattern read sensor/%u/data', 'pattern deny clients/%c/#'].join('\n');
    expect(strip(parseAclFile(text).rules)).toEqual([
      { kind: 'topic', principal: { type: 'anonymous' }, access: 'readwrite', topic: 'a/#' },
      { kind: 'topic', principal: { type: 'anonymous' }, access: 'deny', topic: 'a/secret' },
      { kind: 'topic', principal: { type: 'user', username: 'alice' }, access: 'write', topic: 'sensors/+/data' },
      { kind: 'pattern', principal: { type: 'all' }, access: 'read', topic: 'sensor/%u/data' },
      { kind: 'pattern', principal: { type: 'all' }, access: 'deny', topic: 'clients/%c/#' },
    ]);
  });
});

describe('parseAclFile: mosquitto edge cases', () => {
  it('patterns apply to all clients even inside a user section; later users switch sections', () => {
    const { rules } = parseAclFile('user a\npattern read x/%u\ntopic t1\nuser b\ntopic t2\nuser a\ntopic t3\n');
    expect(rules.map((r) => [r.kind, r.principal, r.topic])).toEqual([
      ['pattern', { type: 'all' }, 'x/%u'],
      ['topic', { type: 'user', username: 'a' }, 't1'],
      ['topic', { type: 'user', username: 'b' }, 't2'],
      ['topic', { type: 'user', username: 'a' }, 't3'],
    ]);
  });

  it('takes the rest of the line as the topic, so topics and usernames may contain spaces', () => {
    const { rules, errors } = parseAclFile('user John Smith  \ntopic read  a topic/with spaces \t\ntopic  write   b\n');
    expect(errors).toEqual([]);
    expect(strip(rules)).toEqual([
      { kind: 'topic', principal: { type: 'user', username: 'John Smith' }, access: 'read', topic: 'a topic/with spaces' },
      { kind: 'topic', principal: { type: 'user', username: 'John Smith' }, access: 'write', topic: 'b' },
    ]);
  });

  it('reads a lone word after topic as the topic, with readwrite access', () => {
    const { rules } = parseAclFile('topic read\ntopic deny\ntopic #\n');
    expect(rules.map((r) => [r.access, r.topic])).toEqual([
      ['readwrite', 'read'],
      ['readwrite', 'deny'],
      ['readwrite', '#'],
    ]);
  });

  it('skips blank lines and first-column comments; takes CRLF and leading spaces before a keyword', () => {
    const { rules, errors } = parseAclFile('# c\r\n\r\n   \r\n   topic read a\r\n#topic read b\r\n');
    expect(errors).toEqual([]);
    expect(rules).toEqual([{ kind: 'topic', principal: { type: 'anonymous' }, access: 'read', topic: 'a', line: 4 }]);
  });

  it('reports errors with line numbers and mosquitto-like reasons', () => {
    const text = [
      'topic read ok', // 1
      '  # indented comment', // 2
      'bogus line', // 3
      '\ttopic a', // 4
      'topic\tread a', // 5
      'topic foo bar', // 6
      'topic', // 7
      'user', // 8
      'user   ', // 9
      'topic read a/#/b', // 10
      'topic read a+/b', // 11
      'pattern read a/%u+', // 12
      'Topic read a', // 13
      'topic read #x', // 14
      'topic read x\u0000y', // 15
    ].join('\n');
    const { rules, errors } = parseAclFile(text);
    expect(rules.map((r) => r.line)).toEqual([1]);
    expect(errors).toEqual([
      { line: 2, message: "invalid line: a comment must have '#' in the first column" },
      { line: 3, message: 'invalid line: unknown keyword "bogus" (expected topic, pattern or user)' },
      { line: 4, message: 'invalid line: separate words with spaces (mosquitto does not split on tabs)' },
      { line: 5, message: 'invalid line: separate words with spaces (mosquitto does not split on tabs)' },
      { line: 6, message: 'unknown access "foo" (expected read, write, readwrite or deny; a topic with spaces needs the access word before it)' },
      { line: 7, message: "'topic' without a topic" },
      { line: 8, message: "'user' without a username" },
      { line: 9, message: "'user' without a username" },
      { line: 10, message: `invalid ACL topic "a/#/b": '#' must be the whole last topic level` },
      { line: 11, message: `invalid ACL topic "a+/b": '+' must fill a whole topic level` },
      { line: 12, message: `invalid ACL topic "a/%u+": '+' must fill a whole topic level` },
      { line: 13, message: 'invalid line: unknown keyword "Topic" (expected topic, pattern or user)' },
      { line: 14, message: `invalid ACL topic "#x": '#' must be the whole last topic level` },
      { line: 15, message: 'invalid ACL topic "x\u0000y": the topic contains a NUL character' },
    ]);
  });

  it('bounds the file size and the number of rules', () => {
    expect(parseAclFile('topic a\n'.repeat(100), { maxBytes: 50 })).toEqual({ rules: [], errors: [{ line: 0, message: 'the file is larger than 50 bytes' }] });
    const { rules, errors } = parseAclFile('topic a\n'.repeat(10), { maxRules: 4 });
    expect(rules).toHaveLength(4);
    expect(errors).toEqual([{ line: 5, message: 'more than 4 rules' }]);
    expect(parseAclFile(`topic ${'a'.repeat(65_536)}`).errors[0].message).toMatch(/longer than 65535 bytes/);
  });

  it('aclTopicProblem is the subscription-filter check', () => {
    for (const ok of ['#', '+', 'a/+/b', 'a/#', '/', '+/+', '$SYS/#', 'a b/c', '%c/%u']) expect(aclTopicProblem(ok), ok).toBeNull();
    for (const bad of ['', 'a#', 'a/#/b', '+a', 'a/b+', '##']) expect(aclTopicProblem(bad), bad).not.toBeNull();
  });
});

/**
 * The same files through the real broker: mosquitto 2 either starts with the
 * acl_file or refuses it, and that must agree with whether we report errors.
 */
describe('agreement with the real mosquitto', () => {
  /** Starts /usr/sbin/mosquitto with the file as acl_file: true once it runs, false when it exits on an error. */
  async function mosquittoAccepts(dir: string, acl: string): Promise<{ accepted: boolean; log: string }> {
    const aclPath = path.join(dir, 'acl');
    const conf = path.join(dir, 'mosquitto.conf');
    await writeFile(aclPath, acl);
    // `user` keeps mosquitto from switching to the mosquitto account when run as root, which could not read this private directory.
    await writeFile(conf, `listener ${await freePort()} 127.0.0.1\nallow_anonymous true\nuser ${os.userInfo().username}\nacl_file ${aclPath}\n`);
    const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    try {
      return await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`mosquitto neither ran nor exited:\n${log}`)), 10_000);
        const onData = (d: Buffer) => {
          log += d;
          if (/mosquitto version \S+ running/.test(log)) {
            clearTimeout(timer);
            resolve({ accepted: true, log });
          }
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', () => {
          clearTimeout(timer);
          resolve({ accepted: false, log });
        });
      });
    } finally {
      // SIGKILL: the broker only had to start, and a signal that lands while it is still starting up must not be missed.
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
    }
  }

  const cases = [
    'topic read a\n',
    '  # indented comment\ntopic a\n',
    'bogus line\n',
    '\ttopic a\n',
    'topic\tread a\n',
    'topic read\n',
    'topic foo bar\n',
    'topic\n',
    'user\n',
    'user   \n',
    'topic read a/#/b\n',
    'topic read a+/b\n',
    'pattern read a/%u+\n',
    'Topic read a\n',
    'topic read a b c\n',
    'topic read $SYS/#\n',
    'user a\ntopic deny x\npattern write p/%c/%u\n',
    'topic read a\r\n',
    'topic read\t\n',
    'topic  read  a\n',
    'topic read #x\n',
    '# only a comment\n\n',
    'user John Smith\ntopic write x y/z\n',
  ];

  it('starts exactly when parseAclFile reports no errors', { timeout: 120_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-acl-'));
    try {
      for (const acl of cases) {
        const ours = parseAclFile(acl).errors.length === 0;
        const theirs = await mosquittoAccepts(dir, acl);
        expect({ acl, accepted: ours }, theirs.log).toEqual({ acl, accepted: theirs.accepted });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('serializeAclFile', () => {
  const example = `topic read $SYS/#
topic deny $SYS/private

user roger
topic readwrite foo/bar
topic read with spaces/here

user Jane Doe
topic write x

pattern write $SYS/broker/connection/%c/state
`;

  it('writes sections in mosquitto order and reads back the same rules', () => {
    const parsed = parseAclFile(example);
    expect(parsed.errors).toEqual([]);
    expect(serializeAclFile(parsed.rules)).toBe(example);
  });

  it('regroups rules so anonymous ones come before any user line', () => {
    const rules = strip(parseAclFile('user a\ntopic a1\npattern p\nuser b\ntopic b1\nuser a\ntopic a2\n').rules);
    const anon = { kind: 'topic' as const, principal: { type: 'anonymous' as const }, access: 'read' as const, topic: 'late/anonymous' };
    const text = serializeAclFile([...rules, anon]);
    expect(text).toBe('topic read late/anonymous\n\nuser a\ntopic readwrite a1\ntopic readwrite a2\n\nuser b\ntopic readwrite b1\n\npattern readwrite p\n');
    const back = strip(parseAclFile(text).rules);
    expect(back).toHaveLength(rules.length + 1);
    expect(new Set(back.map((r) => JSON.stringify(r)))).toEqual(new Set([...rules, anon].map((r) => JSON.stringify(r))));
  });

  it('writes the access word even for readwrite, so a topic named like an access word survives', () => {
    const { rules } = parseAclFile('topic read\n');
    expect(serializeAclFile(rules)).toBe('topic readwrite read\n');
    expect(strip(parseAclFile(serializeAclFile(rules)).rules)).toEqual(strip(rules));
  });

  it('is stable: serialize ∘ parse ∘ serialize is serialize', () => {
    const messy = '# x\n   topic   read   a b  \nuser  u  v \ntopic deny #\npattern %u/+/#\ntopic c\n';
    const first = serializeAclFile(parseAclFile(messy).rules);
    expect(first).toBe('topic read a b\n\nuser u  v\ntopic deny #\ntopic readwrite c\n\npattern readwrite %u/+/#\n');
    expect(serializeAclFile(parseAclFile(first).rules)).toBe(first);
  });

  it('returns an empty file for no rules', () => {
    expect(serializeAclFile([])).toBe('');
  });

  it('refuses rules it cannot write faithfully', () => {
    const base = { kind: 'topic' as const, principal: { type: 'anonymous' as const }, access: 'read' as const, topic: 'a' };
    const bad = [
      { ...base, topic: '' },
      { ...base, topic: ' a' },
      { ...base, topic: 'a\nb' },
      { ...base, topic: 'a/#/b' },
      { ...base, access: 'all' as unknown as 'read' },
      { ...base, principal: { type: 'all' as const } },
      { ...base, kind: 'pattern' as const },
      { ...base, kind: 'pattern' as const, principal: { type: 'user' as const, username: 'u' } },
      { ...base, principal: { type: 'user' as const, username: '' } },
      { ...base, principal: { type: 'user' as const, username: 'u ' } },
      { ...base, principal: { type: 'user' as const, username: 'a\nb' } },
      { ...base, kind: 'other' as unknown as 'topic' },
    ];
    for (const rule of bad) expect(() => serializeAclFile([rule]), JSON.stringify(rule)).toThrow(TypeError);
  });
});
