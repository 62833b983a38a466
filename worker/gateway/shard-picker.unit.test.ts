import { describe, expect, it } from 'vitest';
import { fnv1a32, shardIndexFor, shardName } from './shard-picker';
import { parseShardCount, ShardCountError } from './shard-count';

const utf8 = (s: string) => new TextEncoder().encode(s);

describe('shard picker', () => {
  it('is FNV-1a 32-bit, so the mapping never depends on the runtime', () => {
    // Reference values of the published FNV-1a test suite.
    expect(fnv1a32(utf8(''))).toBe(0x811c9dc5);
    expect(fnv1a32(utf8('a'))).toBe(0xe40c292c);
    expect(fnv1a32(utf8('foobar'))).toBe(0xbf9cf968);
  });

  it('hashes the UTF-8 bytes of the client id', () => {
    expect(fnv1a32(utf8('sensor-é'))).not.toBe(fnv1a32(utf8('sensor-e')));
    expect(shardIndexFor('sensor-é', 4)).toBe(fnv1a32(new Uint8Array([...utf8('sensor-'), 0xc3, 0xa9])) % 4);
  });

  it('puts every client on shard 0 when there is one shard', () => {
    for (const id of ['', 'a', 'edgemq-0f3c', 'x'.repeat(300)]) expect(shardIndexFor(id, 1)).toBe(0);
  });

  it('spreads client ids over N shards and keeps each one where it is', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[shardIndexFor(`device-${i}`, 4)]++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
    expect(shardIndexFor('device-17', 4)).toBe(shardIndexFor('device-17', 4));
  });

  it('names shard 0 as the single shard was always named', () => {
    expect(shardName(0)).toBe('shard-0');
    expect(shardName(3)).toBe('shard-3');
  });
});

describe('BROKER_SHARDS', () => {
  it('defaults to 1', () => {
    expect(parseShardCount(undefined)).toBe(1);
    expect(parseShardCount('')).toBe(1);
    expect(parseShardCount(' 1 ')).toBe(1);
  });

  it('refuses what is not a positive integer', () => {
    for (const bad of ['0', '-1', '1.5', 'four', 'NaN', '65']) expect(() => parseShardCount(bad)).toThrow(ShardCountError);
  });

  it('accepts 1 to 64 shards and nothing more', () => {
    expect(parseShardCount('4')).toBe(4);
    expect(parseShardCount(64)).toBe(64);
    expect(() => parseShardCount('65')).toThrow(/from 1 to 64/);
  });
});
