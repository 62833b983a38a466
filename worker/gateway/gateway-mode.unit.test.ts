import { describe, expect, it } from 'vitest';
import { GatewayModeError, parseGatewayMode } from './gateway-mode';

describe('BROKER_GATEWAY', () => {
  it('relays through the edge gateway unless told otherwise', () => {
    expect(parseGatewayMode(undefined, undefined)).toBe('relay');
    expect(parseGatewayMode('', '16')).toBe('relay');
    expect(parseGatewayMode('relay', '4')).toBe('relay');
  });

  it('goes direct only to a single shard', () => {
    expect(parseGatewayMode('direct', '1')).toBe('direct');
    expect(parseGatewayMode(' Direct ', undefined)).toBe('direct');
    // Several shards: the shard of a client id is known only from its CONNECT, which the upgrade does not carry.
    expect(() => parseGatewayMode('direct', '4')).toThrow(GatewayModeError);
    expect(() => parseGatewayMode('direct', '4')).toThrow(/needs BROKER_SHARDS=1/);
  });

  it('refuses anything else rather than guess', () => {
    for (const bad of ['on', 'off', 'edge', 'true', 'directly']) expect(() => parseGatewayMode(bad, '1')).toThrow(GatewayModeError);
  });
});
