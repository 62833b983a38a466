import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/support/seeded-random';
import { topicMatchesFilter } from './match';
import { MATCH_CACHE_SUBSCRIPTIONS, MATCH_CACHE_TOPIC_LENGTH, MATCH_CACHE_TOPICS, SubscriptionIndex, type TopicMatches } from './subscription-index';
import { randomTopics } from './test-support';
import { parseSharedFilter } from './validate';

const directKeys = <T>(m: TopicMatches<T>) => m.direct.map((s) => `${s.clientId} ${s.filter}`).sort();
const sharedView = <T>(m: TopicMatches<T>) =>
  m.shared
    .map((g) => ({ group: g.group, filter: g.filter, members: g.members.map((s) => s.clientId) }))
    .sort((a, b) => (a.filter < b.filter ? -1 : a.filter > b.filter ? 1 : 0));

/** Trie nodes a set of filters needs: one per distinct non-empty level prefix of the matched filters. */
function expectedNodes(filters: Iterable<string>): number {
  const prefixes = new Set<string>();
  for (const filter of filters) {
    const inner = parseSharedFilter(filter)?.filter ?? filter;
    const levels = inner.split('/');
    for (let i = 1; i <= levels.length; i++) prefixes.add(JSON.stringify(levels.slice(0, i)));
  }
  return prefixes.size;
}

describe('SubscriptionIndex matching', () => {
  const cases: Array<[string, string[], string[]]> = [
    // [topic, filters that match, filters that do not]
    ['sport/tennis/player1', ['sport/tennis/player1/#', 'sport/tennis/+', 'sport/#', '#', '+/+/+', 'sport/+/player1', '+/tennis/#'], ['sport/+', '+/+', 'sport/tennis', 'sport/tennis/player1/+']],
    ['sport', ['sport/#', '#', '+'], ['sport/+', '+/+', 'sport/tennis/#']],
    ['sport/', ['sport/+', 'sport/#', '+/+', 'sport/'], ['sport', '+']],
    ['/finance', ['+/+', '/+', '/finance', '/#', '#'], ['+', 'finance', '+/finance/+', 'finance/#']],
    ['/', ['+/+', '/', '#', '/#', '+/#'], ['+', '/+/+']],
    ['a//b', ['a/+/b', 'a//b', 'a/#', 'a//#', '+/+/+'], ['a/b', 'a/+', 'a/+/+/+']],
    ['$SYS/monitor/Clients', ['$SYS/#', '$SYS/monitor/+', '$SYS/+/Clients', '$SYS/monitor/Clients'], ['#', '+/monitor/Clients', '+/#', '+/+/+']],
    ['$SYS', ['$SYS/#', '$SYS'], ['#', '+']],
    ['a/$SYS', ['a/+', '#', '+/+', 'a/$SYS'], []],
  ];
  for (const [topic, yes, no] of cases) {
    it(`matches ${topic} against exactly the right filters`, () => {
      const index = new SubscriptionIndex<string>();
      for (const f of [...yes, ...no]) index.add(`c:${f}`, f, f);
      for (const f of yes) expect(topicMatchesFilter(topic, f), f).toBe(true);
      for (const f of no) expect(topicMatchesFilter(topic, f), f).toBe(false);
      expect(index.match(topic).direct.map((s) => s.value).sort()).toEqual([...yes].sort());
    });
  }

  it('reports a client once per overlapping filter, and every client on a shared filter', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/+', 1);
    index.add('a', 'x/#', 2);
    index.add('a', 'x/y', 3);
    index.add('b', 'x/y', 4);
    index.add('c', 'x/z', 5);
    const m = index.match('x/y');
    expect(directKeys(m)).toEqual(['a x/#', 'a x/+', 'a x/y', 'b x/y']);
    expect(m.direct.map((s) => s.value).sort()).toEqual([1, 2, 3, 4]);
    expect(m.shared).toEqual([]);
  });

  it('returns nothing for an empty index or a topic nobody wants', () => {
    const index = new SubscriptionIndex<number>();
    expect(index.match('a')).toEqual({ direct: [], shared: [] });
    index.add('c', 'b/+', 1);
    expect(index.match('a/b')).toEqual({ direct: [], shared: [] });
  });

  it('never reports a subscription twice for a topic level spelled like a wildcard', () => {
    // Such topics are refused on PUBLISH; the index must still not duplicate.
    const index = new SubscriptionIndex<number>();
    index.add('c', 'a/+', 1);
    index.add('c', 'a/#', 2);
    expect(index.match('a/+').direct.map((s) => s.value).sort()).toEqual([1, 2]);
    expect(index.match('a/#').direct.map((s) => s.value).sort()).toEqual([1, 2]);
  });

  it('matches very deep topics without running out of stack', () => {
    const index = new SubscriptionIndex<number>();
    const deep = Array.from({ length: 20_000 }, (_, i) => `l${i % 7}`).join('/');
    index.add('a', deep, 1);
    index.add('b', '+/'.repeat(19_999) + '+', 2);
    index.add('c', 'l0/#', 3);
    index.add('d', '+/'.repeat(10_000) + '#', 4);
    expect(index.match(deep).direct.map((s) => s.value).sort()).toEqual([1, 2, 3, 4]);
    for (const c of ['a', 'b', 'c', 'd']) index.removeClient(c);
    expect(index.nodeCount).toBe(0);
  });
});

describe('SubscriptionIndex shared subscriptions', () => {
  it('groups members by the full $share string, in insertion order', () => {
    const index = new SubscriptionIndex<string>();
    index.add('a', '$share/g/jobs/+', 'a');
    index.add('b', '$share/g/jobs/+', 'b');
    index.add('c', '$share/h/jobs/#', 'c');
    index.add('e', '$share/g/jobs/+', 'e');
    index.add('d', 'jobs/1', 'd');
    const m = index.match('jobs/1');
    expect(directKeys(m)).toEqual(['d jobs/1']);
    expect(sharedView(m)).toEqual([
      { group: 'g', filter: '$share/g/jobs/+', members: ['a', 'b', 'e'] },
      { group: 'h', filter: '$share/h/jobs/#', members: ['c'] },
    ]);
    expect(m.shared.find((g) => g.group === 'g')!.members.map((s) => s.value)).toEqual(['a', 'b', 'e']);
  });

  it('lists one group’s members by its $share string, and nothing for a group without members', () => {
    const index = new SubscriptionIndex<string>();
    index.add('a', '$share/g/jobs/+', 'a');
    index.add('b', '$share/g/jobs/+', 'b');
    index.add('c', '$share/h/jobs/+', 'c');
    index.add('d', 'jobs/+', 'd');
    const members = (key: string) => [...index.groupMembers(key)].map((m) => m.clientId);
    expect(members('$share/g/jobs/+')).toEqual(['a', 'b']);
    expect(members('$share/h/jobs/+')).toEqual(['c']);
    index.remove('c', '$share/h/jobs/+');
    expect(members('$share/h/jobs/+')).toEqual([]);
    expect(members('$share/g/jobs/#')).toEqual([]);
    expect(members('jobs/+')).toEqual([]);
  });

  it('keeps the same group name on different filters as distinct groups (4.8.2)', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', '$share/consumer1/sport/tennis/+', 1);
    index.add('b', '$share/consumer1/sport/#', 2);
    index.add('c', '$share/consumer2/sport/tennis/+', 3);
    const m = index.match('sport/tennis/player1');
    expect(sharedView(m)).toEqual([
      { group: 'consumer1', filter: '$share/consumer1/sport/#', members: ['b'] },
      { group: 'consumer1', filter: '$share/consumer1/sport/tennis/+', members: ['a'] },
      { group: 'consumer2', filter: '$share/consumer2/sport/tennis/+', members: ['c'] },
    ]);
    expect(sharedView(index.match('sport'))).toEqual([{ group: 'consumer1', filter: '$share/consumer1/sport/#', members: ['b'] }]);
  });

  it('matches on the inner filter, including empty levels', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', '$share/consumer1//finance', 1);
    expect(sharedView(index.match('/finance'))).toEqual([{ group: 'consumer1', filter: '$share/consumer1//finance', members: ['a'] }]);
    expect(index.match('finance').shared).toEqual([]);
  });

  it("applies the '$' rule to the inner filter [MQTT-4.7.2-1]", () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', '$share/g/#', 1);
    index.add('b', '$share/g/+/monitor/Clients', 2);
    index.add('c', '$share/g/$SYS/#', 3);
    expect(sharedView(index.match('$SYS/monitor/Clients'))).toEqual([{ group: 'g', filter: '$share/g/$SYS/#', members: ['c'] }]);
    expect(sharedView(index.match('x/monitor/Clients')).map((g) => g.filter)).toEqual(['$share/g/#', '$share/g/+/monitor/Clients']);
  });

  it('keeps a direct and a shared subscription on the same filter apart', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/y', 1);
    index.add('a', '$share/g/x/y', 2);
    const m = index.match('x/y');
    expect(m.direct.map((s) => s.value)).toEqual([1]);
    expect(m.shared.map((g) => g.members.map((s) => s.value))).toEqual([[2]]);
    expect(index.size).toBe(2);
    expect(index.remove('a', 'x/y')).toBe(true);
    expect(index.match('x/y').direct).toEqual([]);
    expect(index.match('x/y').shared).toHaveLength(1);
    expect(index.remove('a', '$share/g/x/y')).toBe(true);
    expect(index.nodeCount).toBe(0);
  });

  it('keeps a replaced member in place; one that rejoins goes to the back', () => {
    const index = new SubscriptionIndex<string>();
    for (const c of ['a', 'b', 'c']) index.add(c, '$share/g/t', `${c}1`);
    index.add('a', '$share/g/t', 'a2');
    expect(index.match('t').shared[0].members.map((s) => s.value)).toEqual(['a2', 'b1', 'c1']);
    index.remove('b', '$share/g/t');
    index.add('b', '$share/g/t', 'b3');
    expect(index.match('t').shared[0].members.map((s) => s.value)).toEqual(['a2', 'c1', 'b3']);
  });

  it('removes the group with its last member', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', '$share/g/t/+', 1);
    index.add('b', '$share/g/t/+', 2);
    index.remove('a', '$share/g/t/+');
    expect(index.match('t/x').shared.map((g) => g.members.map((s) => s.clientId))).toEqual([['b']]);
    index.removeClient('b');
    expect(index.match('t/x')).toEqual({ direct: [], shared: [] });
    expect(index.nodeCount).toBe(0);
  });

  it('a member joining or leaving a group is seen by the next match of a topic matched before', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', '$share/g/t', 1);
    expect(index.match('t').shared[0].members.map((s) => s.clientId)).toEqual(['a']);
    index.add('b', '$share/g/t', 2);
    expect(index.match('t').shared[0].members.map((s) => s.clientId)).toEqual(['a', 'b']);
    index.remove('a', '$share/g/t');
    expect(index.match('t').shared[0].members.map((s) => s.clientId)).toEqual(['b']);
  });
});

describe('SubscriptionIndex: matches kept between changes', () => {
  it('hands out the same result for a topic until the index changes', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/+', 1);
    const first = index.match('x/y');
    expect(index.match('x/y')).toBe(first);
    index.add('b', 'x/#', 2);
    const second = index.match('x/y');
    expect(second).not.toBe(first);
    expect(second.direct.map((s) => s.clientId).sort()).toEqual(['a', 'b']);
    expect(first.direct.map((s) => s.clientId)).toEqual(['a']);
  });

  it('forgets a topic when a subscription it matched goes, or one elsewhere', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/y', 1);
    index.add('b', 'other', 2);
    expect(index.match('x/y').direct).toHaveLength(1);
    index.remove('a', 'x/y');
    expect(index.match('x/y').direct).toHaveLength(0);
    index.add('a', 'x/y', 1);
    const kept = index.match('x/y');
    expect(kept.direct).toHaveLength(1);
    index.removeClient('b');
    expect(index.match('x/y')).not.toBe(kept);
    expect(index.match('x/y').direct.map((s) => s.clientId)).toEqual(['a']);
  });

  it('a subscription replaced with new options is seen through a kept result', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/y', 1);
    const kept = index.match('x/y');
    index.add('a', 'x/y', 2);
    expect(index.match('x/y')).toBe(kept);
    expect(kept.direct[0].value).toBe(2);
  });

  it('keeps no topic longer than MATCH_CACHE_TOPIC_LENGTH', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', '#', 1);
    const long = 'l/'.repeat(MATCH_CACHE_TOPIC_LENGTH / 2) + 'x';
    expect(index.match(long)).not.toBe(index.match(long));
    expect(index.match(long).direct).toHaveLength(1);
    const short = 'l/'.repeat(MATCH_CACHE_TOPIC_LENGTH / 2 - 1) + 'x';
    expect(index.match(short)).toBe(index.match(short));
  });

  it('keeps at most MATCH_CACHE_SUBSCRIPTIONS subscriptions across the results it keeps', () => {
    const index = new SubscriptionIndex<number>();
    const half = MATCH_CACHE_SUBSCRIPTIONS / 2;
    for (let i = 0; i < half; i++) index.add(`c${i}`, '#', i);
    const a = index.match('a');
    const b = index.match('b');
    expect(index.match('a')).toBe(a);
    expect(index.match('b')).toBe(b);
    // A third result of the same size would pass the bound: everything kept is forgotten first.
    const c = index.match('c');
    expect(index.match('c')).toBe(c);
    expect(index.match('a')).not.toBe(a);
    expect(index.match('a').direct).toHaveLength(half);
  });

  it('keeps no result larger than MATCH_CACHE_SUBSCRIPTIONS', () => {
    const index = new SubscriptionIndex<number>();
    for (let i = 0; i <= MATCH_CACHE_SUBSCRIPTIONS; i++) index.add(`c${i}`, '#', i);
    expect(index.match('a')).not.toBe(index.match('a'));
  });

  it('keeps at most MATCH_CACHE_TOPICS topics', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', '#', 1);
    const first = index.match('t0');
    for (let i = 1; i < MATCH_CACHE_TOPICS; i++) index.match(`t${i}`);
    expect(index.match('t0')).toBe(first);
    index.match(`t${MATCH_CACHE_TOPICS}`);
    expect(index.match('t0')).not.toBe(first);
  });
});

describe('SubscriptionIndex bookkeeping', () => {
  it('replaces a repeated subscription in place [MQTT-3.8.4-3]', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/+', 1);
    index.add('b', 'x/+', 10);
    index.add('c', 'x/+', 100);
    index.add('a', 'x/+', 2);
    expect(index.size).toBe(3);
    expect(index.countForClient('a')).toBe(1);
    expect(index.get('a', 'x/+')).toBe(2);
    expect(index.match('x/y').direct.map((s) => [s.clientId, s.value])).toEqual(
      expect.arrayContaining([
        ['a', 2],
        ['b', 10],
        ['c', 100],
      ]),
    );
    expect(index.match('x/y').direct).toHaveLength(3);
  });

  it('looks up, lists and counts per client', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x', 1);
    index.add('a', '$share/g/y', 2);
    index.add('a', 'z/#', 3);
    index.add('b', 'x', 4);
    expect(index.get('a', 'x')).toBe(1);
    expect(index.get('a', '$share/g/y')).toBe(2);
    expect(index.get('a', 'y')).toBeUndefined();
    expect(index.get('a', '$share/h/y')).toBeUndefined();
    expect(index.get('nobody', 'x')).toBeUndefined();
    expect(index.forClient('a')).toEqual([
      { clientId: 'a', filter: 'x', value: 1 },
      { clientId: 'a', filter: '$share/g/y', value: 2 },
      { clientId: 'a', filter: 'z/#', value: 3 },
    ]);
    expect(index.forClient('nobody')).toEqual([]);
    expect(index.countForClient('a')).toBe(3);
    expect(index.countForClient('b')).toBe(1);
    expect(index.countForClient('nobody')).toBe(0);
    expect(index.size).toBe(4);
    expect(
      index
        .entries()
        .map((s) => `${s.clientId} ${s.filter} ${s.value}`)
        .sort(),
    ).toEqual(['a $share/g/y 2', 'a x 1', 'a z/# 3', 'b x 4']);
  });

  it('reports whether a removal found anything', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/+', 1);
    index.add('a', '$share/g/x/+', 2);
    expect(index.remove('b', 'x/+')).toBe(false);
    expect(index.remove('a', 'x/#')).toBe(false);
    expect(index.remove('a', '$share/h/x/+')).toBe(false);
    expect(index.remove('a', 'x/+')).toBe(true);
    expect(index.remove('a', 'x/+')).toBe(false);
    expect(index.size).toBe(1);
    expect(index.remove('a', '$share/g/x/+')).toBe(true);
    expect(index.size).toBe(0);
    expect(index.countForClient('a')).toBe(0);
    expect(index.forClient('a')).toEqual([]);
  });

  it('removes one client without touching the others', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'x/+', 1);
    index.add('a', '$share/g/x/+', 2);
    index.add('b', 'x/+', 3);
    index.add('b', '$share/g/x/+', 4);
    index.removeClient('a');
    index.removeClient('nobody');
    const m = index.match('x/y');
    expect(directKeys(m)).toEqual(['b x/+']);
    expect(sharedView(m)).toEqual([{ group: 'g', filter: '$share/g/x/+', members: ['b'] }]);
    expect(index.size).toBe(2);
    expect(index.entries().every((s) => s.clientId === 'b')).toBe(true);
  });

  it('prunes only nodes that nothing needs any more', () => {
    const index = new SubscriptionIndex<number>();
    index.add('a', 'a/b/c', 1);
    index.add('a', 'a/b', 2);
    index.add('b', 'a/+/c/#', 3);
    expect(index.nodeCount).toBe(expectedNodes(['a/b/c', 'a/b', 'a/+/c/#']));
    index.remove('a', 'a/b/c');
    expect(index.nodeCount).toBe(expectedNodes(['a/b', 'a/+/c/#']));
    expect(index.match('a/b').direct.map((s) => s.value)).toEqual([2]);
    expect(index.match('a/b/c').direct.map((s) => s.value)).toEqual([3]);
    index.remove('a', 'a/b');
    expect(index.nodeCount).toBe(expectedNodes(['a/+/c/#']));
    index.remove('b', 'a/+/c/#');
    expect(index.nodeCount).toBe(0);
  });

  it('does not grow under subscribe/unsubscribe churn', () => {
    const index = new SubscriptionIndex<number>();
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1000; i++) {
        index.add(`c${i}`, `deep/${round}/${i}/a/b/c`, i);
        index.add(`c${i}`, `$share/g${i}/deep/${i}/#`, i);
        index.add(`c${i}`, `+/${i}/+/#`, i);
      }
      expect(index.size).toBe(3000);
      for (let i = 0; i < 1000; i++) index.removeClient(`c${i}`);
      expect(index.size).toBe(0);
      expect(index.nodeCount).toBe(0);
      expect(index.entries()).toEqual([]);
    }
  });
});

describe('SubscriptionIndex against a brute-force scan', () => {
  it('agrees with topicMatchesFilter under random subscribe, unsubscribe and publish', () => {
    const rand = seededRandom(20_240_601);
    const { pick, randomTopic, randomFilter: randomPlainFilter } = randomTopics(rand);
    // A quarter of the filters are shared subscriptions in one of two groups.
    const randomFilter = () => {
      const inner = randomPlainFilter();
      return rand() < 0.25 ? `$share/${pick(['g', 'h'])}/${inner}` : inner;
    };

    const index = new SubscriptionIndex<string>();
    // The model: clientId -> filter -> value.
    const model = new Map<string, Map<string, string>>();
    const clients = Array.from({ length: 12 }, (_, i) => `c${i}`);
    const modelEntries = () => [...model].flatMap(([clientId, own]) => [...own].map(([filter, value]) => ({ clientId, filter, value })));

    const check = (topic: string) => {
      const got = index.match(topic);
      const expectedDirect: string[] = [];
      const expectedShared = new Map<string, Set<string>>();
      for (const e of modelEntries()) {
        const shared = parseSharedFilter(e.filter);
        if (!topicMatchesFilter(topic, shared ? shared.filter : e.filter)) continue;
        if (shared) {
          const members = expectedShared.get(e.filter) ?? new Set();
          members.add(`${e.clientId}=${e.value}`);
          expectedShared.set(e.filter, members);
        } else {
          expectedDirect.push(`${e.clientId} ${e.filter}=${e.value}`);
        }
      }
      expect(got.direct.map((s) => `${s.clientId} ${s.filter}=${s.value}`).sort(), topic).toEqual(expectedDirect.sort());
      expect(got.shared.map((g) => g.filter).sort(), topic).toEqual([...expectedShared.keys()].sort());
      for (const g of got.shared) {
        expect(g.group).toBe(parseSharedFilter(g.filter)!.group);
        expect(new Set(g.members.map((s) => `${s.clientId}=${s.value}`))).toEqual(expectedShared.get(g.filter));
        expect(g.members.every((s) => s.filter === g.filter)).toBe(true);
      }
    };

    for (let step = 0; step < 4000; step++) {
      const r = rand();
      const clientId = pick(clients);
      if (r < 0.45) {
        const filter = randomFilter();
        const value = `v${step}`;
        index.add(clientId, filter, value);
        const own = model.get(clientId) ?? new Map<string, string>();
        own.set(filter, value);
        model.set(clientId, own);
      } else if (r < 0.8) {
        const own = model.get(clientId);
        const filter = own && own.size > 0 && rand() < 0.8 ? pick([...own.keys()]) : randomFilter();
        const existed = own?.delete(filter) ?? false;
        if (own?.size === 0) model.delete(clientId);
        expect(index.remove(clientId, filter)).toBe(existed);
      } else if (r < 0.82) {
        index.removeClient(clientId);
        model.delete(clientId);
      } else {
        check(randomTopic());
      }
      if (step % 200 === 0) {
        const all = modelEntries();
        expect(index.size).toBe(all.length);
        expect(index.nodeCount).toBe(expectedNodes(all.map((e) => e.filter)));
        for (const c of clients) expect(index.countForClient(c)).toBe(model.get(c)?.size ?? 0);
      }
    }
    for (const c of clients) index.removeClient(c);
    expect(index.size).toBe(0);
    expect(index.nodeCount).toBe(0);
  });
});
