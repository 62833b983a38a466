import { describe, expect, it } from 'vitest';
import { aclDenialLimit } from './denial-limit';

describe('aclDenialLimit', () => {
  it('takes the stored setting over the var, 0 included', () => {
    expect(aclDenialLimit([{ key: 'aclDenialsBeforeDisconnect', value: 3 }], 10)).toBe(3);
    expect(aclDenialLimit([{ key: 'silentRefusal', value: true }, { key: 'aclDenialsBeforeDisconnect', value: 0 }], 10)).toBe(0);
  });

  it('falls back to the var when nothing is stored', () => {
    expect(aclDenialLimit([], 7)).toBe(7);
    expect(aclDenialLimit([{ key: 'silentRefusal', value: true }], 0)).toBe(0);
  });

  it('ignores a stored value that does not validate instead of switching the limit off', () => {
    for (const value of [-1, 1.5, '3', null, 2_000_000]) {
      expect(aclDenialLimit([{ key: 'aclDenialsBeforeDisconnect', value }], 4)).toBe(4);
    }
  });
});
