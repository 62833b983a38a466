import { describe, expect, it } from 'vitest';
import { SharedGroupCursors } from './shared-group-cursors';

describe('SharedGroupCursors', () => {
  it('keeps each group its position, and past the bound forgets the least recently served one first', () => {
    const cursors = new SharedGroupCursors(2);
    expect(cursors.get('$share/a/t')).toBe(0);
    cursors.set('$share/a/t', 1);
    cursors.set('$share/b/t', 5);
    // a is served again, so b is now the least recently served.
    cursors.set('$share/a/t', 2);
    cursors.set('$share/c/t', 7);
    expect(cursors.size).toBe(2);
    expect(['a', 'b', 'c'].map((g) => cursors.get(`$share/${g}/t`))).toEqual([2, 0, 7]);
  });

  it('stays within its bound however many groups come and go', () => {
    const cursors = new SharedGroupCursors(100);
    for (let i = 0; i < 10_000; i++) cursors.set(`$share/request-${i}/reply`, 1);
    expect(cursors.size).toBe(100);
  });
});
