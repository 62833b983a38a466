import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/support/seeded-random';
import { topicMatchesFilter } from './match';
import { RetainedIndex } from './retained-index';
import { randomTopics } from './test-support';

/** Trie nodes a set of topics needs: one per distinct level prefix. */
function expectedNodes(topics: Iterable<string>): number {
  const prefixes = new Set<string>();
  for (const topic of topics) {
    const levels = topic.split('/');
    for (let i = 1; i <= levels.length; i++) prefixes.add(JSON.stringify(levels.slice(0, i)));
  }
  return prefixes.size;
}

const topicsOf = (r: RetainedIndex<unknown>, filter: string) =>
  r
    .match(filter)
    .map((m) => m.topic)
    .sort();

describe('RetainedIndex storage', () => {
  it('sets, replaces, gets and deletes', () => {
    const r = new RetainedIndex<string>();
    expect(r.get('a/b')).toBeUndefined();
    r.set('a/b', '1');
    r.set('a/b', '2');
    r.set('a/c', '3');
    expect(r.size).toBe(2);
    expect(r.get('a/b')).toBe('2');
    expect(r.get('a')).toBeUndefined();
    expect(r.match('a/b')).toEqual([{ topic: 'a/b', value: '2' }]);
    expect(r.delete('a/b')).toBe(true);
    expect(r.delete('a/b')).toBe(false);
    expect(r.get('a/b')).toBeUndefined();
    expect(r.match('a/+')).toEqual([{ topic: 'a/c', value: '3' }]);
    expect(r.size).toBe(1);
  });

  it('lists entries in first-stored order, replacements in place', () => {
    const r = new RetainedIndex<number>();
    r.set('x', 1);
    r.set('y/z', 2);
    r.set('/', 3);
    r.set('x', 4);
    expect([...r.entries()]).toEqual([
      ['x', 4],
      ['y/z', 2],
      ['/', 3],
    ]);
  });

  it('keeps parent and child topics independent', () => {
    const r = new RetainedIndex<number>();
    r.set('a', 1);
    r.set('a/b', 2);
    expect(r.delete('a/b/c')).toBe(false);
    expect(r.delete('a')).toBe(true);
    expect(r.get('a/b')).toBe(2);
    expect(topicsOf(r, 'a/#')).toEqual(['a/b']);
    expect(r.nodeCount).toBe(2);
    r.set('a', 1);
    expect(r.delete('a/b')).toBe(true);
    expect(topicsOf(r, 'a/#')).toEqual(['a']);
    expect(r.nodeCount).toBe(1);
  });

  it('hands out copies, so changing a result does not change the store', () => {
    const r = new RetainedIndex<number>();
    r.set('a', 1);
    const [hit] = r.match('a');
    hit.value = 99;
    hit.topic = 'b';
    expect(r.get('a')).toBe(1);
    expect(r.match('#')).toEqual([{ topic: 'a', value: 1 }]);
  });

  it('prunes emptied branches, and does not grow under churn', () => {
    const r = new RetainedIndex<number>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i++) {
        r.set(`sensors/${round}/${i}/temp`, i);
        r.set(`sensors/${round}/${i}`, i);
        r.set(`/${i}//x`, i);
      }
      expect(r.size).toBe(3000);
      expect(r.nodeCount).toBe(expectedNodes([...r.entries()].map(([t]) => t)));
      for (let i = 0; i < 1000; i++) {
        r.delete(`sensors/${round}/${i}/temp`);
        r.delete(`sensors/${round}/${i}`);
        r.delete(`/${i}//x`);
      }
      expect(r.size).toBe(0);
      expect(r.nodeCount).toBe(0);
      expect([...r.entries()]).toEqual([]);
    }
  });
});

describe('RetainedIndex matching', () => {
  const stored = [
    'sport',
    'sport/',
    'sport/tennis',
    'sport/tennis/player1',
    'sport/tennis/player1/ranking',
    'sport/tennis/player1/score/wimbledon',
    'sport/tennis/player2',
    'sports',
    '/finance',
    'finance',
    '/',
    'a//b',
    '$SYS',
    '$SYS/monitor/Clients',
    '$SYS/broker/uptime',
    'x/$SYS',
    'ACCOUNTS',
    'Accounts payable',
  ];
  const r = new RetainedIndex<string>();
  for (const t of stored) r.set(t, t);
  const nonDollar = stored.filter((t) => !t.startsWith('$')).sort();

  const cases: Array<[string, string[]]> = [
    ['sport/tennis/player1/#', ['sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon']],
    ['sport/#', ['sport', 'sport/', 'sport/tennis', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon', 'sport/tennis/player2']],
    ['sport/tennis/+', ['sport/tennis/player1', 'sport/tennis/player2']],
    ['sport/+', ['sport/', 'sport/tennis']],
    ['sport/+/player1', ['sport/tennis/player1']],
    ['+/tennis/#', ['sport/tennis', 'sport/tennis/player1', 'sport/tennis/player1/ranking', 'sport/tennis/player1/score/wimbledon', 'sport/tennis/player2']],
    ['+/+', ['/', '/finance', 'sport/', 'sport/tennis', 'x/$SYS']],
    ['/+', ['/', '/finance']],
    ['+', ['ACCOUNTS', 'Accounts payable', 'finance', 'sport', 'sports']],
    ['/#', ['/', '/finance']],
    ['a/+/b', ['a//b']],
    ['a//b', ['a//b']],
    ['+/+/+', ['a//b', 'sport/tennis/player1', 'sport/tennis/player2']],
    ['#', nonDollar],
    // [MQTT-4.7.2-1]
    ['+/monitor/Clients', []],
    ['+/#', nonDollar], // '#' takes in the parent level, so this equals '#'
    ['$SYS/#', ['$SYS', '$SYS/broker/uptime', '$SYS/monitor/Clients']],
    ['$SYS/monitor/+', ['$SYS/monitor/Clients']],
    ['$SYS/+/+', ['$SYS/broker/uptime', '$SYS/monitor/Clients']],
    ['x/+', ['x/$SYS']],
    // Case sensitive, spaces allowed, nothing partial
    ['Accounts', []],
    ['Accounts payable', ['Accounts payable']],
    ['sport/tennis/player', []],
    ['nothing/#', []],
    ['sport/tennis/player1/ranking/+', []],
  ];
  it.each(cases)('%j finds the right topics', (filter, expected) => {
    expect(topicsOf(r, filter)).toEqual([...expected].sort());
    expect(stored.filter((t) => topicMatchesFilter(t, filter)).sort()).toEqual([...expected].sort());
  });

  it('matches very deep topics without running out of stack', () => {
    const deep = new RetainedIndex<number>();
    const topic = Array.from({ length: 20_000 }, (_, i) => `l${i % 3}`).join('/');
    deep.set(topic, 1);
    expect(deep.match('+/'.repeat(19_999) + '+')).toHaveLength(1);
    expect(deep.match('#')).toHaveLength(1);
    expect(deep.match(topic)).toHaveLength(1);
    deep.delete(topic);
    expect(deep.nodeCount).toBe(0);
  });

  it('agrees with topicMatchesFilter under random set, delete and subscribe', () => {
    const rand = seededRandom(99);
    const { pick, randomTopic, randomFilter } = randomTopics(rand);
    const index = new RetainedIndex<number>();
    const model = new Map<string, number>();
    let hits = 0;
    for (let step = 0; step < 5000; step++) {
      const r = rand();
      if (r < 0.4) {
        const topic = randomTopic();
        index.set(topic, step);
        model.set(topic, step);
      } else if (r < 0.7) {
        const topic = model.size > 0 && rand() < 0.8 ? pick([...model.keys()]) : randomTopic();
        expect(index.delete(topic)).toBe(model.delete(topic));
      } else {
        const filter = randomFilter();
        const expected = [...model]
          .filter(([t]) => topicMatchesFilter(t, filter))
          .map(([topic, value]) => ({ topic, value }))
          .sort((a, b) => (a.topic < b.topic ? -1 : 1));
        const got = index.match(filter).sort((a, b) => (a.topic < b.topic ? -1 : 1));
        expect(got, filter).toEqual(expected);
        hits += got.length;
      }
      if (step % 250 === 0) {
        expect(index.size).toBe(model.size);
        expect(index.nodeCount).toBe(expectedNodes(model.keys()));
        expect(new Map(index.entries())).toEqual(model);
      }
    }
    expect(hits).toBeGreaterThan(1000);
    for (const t of [...model.keys()]) index.delete(t);
    expect(index.nodeCount).toBe(0);
  });
});
