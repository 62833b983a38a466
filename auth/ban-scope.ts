import ipaddr from 'ipaddr.js';
import { parseCidr, parseIp } from './blocklist';

/**
 * What the automatic bans count failures by and ban, for a client's IP.
 *
 * An IPv4 address is itself: behind carrier-grade NAT it is already shared
 * by many devices, and nothing wider is banned. An IPv6 address is its /64:
 * a subscriber is given a whole /64 (a home network, each cellular device),
 * so an attacker has addresses enough inside it to take a new one for every
 * attempt, and only the /64 bounds what one subscriber controls. An
 * IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the IPv4 address it
 * carries. Anything that is no address (`unknown`) is counted as it is.
 */
export interface BanScope {
  /** The address, or the /64 in canonical form (`2001:db8:1:2::/64`): the key counts are kept under, and the value a ban names. */
  value: string;
  /** How the blocklist holds an IP-wide ban of it. */
  kind: 'ip' | 'cidr';
  /** The scope in words, for ban descriptions: "this IP" or "this IPv6 /64". */
  words: string;
}

export const IPV6_BAN_PREFIX = 64;

export function banScopeOf(ip: string): BanScope {
  const parsed = parseIp(ip);
  if (!parsed) return { value: ip, kind: 'ip', words: 'this IP' };
  if (!parsed.v6) return { value: formatIpv4(parsed.bits), kind: 'ip', words: 'this IP' };
  const hostBits = BigInt(128 - IPV6_BAN_PREFIX);
  const prefix = (parsed.bits >> hostBits) << hostBits;
  return { value: `${formatIpv6(prefix)}/${IPV6_BAN_PREFIX}`, kind: 'cidr', words: `this IPv6 /${IPV6_BAN_PREFIX}` };
}

/** "this IPv6 /64" for a range that is one (what an IPv6 ban names), or null: for refusal details. */
export function prefixWords(range: string): string | null {
  const parsed = range.includes('/') ? parseCidr(range) : null;
  const mask = ((1n << BigInt(IPV6_BAN_PREFIX)) - 1n) << BigInt(128 - IPV6_BAN_PREFIX);
  return parsed?.v6 && parsed.mask === mask ? `this IPv6 /${IPV6_BAN_PREFIX}` : null;
}

function formatIpv4(bits: bigint): string {
  return ipaddr.fromByteArray(bytesOf(bits, 4)).toString();
}

/** RFC 5952: lower case, no leading zeros, the longest run of zero groups as `::`. */
function formatIpv6(bits: bigint): string {
  return (ipaddr.fromByteArray(bytesOf(bits, 16)) as ipaddr.IPv6).toRFC5952String();
}

function bytesOf(bits: bigint, length: number): number[] {
  return Array.from({ length }, (_, i) => Number((bits >> BigInt(8 * (length - 1 - i))) & 0xffn));
}
