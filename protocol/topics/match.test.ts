import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/support/seeded-random';
import { topicMatchesFilter } from './match';

/** The matching rules read straight off section 4.7, level by level. */
function specMatch(topic: string, filter: string): boolean {
  const t = topic.split('/');
  const f = filter.split('/');
  if (t[0].startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  const go = (i: number): boolean => {
    if (i === f.length) return i === t.length;
    if (f[i] === '#') return true;
    if (i === t.length) return false;
    return (f[i] === '+' || f[i] === t[i]) && go(i + 1);
  };
  return go(0);
}

// [topic, filter, matches], mostly the examples of MQTT 5.0 section 4.7.
const cases: Array<[string, string, boolean]> = [
  // 4.7.1.2 multi-level wildcard
  ['sport/tennis/player1', 'sport/tennis/player1/#', true],
  ['sport/tennis/player1/ranking', 'sport/tennis/player1/#', true],
  ['sport/tennis/player1/score/wimbledon', 'sport/tennis/player1/#', true],
  ['sport/tennis/player2', 'sport/tennis/player1/#', false],
  ['sport/tennis', 'sport/tennis/player1/#', false],
  ['sport', 'sport/#', true], // '#' includes the parent level
  ['sport/', 'sport/#', true],
  ['sports', 'sport/#', false],
  ['a', '#', true],
  ['/', '#', true],
  ['a/b/c', '#', true],
  // 4.7.1.3 single-level wildcard
  ['sport/tennis/player1', 'sport/tennis/+', true],
  ['sport/tennis/player2', 'sport/tennis/+', true],
  ['sport/tennis/player1/ranking', 'sport/tennis/+', false],
  ['sport', 'sport/+', false],
  ['sport/', 'sport/+', true], // '+' matches an empty level
  ['sport/tennis', 'sport/+', true],
  ['sport/tennis/player1', 'sport/+', false],
  ['sport/tennis/player1', 'sport/+/player1', true],
  ['sport/tennis/player1/x', '+/tennis/#', true],
  ['sport/tennis', '+/tennis/#', true],
  ['/finance', '+/+', true],
  ['/finance', '/+', true],
  ['/finance', '+', false],
  ['finance', '+', true],
  ['/', '+/+', true],
  ['/', '+', false],
  ['/', '/', true],
  ['//', '+/+/+', true],
  ['//', '/+/', true],
  ['a//b', 'a/+/b', true],
  ['a//b', 'a//b', true],
  ['a/b', 'a//b', false],
  ['a//b', 'a/#', true],
  // 4.7.2 topics beginning with '$' [MQTT-4.7.2-1]
  ['$SYS/monitor/Clients', '#', false],
  ['$SYS/monitor/Clients', '+/monitor/Clients', false],
  ['$SYS/monitor/Clients', '$SYS/#', true],
  ['$SYS/monitor/Clients', '$SYS/monitor/+', true],
  ['$SYS', '$SYS/#', true],
  ['$SYS', '+', false],
  ['$', '#', false],
  ['$SYS/x', '+/#', false],
  ['a/$SYS', 'a/+', true], // the rule is about the first level only
  ['a/$SYS', '#', true],
  // 4.7.3 case sensitivity, spaces, distinct leading/trailing separators
  ['ACCOUNTS', 'Accounts', false],
  ['Accounts payable', 'Accounts payable', true],
  ['Accounts payable', 'Accounts', false],
  ['/a', 'a', false],
  ['a/', 'a', false],
  ['a', 'a/', false],
  ['a', 'a/+', false],
  // Same prefix, different length
  ['ab', 'a', false],
  ['a', 'ab', false],
  ['a/bc', 'a/b', false],
  ['a/b', 'a/bc', false],
  ['a/b', 'a/b/c', false],
  ['a/b/c', 'a/b', false],
  ['€/😀', '€/😀', true],
  ['€/😀', '+/😀', true],
  ['€/😀', '€/😁', false],
];

describe('topicMatchesFilter', () => {
  it.each(cases)('%j against %j -> %s', (topic, filter, expected) => {
    expect(topicMatchesFilter(topic, filter)).toBe(expected);
    expect(specMatch(topic, filter)).toBe(expected);
  });

  it('agrees with a level-by-level reading of the spec on random topics and filters', () => {
    const rand = seededRandom(42);
    const pick = <X>(xs: X[]) => xs[Math.floor(rand() * xs.length)];
    const words = ['a', 'b', 'ab', 'ba', '', '$', '$SYS', 'é', '😀'];
    for (let i = 0; i < 20_000; i++) {
      const tLevels = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(words));
      const topic = tLevels.join('/');
      let fLevels: string[];
      if (rand() < 0.5) {
        // Derive the filter from the topic so that matches are common.
        fLevels = tLevels.map((w) => (rand() < 0.3 ? '+' : rand() < 0.1 ? pick(words) : w));
        if (rand() < 0.3) fLevels.length = Math.max(1, fLevels.length - Math.floor(rand() * 3));
        if (rand() < 0.2) fLevels.push(pick(words));
      } else {
        fLevels = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick([...words, '+', '+']));
      }
      if (rand() < 0.3) fLevels[fLevels.length - 1] = '#';
      else if (rand() < 0.1) fLevels.push('#');
      const filter = fLevels.join('/');
      expect(topicMatchesFilter(topic, filter), `${topic} vs ${filter}`).toBe(specMatch(topic, filter));
    }
  });
});
