import { describe, expect, it } from 'vitest';
import { topicMatchesFilter } from './match';
import { RetainedIndex } from './retained-index';
import { SubscriptionIndex } from './subscription-index';
import { parseSharedFilter, validateTopicFilter, validateTopicName } from './validate';

const limits = { maxLength: 64, maxLevels: 8 };

describe('topic validation', () => {
  it('accepts names and refuses wildcards, empty names, U+0000 and oversize', () => {
    expect(validateTopicName('sport/tennis/player1', limits)).toBeNull();
    expect(validateTopicName('/finance', limits)).toBeNull();
    expect(validateTopicName('a//b', limits)).toBeNull();
    expect(validateTopicName('a/+/b', limits)).not.toBeNull();
    expect(validateTopicName('a/#', limits)).not.toBeNull();
    expect(validateTopicName('', limits)).not.toBeNull();
    expect(validateTopicName('a\u0000b', limits)).not.toBeNull();
    // Length is counted in UTF-8 bytes: 22 three-byte characters = 66 bytes.
    expect(validateTopicName('€'.repeat(22), limits)).toMatch(/longer/);
    expect(validateTopicName('€'.repeat(21), limits)).toBeNull();
    expect(validateTopicName('a/b/c/d/e/f/g/h/i', limits)).toMatch(/levels/);
  });

  it('accepts filters per the spec and refuses misplaced wildcards', () => {
    for (const ok of ['#', '+', 'sport/#', 'sport/+/player1', '+/+', '/+', 'a//#', '$SYS/#', '$share/g/a/+']) {
      expect(validateTopicFilter(ok, limits), ok).toBeNull();
    }
    for (const bad of ['a/#/b', 'a+', '#a', 'a/b#', '+a/b', '', '$share/g', '$share//a', '$share/g+/a', '$share/g#/a', '$share/g/', '$share/g/a/#/b']) {
      expect(validateTopicFilter(bad, limits), bad).not.toBeNull();
    }
  });

  it('parses shared subscriptions', () => {
    expect(parseSharedFilter('$share/workers/jobs/#')).toEqual({ group: 'workers', filter: 'jobs/#' });
    expect(parseSharedFilter('jobs/#')).toBeNull();
  });
});

describe('topic matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['sport/tennis/player1', 'sport/tennis/player1/#', true],
    ['sport/tennis/player1/ranking', 'sport/tennis/player1/#', true],
    ['sport', 'sport/#', true],
    ['sport/tennis', 'sport/+', true],
    ['sport/tennis/player1', 'sport/+', false],
    ['sport/', 'sport/+', true],
    ['/finance', '+/+', true],
    ['/finance', '/+', true],
    ['/finance', '+', false],
    ['$SYS/broker/uptime', '#', false],
    ['$SYS/broker/uptime', '+/broker/uptime', false],
    ['$SYS/broker/uptime', '$SYS/#', true],
    ['$SYS', '$SYS/#', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a', '#', true],
  ];
  for (const [topic, filter, expected] of cases) {
    it(`${filter} ${expected ? 'matches' : 'does not match'} ${topic}`, () => {
      expect(topicMatchesFilter(topic, filter)).toBe(expected);
      const index = new SubscriptionIndex<number>();
      index.add('c', filter, 1);
      expect(index.match(topic).direct.length).toBe(expected ? 1 : 0);
      const retained = new RetainedIndex<number>();
      retained.set(topic, 1);
      expect(retained.match(filter).length).toBe(expected ? 1 : 0);
    });
  }

  it('agrees with the reference matcher on random topics and filters', () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const words = ['a', 'b', 'c', '', '$x'];
    const topics = Array.from({ length: 150 }, () => Array.from({ length: 1 + rand(4) }, (_, i) => words[rand(i === 0 ? 5 : 4)]).join('/'));
    const filters = Array.from({ length: 150 }, () => {
      const n = 1 + rand(4);
      const levels = Array.from({ length: n }, () => ['a', 'b', '+', ''][rand(4)]);
      if (rand(3) === 0) levels[n - 1] = '#';
      return levels.join('/');
    });
    const index = new SubscriptionIndex<string>();
    filters.forEach((f, i) => index.add(`c${i}`, f, f));
    const retained = new RetainedIndex<string>();
    for (const t of topics) retained.set(t, t);
    for (const t of topics) {
      const expected = filters.filter((f) => topicMatchesFilter(t, f)).sort();
      expect(index.match(t).direct.map((m) => m.value).sort(), t).toEqual(expected);
    }
    for (const f of filters) {
      const expected = [...new Set(topics)].filter((t) => topicMatchesFilter(t, f)).sort();
      expect(retained.match(f).map((m) => m.topic).sort(), f).toEqual(expected);
    }
  });
});

describe('SubscriptionIndex', () => {
  it('groups shared subscriptions and keeps member order', () => {
    const index = new SubscriptionIndex<string>();
    index.add('a', '$share/g/jobs/+', 'a');
    index.add('b', '$share/g/jobs/+', 'b');
    index.add('c', '$share/h/jobs/#', 'c');
    index.add('d', 'jobs/1', 'd');
    const m = index.match('jobs/1');
    expect(m.direct.map((x) => x.clientId)).toEqual(['d']);
    expect(m.shared.map((g) => [g.group, g.members.map((x) => x.clientId)])).toEqual([
      ['h', ['c']],
      ['g', ['a', 'b']],
    ]);
  });

  it('replaces a repeated subscription in place and removes cleanly', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/+', 1);
    index.add('a', 'x/+', 2);
    expect(index.size).toBe(1);
    expect(index.get('a', 'x/+')).toBe(2);
    expect(index.remove('a', 'x/+')).toBe(true);
    expect(index.remove('a', 'x/+')).toBe(false);
    expect(index.match('x/y').direct).toHaveLength(0);
  });

  it('prunes empty branches so churn does not grow memory', () => {
    const index = new SubscriptionIndex<number>();
    for (let i = 0; i < 1000; i++) {
      index.add(`c${i}`, `deep/${i}/a/b/c`, i);
      index.add(`c${i}`, `$share/g${i}/deep/${i}/#`, i);
    }
    for (let i = 0; i < 1000; i++) index.removeClient(`c${i}`);
    expect(index.size).toBe(0);
    expect(index.nodeCount).toBe(0);
  });
});

describe('RetainedIndex', () => {
  it('replaces, deletes and prunes', () => {
    const r = new RetainedIndex<string>();
    r.set('a/b', '1');
    r.set('a/b', '2');
    r.set('a/c', '3');
    expect(r.size).toBe(2);
    expect(r.match('a/+').map((m) => m.value).sort()).toEqual(['2', '3']);
    expect(r.delete('a/b')).toBe(true);
    expect(r.delete('a/c')).toBe(true);
    expect(r.size).toBe(0);
    expect(r.nodeCount).toBe(0);
  });
});
