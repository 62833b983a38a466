import { describe, expect, it } from 'vitest';
import { filterCovers, isBroadFilter, isValidFilterLevels, topicMatches } from './topic-filters';

const s = (t: string) => t.split('/');

describe('topicMatches', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/b/c', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b/c', true],
    ['#', 'a/b', true],
    ['+/+', 'a', false],
    ['a/b', 'a/c', false],
    ['+', '', true],
    ['#', '$SYS/broker/uptime', false],
    ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['$SYS/#', 'SYS/broker', false],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(topicMatches(s(filter), s(topic))).toBe(expected);
  });
});

describe('filterCovers (mosquitto 2 subscription against ACL filter)', () => {
  it.each([
    ['a/#', 'a', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/+', true],
    ['a/#', 'a/#', true],
    ['a/+', 'a/b', true],
    ['a/+', 'a/+', true],
    ['a/+', 'a/#', false],
    ['a/+', 'a', false],
    ['a/b', 'a/+', false],
    ['a/b', 'a/#', false],
    ['foo/+/#', 'foo/bar', true],
    ['foo/+/#', 'foo/+/x/#', true],
    ['#', '#', true],
    ['#', '$SYS/#', false],
    ['+/#', '#', false],
    ['+/#', '+/+', true],
    ['$SYS/#', '$SYS/broker/+', true],
    ['$SYS/broker/+', '$SYS/#', false],
  ])('%s covers %s: %s', (acl, sub, expected) => {
    expect(filterCovers(s(acl), s(sub))).toBe(expected);
  });
});

describe('isBroadFilter / isValidFilterLevels', () => {
  it('calls wildcard-only filters broad', () => {
    for (const f of ['#', '+', '+/#', '+/+/#', '+/+']) expect(isBroadFilter(s(f)), f).toBe(true);
    for (const f of ['a/#', '+/a', '$SYS/#', 'a']) expect(isBroadFilter(s(f)), f).toBe(false);
  });

  it('rejects wildcards that do not occupy a whole level or a # before the end', () => {
    for (const f of ['a/#', '+/x', '#', 'x%cy/+']) expect(isValidFilterLevels(s(f)), f).toBe(true);
    for (const f of ['a/#/b', 'a+/b', 'a/b#', 'a/x+']) expect(isValidFilterLevels(s(f)), f).toBe(false);
  });
});
