import ipaddr from 'ipaddr.js';

/**
 * Blocked clients, checked before any authentication work so a blocked
 * device costs one map look-up. Entries come from D1 (operators) or from the
 * automatic ban after repeated failures; both expire on their own. A client
 * id entry may name an IP: it then blocks that client id from that IP only
 * (what the automatic ban makes, so that nobody can lock a device out by
 * failing with its client id from elsewhere); without one it blocks the
 * client id everywhere. The IP it names may be a CIDR range: the automatic
 * ban names an IPv6 client's /64 (auth/ban-scope.ts).
 */
export type BlockKind = 'clientId' | 'username' | 'ip' | 'cidr' | 'clientIdRegex' | 'usernameRegex';

export interface BlockEntry {
  id: string;
  kind: BlockKind;
  value: string;
  source: 'manual' | 'auto';
  /** clientId entries only: the IP or CIDR range the block applies to; absent or null, every IP. */
  ip?: string | null;
  /** Epoch ms; null never expires. */
  expiresAt: number | null;
}

interface Cidr {
  entry: BlockEntry;
  bits: bigint;
  mask: bigint;
  v6: boolean;
}

export class Blocklist {
  private readonly exact = new Map<string, BlockEntry>();
  private readonly cidrs: Cidr[] = [];
  /** clientId entries that name a CIDR range, by client id. */
  private readonly clientIdCidrs = new Map<string, Cidr[]>();
  private readonly regexes: Array<{ entry: BlockEntry; re: RegExp; field: 'clientId' | 'username' }> = [];
  /**
   * Exact entries keyed by an IP (`ip`, and client ids at one IP). Without
   * any, a CONNECT's address is not parsed at all: most shards block no one,
   * and parsing it was most of this check's cost on every connect.
   */
  private ipKeyedEntries = 0;

  constructor(entries: BlockEntry[] = []) {
    for (const e of entries) this.add(e);
  }

  add(entry: BlockEntry): void {
    switch (entry.kind) {
      case 'clientId': {
        if (!entry.ip?.includes('/')) {
          if (entry.ip) this.setIpKeyed(clientIdAtIpKey(entry.value, normalizeIp(entry.ip)), entry);
          else this.exact.set(`clientId\u0000${entry.value}`, entry);
          return;
        }
        const parsed = parseCidr(entry.ip);
        if (!parsed) return;
        const held = this.clientIdCidrs.get(entry.value);
        if (held) held.push({ entry, ...parsed });
        else this.clientIdCidrs.set(entry.value, [{ entry, ...parsed }]);
        return;
      }
      case 'username':
        this.exact.set(`username\u0000${entry.value}`, entry);
        return;
      case 'ip':
        this.setIpKeyed(`ip\u0000${normalizeIp(entry.value)}`, entry);
        return;
      case 'cidr': {
        const parsed = parseCidr(entry.value);
        if (parsed) this.cidrs.push({ entry, ...parsed });
        return;
      }
      case 'clientIdRegex':
      case 'usernameRegex': {
        const re = compileAnchored(entry.value);
        if (re) this.regexes.push({ entry, re, field: entry.kind === 'clientIdRegex' ? 'clientId' : 'username' });
        return;
      }
    }
  }

  private setIpKeyed(key: string, entry: BlockEntry): void {
    if (!this.exact.has(key)) this.ipKeyedEntries++;
    this.exact.set(key, entry);
  }

  /** The first active entry that blocks this attempt, or null. */
  match(who: { clientId: string; username: string | null; ip: string }, now: number): BlockEntry | null {
    const active = (e: BlockEntry | undefined) => (e && (e.expiresAt === null || e.expiresAt > now) ? e : null);
    const ip = this.ipKeyedEntries > 0 ? normalizeIp(who.ip) : null;
    const hit =
      active(this.exact.get(`clientId\u0000${who.clientId}`)) ??
      (ip !== null ? active(this.exact.get(clientIdAtIpKey(who.clientId, ip))) : null) ??
      (who.username !== null ? active(this.exact.get(`username\u0000${who.username}`)) : null) ??
      (ip !== null ? active(this.exact.get(`ip\u0000${ip}`)) : null);
    if (hit) return hit;
    const atPrefix = this.clientIdCidrs.get(who.clientId);
    if (this.cidrs.length > 0 || atPrefix) {
      const addr = parseIp(who.ip);
      const within = (c: Cidr) => addr !== null && c.v6 === addr.v6 && (addr.bits & c.mask) === c.bits && active(c.entry) !== null;
      const found = atPrefix?.find(within) ?? this.cidrs.find(within);
      if (found) return found.entry;
    }
    for (const r of this.regexes) {
      const value = r.field === 'clientId' ? who.clientId : who.username;
      if (value !== null && r.re.test(value) && active(r.entry)) return r.entry;
    }
    return null;
  }
}

/** The key of a client id entry at one IP, given that IP normalized. */
function clientIdAtIpKey(clientId: string, normalizedIp: string): string {
  return `clientIdAtIp\u0000${normalizedIp}\u0000${clientId}`;
}

/** Operator regexes match the whole value; an invalid one blocks nothing rather than everything. */
function compileAnchored(source: string): RegExp | null {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch {
    return null;
  }
}

function normalizeIp(ip: string): string {
  const parsed = parseIp(ip);
  if (!parsed) return ip.trim().toLowerCase();
  return `${parsed.v6 ? 6 : 4}:${parsed.bits.toString(16)}`;
}

/**
 * An address as bits: IPv4 in 32, IPv6 in 128. An IPv4-mapped IPv6 address
 * (`::ffff:192.0.2.1`, also written in hex) is the IPv4 address it carries:
 * the same client. Null for anything that is no address.
 */
export function parseIp(ip: string): { bits: bigint; v6: boolean } | null {
  const address = parseAddress(ip.trim());
  if (!address) return null;
  if (address.kind() === 'ipv4') return { bits: bitsOf(address.toByteArray()), v6: false };
  const v6 = address as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return { bits: bitsOf(v6.toIPv4Address().toByteArray()), v6: false };
  return { bits: bitsOf(v6.toByteArray()), v6: true };
}

/**
 * Parsed by ipaddr.js, in the written forms only: dotted-quad decimal IPv4,
 * and IPv6 of up to four hex digits a group, without a zone. ipaddr.js also
 * reads classful, hex and octal IPv4 (`127.1`, `0x7f.0.0.1`, `010.0.0.1` as
 * 8.0.0.1), which an operator's block entry must not come to mean by surprise.
 */
function parseAddress(s: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (!/^[0-9a-f:.]+$/i.test(s) || !ipaddr.IPv6.isValid(s)) return null;
  const groups = s.split(':');
  const last = groups[groups.length - 1];
  // A dotted tail only as the platform writes an IPv4-mapped address: ipaddr.js would also read the
  // deprecated IPv4-compatible `::192.0.2.1` as mapped, and `::0.0.0.0/96` as all of IPv4.
  if (last.includes('.') ? !/^::ffff:/i.test(s) || groups.length !== 4 || !ipaddr.IPv4.isValidFourPartDecimal(last) : last.length > 4) return null;
  if (groups.some((g) => g.length > 4 && !g.includes('.'))) return null;
  return ipaddr.IPv6.parse(s);
}

function bitsOf(bytes: number[]): bigint {
  let bits = 0n;
  for (const b of bytes) bits = (bits << 8n) | BigInt(b);
  return bits;
}

export function parseCidr(value: string): { bits: bigint; mask: bigint; v6: boolean } | null {
  const [addr, prefixText] = value.trim().split('/');
  const ip = parseIp(addr);
  if (!ip) return null;
  const width = ip.v6 ? 128 : 32;
  // An IPv4-mapped range (`::ffff:192.0.2.0/120`) is the IPv4 range it carries.
  const mapped = !ip.v6 && addr.includes(':') ? 96 : 0;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = prefixText === undefined ? width : Number(prefixText) - mapped;
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > width) return null;
  const all = (1n << BigInt(width)) - 1n;
  const mask = prefix === 0 ? 0n : (all >> BigInt(width - prefix)) << BigInt(width - prefix);
  return { bits: ip.bits & mask, mask, v6: ip.v6 };
}

/**
 * The IP a client id entry is scoped to: an address, a CIDR range (the
 * automatic ban names an IPv6 client's /64), or `unknown`, what the edge
 * records when the platform named none.
 */
export function isValidBlockIp(ip: string): boolean {
  return ip === 'unknown' || (ip.includes('/') ? parseCidr(ip) !== null : parseIp(ip) !== null);
}

/** What is wrong with the IP a block entry names, or null: the admin API's and the configuration import's one rule. */
export function blockIpProblem(kind: BlockKind, ip: string | null | undefined): string | null {
  if (ip === null || ip === undefined) return null;
  if (kind !== 'clientId') return 'only a clientId block can name an IP';
  return isValidBlockIp(ip) ? null : 'must be an IP address, a CIDR range or unknown';
}

export function isValidBlockValue(kind: BlockKind, value: string): boolean {
  switch (kind) {
    case 'ip':
      return parseIp(value) !== null;
    case 'cidr':
      return parseCidr(value) !== null;
    case 'clientIdRegex':
    case 'usernameRegex':
      return compileAnchored(value) !== null;
    default:
      return value.length > 0;
  }
}
