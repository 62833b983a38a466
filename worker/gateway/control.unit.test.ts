import { describe, expect, it } from 'vitest';
import { decodeControl, encodeControl } from './control';

describe('gateway control messages', () => {
  it('round-trips what the gateway sends', () => {
    expect(decodeControl(encodeControl({ type: 'keepalive-expired' }))).toEqual({ type: 'keepalive-expired' });
    expect(decodeControl(encodeControl({ type: 'violation', reasonCode: 0x95, reason: 'too big' }))).toEqual({
      type: 'violation',
      reasonCode: 0x95,
      reason: 'too big',
    });
  });

  it('recognises nothing else', () => {
    for (const text of ['', 'hello', '{}', '[]', 'null', '{"type":"violation","reasonCode":"x","reason":"r"}', '{"type":"shutdown"}']) {
      expect(decodeControl(text)).toBeNull();
    }
  });
});
