import { describe, expect, it } from 'vitest';
import { banScopeOf, prefixWords } from './ban-scope';
import { Blocklist, isValidBlockIp, parseCidr, type BlockEntry } from './blocklist';

const entry = (over: Partial<BlockEntry>): BlockEntry => ({ id: 'b1', kind: 'clientId', value: 'sn-000123', source: 'auto', ip: null, expiresAt: null, ...over });
const who = (ip: string, clientId = 'sn-000123') => ({ clientId, username: null, ip });

describe('banScopeOf', () => {
  it('makes an IPv6 address its /64, written one way however the address was', () => {
    expect(banScopeOf('2001:0DB8:0001:0002:abcd:1:2:3')).toEqual({ value: '2001:db8:1:2::/64', kind: 'cidr', words: 'this IPv6 /64' });
    expect(banScopeOf('2001:db8:1:2::ffff').value).toBe('2001:db8:1:2::/64');
    expect(banScopeOf('2001:db8::1').value).toBe('2001:db8::/64');
    expect(banScopeOf('2001:0:0:1::1').value).toBe('2001:0:0:1::/64');
    expect(banScopeOf('fe80::1').value).toBe('fe80::/64');
  });

  it('keeps IPv4 exact, and makes an IPv4-mapped address the IPv4 address it carries', () => {
    expect(banScopeOf('203.0.113.9')).toEqual({ value: '203.0.113.9', kind: 'ip', words: 'this IP' });
    expect(banScopeOf('::ffff:203.0.113.9').value).toBe('203.0.113.9');
    expect(banScopeOf('::FFFF:cb00:7109').value).toBe('203.0.113.9');
  });

  it('counts what is no address as it is', () => {
    expect(banScopeOf('unknown')).toEqual({ value: 'unknown', kind: 'ip', words: 'this IP' });
  });

  it('names an IPv6 /64 in words, and nothing else', () => {
    expect(prefixWords('2001:db8:1:2::/64')).toBe('this IPv6 /64');
    expect(prefixWords('2001:db8::/48')).toBeNull();
    expect(prefixWords('10.0.0.0/8')).toBeNull();
    expect(prefixWords('2001:db8::1')).toBeNull();
  });
});

describe('Blocklist client id entries scoped to a range', () => {
  it('blocks the client id from any address in its /64, and nowhere else', () => {
    const list = new Blocklist([entry({ ip: '2001:db8:1:2::/64' })]);
    expect(list.match(who('2001:db8:1:2:abcd::1'), 0)?.id).toBe('b1');
    expect(list.match(who('2001:db8:1:2::'), 0)?.id).toBe('b1');
    expect(list.match(who('2001:db8:1:3::1'), 0)).toBeNull();
    expect(list.match(who('203.0.113.9'), 0)).toBeNull();
    expect(list.match(who('unknown'), 0)).toBeNull();
    // Its neighbours in the /64 are not touched.
    expect(list.match(who('2001:db8:1:2:abcd::1', 'sn-000124'), 0)).toBeNull();
  });

  it('holds an IPv4 range too, and stops when it expires', () => {
    const list = new Blocklist([entry({ ip: '198.51.100.0/24', expiresAt: 1_000 })]);
    expect(list.match(who('198.51.100.66'), 999)?.id).toBe('b1');
    expect(list.match(who('::ffff:198.51.100.66'), 999)?.id).toBe('b1');
    expect(list.match(who('198.51.101.66'), 999)).toBeNull();
    expect(list.match(who('198.51.100.66'), 1_000)).toBeNull();
  });

  it('keeps an exact address exact', () => {
    const list = new Blocklist([entry({ ip: '2001:db8:1:2::5' })]);
    expect(list.match(who('2001:db8:1:2:0:0:0:5'), 0)?.id).toBe('b1');
    expect(list.match(who('2001:db8:1:2::6'), 0)).toBeNull();
  });

  it('blocks the whole /64 with an automatic cidr ban', () => {
    const list = new Blocklist([entry({ kind: 'cidr', value: '2001:db8:1:2::/64' })]);
    expect(list.match(who('2001:db8:1:2:ffff:ffff:ffff:ffff', 'anyone'), 0)?.id).toBe('b1');
    expect(list.match(who('2001:db8:1:3::', 'anyone'), 0)).toBeNull();
  });
});

describe('block values', () => {
  it('accepts an address, a range or unknown as the IP of a client id entry', () => {
    expect(['198.51.100.66', '2001:db8::1', '2001:db8:1:2::/64', '10.0.0.0/8', 'unknown'].map(isValidBlockIp)).toEqual([true, true, true, true, true]);
    expect(['2001:db8::/129', '10.0.0.0/', '10.0.0.0/x', 'example.org'].map(isValidBlockIp)).toEqual([false, false, false, false]);
  });

  it('reads addresses only in their written forms, as the platform reports them', () => {
    expect(['198.51.100.66', ' 198.51.100.66 ', '2001:DB8::1', '::', '::1', '2001:db8:0:0:0:0:0:1', '::ffff:198.51.100.66', '::FFFF:c633:6442'].map(isValidBlockIp)).toEqual(Array(8).fill(true));
    // Classful, octal and hex IPv4 would name another address than the one written (010 is 8 in octal).
    expect(['010.0.0.1', '0x7f.0.0.1', '127.1', '2130706433', '256.0.0.1', '1.2.3'].map(isValidBlockIp)).toEqual(Array(6).fill(false));
    // No zone, no group of more than four hex digits, no non-decimal IPv4 tail.
    expect(['fe80::1%eth0', '2001:db8:00001::1', '::ffff:0x7f.0.0.1', '::ffff:010.0.0.1', '1::2::3', 'g::1'].map(isValidBlockIp)).toEqual(Array(6).fill(false));
    // A dotted tail only as an IPv4-mapped address: the deprecated IPv4-compatible form is not read as one.
    expect(['::1.2.3.4', '::0.0.0.0/96', '64:ff9b::1.2.3.4', '1:2:3:4:5:6:1.2.3.4'].map(isValidBlockIp)).toEqual(Array(4).fill(false));
    expect(new Blocklist([entry({ ip: '::ffff:198.51.100.66' })]).match(who('198.51.100.66'), 0)?.id).toBe('b1');
  });

  it('reads an IPv4-mapped range as the IPv4 range it carries', () => {
    expect(parseCidr('::ffff:198.51.100.0/120')).toEqual(parseCidr('198.51.100.0/24'));
    expect(parseCidr('::ffff:0:0/96')).toEqual(parseCidr('0.0.0.0/0'));
  });
});
