import { describe, expect, it } from 'vitest';
import { aclDefaultPolicy } from './default-policy';

describe('aclDefaultPolicy', () => {
  it('takes the stored setting over the var, and the var when nothing is stored', () => {
    expect(aclDefaultPolicy([], 'allow')).toBe('allow');
    expect(aclDefaultPolicy([{ key: 'autoBan', value: {} }], 'deny')).toBe('deny');
    expect(aclDefaultPolicy([{ key: 'aclDefaultPolicy', value: 'deny' }], 'allow')).toBe('deny');
    expect(aclDefaultPolicy([{ key: 'aclDefaultPolicy', value: 'allow' }], 'deny')).toBe('allow');
  });

  it('denies on a stored value that does not validate', () => {
    expect(aclDefaultPolicy([{ key: 'aclDefaultPolicy', value: 'open' }], 'allow')).toBe('deny');
  });
});
