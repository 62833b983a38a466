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
  return [24n, 16n, 8n, 0n].map((shift) => String((bits >> shift) & 0xffn)).join('.');
}

/** RFC 5952: lower case, no leading zeros, the longest run of two or more zero groups (the first of equals) as `::`. */
function formatIpv6(bits: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((bits >> BigInt(16 * (7 - i))) & 0xffffn));
  let best = { start: -1, length: 1 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let end = i;
    while (end < 8 && groups[end] === 0) end++;
    if (end - i > best.length) best = { start: i, length: end - i };
    i = end;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.start < 0) return hex.join(':');
  return `${hex.slice(0, best.start).join(':')}::${hex.slice(best.start + best.length).join(':')}`;
}
