/**
 * Random topics and filters for the tests that check an index against a
 * brute-force scan with topicMatchesFilter. The levels are few and short so
 * that random filters often match random topics, and `$x` is there so that
 * the rule about topics starting with `$` gets exercised.
 */
export interface RandomTopics {
  /** One element of `xs`, chosen by the same random source. */
  pick<X>(xs: readonly X[]): X;
  /** One to four levels; `$x` only as the first. */
  randomTopic(): string;
  /** One to four levels with `+` wildcards, ending in `#` three times in ten. */
  randomFilter(): string;
}

export function randomTopics(rand: () => number): RandomTopics {
  const pick = <X>(xs: readonly X[]) => xs[Math.floor(rand() * xs.length)];
  const words = ['a', 'b', 'ab', '', '$x'] as const;
  return {
    pick,
    randomTopic: () => Array.from({ length: 1 + Math.floor(rand() * 4) }, (_, i) => pick(i === 0 ? words : words.slice(0, 4))).join('/'),
    randomFilter: () => {
      const n = 1 + Math.floor(rand() * 4);
      const levels = Array.from({ length: n }, () => pick(['a', 'b', 'ab', '', '+', '+', '$x']));
      if (rand() < 0.3) levels[n - 1] = '#';
      return levels.join('/');
    },
  };
}
