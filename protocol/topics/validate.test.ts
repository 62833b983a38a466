import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/support/seeded-random';
import { isWildcardFilter, parseSharedFilter, validateTopicFilter, validateTopicName } from './validate';

const limits = { maxLength: 64, maxLevels: 8 };
const roomy = { maxLength: 65_535, maxLevels: 65_535 };

describe('validateTopicName', () => {
  it.each([
    'sport/tennis/player1',
    '/finance', // a leading '/' makes a distinct, valid name (4.7.3)
    'finance/',
    '/', // only the separator is valid (4.7.3)
    '//',
    'a//b',
    'Accounts payable', // spaces are allowed (4.7.3)
    '$SYS/broker/uptime',
    '$share/g/a', // not special in a PUBLISH
    'sport/€/ünïcode/😀',
  ])('accepts %j', (topic) => {
    expect(validateTopicName(topic, limits)).toBeNull();
  });

  it.each([
    ['', /empty/], // [MQTT-4.7.3-1]
    ['+', /wildcard/], // [MQTT-3.3.2-2]
    ['#', /wildcard/],
    ['a/+/b', /wildcard/],
    ['a/#', /wildcard/],
    ['a+b', /wildcard/],
    ['sport#', /wildcard/],
    ['a\u0000b', /U\+0000/], // [MQTT-4.7.3-2]
    ['\u0000', /U\+0000/],
  ])('refuses %j', (topic, reason) => {
    expect(validateTopicName(topic, limits)).toMatch(reason);
  });

  it('counts length in UTF-8 bytes, not UTF-16 units', () => {
    expect(validateTopicName('a'.repeat(64), limits)).toBeNull();
    expect(validateTopicName('a'.repeat(65), limits)).toMatch(/longer than 64 bytes/);
    // 2-byte characters.
    expect(validateTopicName('é'.repeat(32), limits)).toBeNull();
    expect(validateTopicName('é'.repeat(33), limits)).toMatch(/longer/);
    // 3-byte characters: 21 x 3 = 63, 22 x 3 = 66.
    expect(validateTopicName('€'.repeat(21) + 'a', limits)).toBeNull();
    expect(validateTopicName('€'.repeat(22), limits)).toMatch(/longer/);
    // Surrogate pairs are 4 bytes for 2 UTF-16 units.
    expect(validateTopicName('😀'.repeat(16), limits)).toBeNull();
    expect(validateTopicName('😀'.repeat(16) + 'a', limits)).toMatch(/longer/);
  });

  it('agrees with TextEncoder on byte length for random strings, including lone surrogates', () => {
    const rand = seededRandom(1234);
    const alphabet = ['a', '/', 'é', '€', '😀', '\ud800', '\udc00', 'ab', '߿', 'ࠀ', '\uffff'];
    const encoder = new TextEncoder();
    for (let i = 0; i < 2000; i++) {
      const n = 1 + Math.floor(rand() * 30);
      let s = '';
      for (let j = 0; j < n; j++) s += alphabet[Math.floor(rand() * alphabet.length)];
      const bytes = encoder.encode(s).byteLength;
      for (const max of [bytes - 1, bytes, bytes + 1]) {
        if (max < 1) continue;
        const tooLong = /longer/.test(validateTopicName(s, { maxLength: max, maxLevels: 1000 }) ?? '');
        expect(tooLong, `${JSON.stringify(s)} max ${max}`).toBe(bytes > max);
      }
    }
  });

  it('limits the number of levels, empty levels included', () => {
    expect(validateTopicName('a/b/c/d/e/f/g/h', limits)).toBeNull();
    expect(validateTopicName('a/b/c/d/e/f/g/h/i', limits)).toMatch(/more than 8 levels/);
    expect(validateTopicName('///////', limits)).toBeNull(); // 8 empty levels
    expect(validateTopicName('////////', limits)).toMatch(/levels/);
    expect(validateTopicName('/', { maxLength: 10, maxLevels: 1 })).toMatch(/levels/);
    expect(validateTopicName('a', { maxLength: 10, maxLevels: 1 })).toBeNull();
  });
});

describe('validateTopicFilter', () => {
  it.each([
    '#',
    '+',
    'sport/tennis/player1/#',
    'sport/tennis/#',
    'sport/#',
    'sport/+/player1',
    'sport/tennis/+',
    '+/tennis/#',
    '+/+',
    '/+',
    '+/',
    '/',
    '//',
    'a//#',
    '+/#',
    '$SYS/#',
    '$SYS/monitor/+',
    'Accounts payable',
    '€/+/😀',
    '$share/g/#',
    '$share/g/+',
    '$share/consumer1/sport/tennis/+',
    '$share/consumer1//finance',
    '$share/g/$SYS/#',
    '$share/g/$share/h/x', // the inner filter is an ordinary one
    '$share/g/a/+/#',
    '$sharefoo/a', // not the $share/ prefix, so an ordinary filter
    '$SHARE/g/a', // prefixes are case sensitive
  ])('accepts %j', (filter) => {
    expect(validateTopicFilter(filter, limits)).toBeNull();
  });

  it.each([
    ['', /empty/], // [MQTT-4.7.3-1]
    ['sport/tennis#', /'#'/], // [MQTT-4.7.1-1] in 5.0, [MQTT-4.7.1-2] in 3.1.1
    ['sport/tennis/#/ranking', /'#'/],
    ['a/#/b', /'#'/],
    ['#a', /'#'/],
    ['a#', /'#'/],
    ['##', /'#'/],
    ['#/', /'#'/],
    ['#/a', /'#'/],
    ['a/#/', /'#'/],
    ['sport+', /'\+'/], // [MQTT-4.7.1-2] in 5.0, [MQTT-4.7.1-3] in 3.1.1
    ['a+', /'\+'/],
    ['+a', /'\+'/],
    ['a/+b', /'\+'/],
    ['a/b+/c', /'\+'/],
    ['++', /'\+'/],
    ['+#', /'[+#]'/],
    ['a\u0000b', /U\+0000/], // [MQTT-4.7.3-2]
    ['$share', /\$share\/<group>\/<filter>/],
    ['$share/', /\$share\/<group>\/<filter>/],
    ['$share/g', /\$share\/<group>\/<filter>/], // [MQTT-4.8.2-2] the ShareName must be followed by '/'
    ['$share//a', /group is empty/], // [MQTT-4.8.2-1]
    ['$share//', /group is empty/],
    ['$share/g+/a', /group contains a wildcard/], // [MQTT-4.8.2-2]
    ['$share/+/a', /group contains a wildcard/],
    ['$share/#/a', /group contains a wildcard/],
    ['$share/g#/a', /group contains a wildcard/],
    ['$share/g/', /filter is empty/], // [MQTT-4.8.2-2] '/' must be followed by a Topic Filter
    ['$share/g/a/#/b', /'#'/],
    ['$share/g/a+', /'\+'/],
    ['$share/g\u0000/a', /U\+0000/],
    ['$share/g/a\u0000', /U\+0000/],
  ])('refuses %j', (filter, reason) => {
    expect(validateTopicFilter(filter, limits)).toMatch(reason);
  });

  it('counts length in UTF-8 bytes over the whole string, $share prefix included', () => {
    expect(validateTopicFilter('a/' + 'b'.repeat(62), limits)).toBeNull();
    expect(validateTopicFilter('a/' + 'b'.repeat(63), limits)).toMatch(/longer than 64 bytes/);
    expect(validateTopicFilter('€'.repeat(21) + '/#', limits)).toMatch(/longer/); // 63 + 2 bytes
    expect(validateTopicFilter('€'.repeat(20) + '/#', limits)).toBeNull();
    expect(validateTopicFilter('😀'.repeat(15) + '/+/#', limits)).toBeNull(); // 60 + 4
    expect(validateTopicFilter('😀'.repeat(16) + '/#', limits)).toMatch(/longer/);
    const shared = '$share/g/' + 'x'.repeat(55); // 9 + 55 = 64
    expect(validateTopicFilter(shared, limits)).toBeNull();
    expect(validateTopicFilter(shared + 'x', limits)).toMatch(/longer/);
  });

  it('limits levels, counting only the matched filter of a shared subscription', () => {
    expect(validateTopicFilter('a/+/c/d/e/f/g/#', limits)).toBeNull();
    expect(validateTopicFilter('a/+/c/d/e/f/g/h/#', limits)).toMatch(/more than 8 levels/);
    expect(validateTopicFilter('///////', limits)).toBeNull();
    expect(validateTopicFilter('////////', limits)).toMatch(/levels/);
    expect(validateTopicFilter('$share/g/a/b/c/d/e/f/g/h', limits)).toBeNull();
    expect(validateTopicFilter('$share/g/a/b/c/d/e/f/g/h/i', limits)).toMatch(/levels/);
    expect(validateTopicFilter('$share/g/#', { maxLength: 64, maxLevels: 1 })).toBeNull();
  });

  it('accepts filters up to the protocol maximum with roomy limits', () => {
    expect(validateTopicFilter('+/'.repeat(30_000) + '#', roomy)).toBeNull();
  });
});

describe('parseSharedFilter', () => {
  it.each([
    ['$share/workers/jobs/#', { group: 'workers', filter: 'jobs/#' }],
    ['$share/g/a/b', { group: 'g', filter: 'a/b' }],
    ['$share/consumer1//finance', { group: 'consumer1', filter: '/finance' }],
    ['$share/g/#', { group: 'g', filter: '#' }],
    ['$share/g/$share/h/x', { group: 'g', filter: '$share/h/x' }],
    ['$share/g/€/😀', { group: 'g', filter: '€/😀' }],
  ])('splits %j', (input, expected) => {
    expect(parseSharedFilter(input)).toEqual(expected);
  });

  it.each(['jobs/#', '#', '$share', '$sharefoo/a/b', '$SHARE/g/a', '$SYS/#', 'a/$share/g/b'])('returns null for %j', (input) => {
    expect(parseSharedFilter(input)).toBeNull();
  });
});

describe('isWildcardFilter', () => {
  it.each([
    ['#', true],
    ['+', true],
    ['a/+/b', true],
    ['a/#', true],
    ['$share/g/a/#', true],
    ['$share/g/+', true],
    ['a/b', false],
    ['/', false],
    ['$SYS/broker', false],
    ['$share/g/a/b', false],
  ])('%j -> %s', (filter, expected) => {
    expect(isWildcardFilter(filter)).toBe(expected);
  });
});
