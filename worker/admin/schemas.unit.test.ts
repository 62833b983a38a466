import { describe, expect, it } from 'vitest';
import { escapeLike, pageOf } from '../../db/queries/paging';
import { generateApiKey, hashApiKey, looksLikeApiKey } from './api-key-format';
import { booleanList, pageParams, parseTime } from './schemas';

describe('admin API parameter parsing', () => {
  it('parses ISO-8601 date-times and epoch milliseconds, and nothing looser', () => {
    expect(parseTime('2026-11-20T10:15:00Z')?.toISOString()).toBe('2026-11-20T10:15:00.000Z');
    expect(parseTime('2026-11-20T10:15:00.250+02:00')?.toISOString()).toBe('2026-11-20T08:15:00.250Z');
    expect(parseTime('2026-11-20')?.toISOString()).toBe('2026-11-20T00:00:00.000Z');
    expect(parseTime('1795000000000')?.getTime()).toBe(1_795_000_000_000);
    for (const bad of ['yesterday', 'Nov 20 2026', '2026-13-45T99:00:00Z', '', '12e3']) expect(parseTime(bad), bad).toBeNull();
  });

  it('reads boolean lists and bounds page sizes', () => {
    expect(booleanList.parse('true,false')).toEqual([true, false]);
    expect(booleanList.safeParse('true,yes').success).toBe(false);
    expect(pageParams.pageSize.parse(undefined)).toBe(50);
    expect(pageParams.pageSize.safeParse('501').success).toBe(false);
    expect(pageParams.page.parse('3')).toBe(3);
  });

  it('escapes LIKE wildcards and computes page totals', () => {
    expect(escapeLike('50%_off\\')).toBe('50\\%\\_off\\\\');
    expect(pageOf([1, 2], 5, 1, 2)).toEqual({ data: [1, 2], page: 1, pageSize: 2, totalElements: 5, totalPages: 3, hasNext: true });
    expect(pageOf([], 0, 0, 50)).toMatchObject({ totalPages: 0, hasNext: false });
  });
});

describe('API keys', () => {
  it('are 32 random bytes behind a recognisable prefix, stored as SHA-256 hex', async () => {
    const { key, prefix } = generateApiKey();
    expect(looksLikeApiKey(key)).toBe(true);
    expect(key.startsWith(prefix)).toBe(true);
    expect(prefix).toHaveLength(12);
    expect(generateApiKey().key).not.toBe(key);
    expect(looksLikeApiKey('eyJhbGciOiJIUzI1NiJ9.e30.x')).toBe(false);
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    expect(await hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });
});
