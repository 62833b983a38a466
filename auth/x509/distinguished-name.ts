import { AsnParser } from '@peculiar/asn1-schema';
import { AttributeValue, type Name } from '@peculiar/asn1-x509';

/**
 * Distinguished names as the platform, proxies, CRLs and operators write
 * them: RFC 2253 / RFC 4514 strings ("CN=dev-1,O=Acme"), OpenSSL's legacy
 * slash form ("/C=US/CN=dev-1"), and ASN.1 Names from DER. All three become
 * one structure, so a DN typed by an operator compares equal to the issuer
 * read from a certificate whatever spacing, case or escaping each used.
 */

export interface DnAttribute {
  /** The short name when one is known (CN, O, OU...), else the dotted OID. */
  type: string;
  /** The value with all escaping undone; for a value that is not a string, `#` and the hex of its DER. */
  value: string;
  /** Set when `value` is `#<hex DER>` rather than text. */
  der?: true;
}

/** One RDN; several attributes only for multi-valued RDNs ("CN=a+UID=b"). */
export type Rdn = DnAttribute[];

/** RDNs in RFC 2253 order: the most specific (usually CN) first, the reverse of the DER encoding. */
export interface DistinguishedName {
  rdns: Rdn[];
}

export const MAX_DN_LENGTH = 4096;
const ENCODER = new TextEncoder();
const MAX_RDNS = 64;

const NAMES_BY_OID: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.9': 'street',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'title',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.42': 'GN',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '0.9.2342.19200300.100.1.1': 'UID',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** Spellings seen in the wild for the same attribute, folded to one key for comparison. */
const ALIASES: Record<string, string> = {
  commonname: 'cn',
  countryname: 'c',
  localityname: 'l',
  s: 'st',
  stateorprovincename: 'st',
  streetaddress: 'street',
  organizationname: 'o',
  organizationalunitname: 'ou',
  surname: 'sn',
  givenname: 'gn',
  userid: 'uid',
  domaincomponent: 'dc',
  e: 'emailaddress',
  email: 'emailaddress',
};

const CANONICAL_BY_OID: Record<string, string> = Object.fromEntries(Object.entries(NAMES_BY_OID).map(([oid, name]) => [oid, name.toLowerCase()]));

function canonicalType(type: string): string {
  const t = type.replace(/^oid\./i, '').toLowerCase();
  return CANONICAL_BY_OID[t] ?? ALIASES[t] ?? t;
}

// ---------------------------------------------------------------------------
// RFC 2253 / RFC 4514 strings

/**
 * Parses an RFC 2253 DN. Accepts what real producers emit beyond the strict
 * grammar: spaces around separators and "=", ";" as RDN separator, quoted
 * values (RFC 1779) and "OID." prefixes. Returns null for anything else.
 */
export function parseRfc2253(dn: string): DistinguishedName | null {
  if (typeof dn !== 'string' || dn.length > MAX_DN_LENGTH) return null;
  const rdns: Rdn[] = [];
  let i = 0;
  const n = dn.length;
  const skipSpaces = () => {
    while (i < n && dn[i] === ' ') i++;
  };
  skipSpaces();
  if (i === n) return { rdns };
  let rdn: Rdn = [];
  for (;;) {
    skipSpaces();
    const typeMatch = /^(?:(?:oid\.|OID\.)?\d+(?:\.\d+)+|[A-Za-z][A-Za-z0-9-]*)/.exec(dn.slice(i, i + 256));
    if (!typeMatch) return null;
    const type = typeMatch[0].replace(/^oid\./i, '');
    i += typeMatch[0].length;
    skipSpaces();
    if (dn[i] !== '=') return null;
    i++;
    skipSpaces();
    const value = readValue();
    if (value === null) return null;
    rdn.push({ type: displayType(type), ...value });
    skipSpaces();
    if (i === n) break;
    const sep = dn[i++];
    if (sep === '+') continue;
    if (sep !== ',' && sep !== ';') return null;
    rdns.push(rdn);
    rdn = [];
    if (rdns.length >= MAX_RDNS) return null;
  }
  rdns.push(rdn);
  return { rdns };

  function readValue(): { value: string; der?: true } | null {
    if (dn[i] === '#') {
      const hex = /^#((?:[0-9A-Fa-f]{2})+)/.exec(dn.slice(i, i + MAX_DN_LENGTH));
      if (!hex) return null;
      i += hex[0].length;
      return decodeHexValue(hex[1]);
    }
    if (dn[i] === '"') {
      i++;
      const bytes: number[] = [];
      while (i < n && dn[i] !== '"') {
        if (!readChar(bytes)) return null;
      }
      if (dn[i] !== '"') return null;
      i++;
      return text(bytes);
    }
    const bytes: number[] = [];
    // Unescaped trailing spaces are not part of the value; escaped ones are.
    let keep = 0;
    while (i < n && !',;+'.includes(dn[i])) {
      const escaped = dn[i] === '\\';
      if (!readChar(bytes)) return null;
      if (escaped || bytes[bytes.length - 1] !== 0x20) keep = bytes.length;
    }
    return text(bytes.slice(0, keep));
  }

  function text(bytes: number[]): { value: string } | null {
    const value = utf8(bytes);
    return value === null ? null : { value };
  }

  function readChar(bytes: number[]): boolean {
    if (dn[i] === '\\') {
      const pair = /^[0-9A-Fa-f]{2}/.exec(dn.slice(i + 1, i + 3));
      if (pair) {
        bytes.push(parseInt(pair[0], 16));
        i += 3;
        return true;
      }
      const c = dn[i + 1];
      if (c === undefined) return false;
      i += 1;
    }
    const cp = dn.codePointAt(i)!;
    i += cp > 0xffff ? 2 : 1;
    for (const b of ENCODER.encode(String.fromCodePoint(cp))) bytes.push(b);
    return true;
  }
}

/**
 * OpenSSL's legacy one-line form, "/C=US/O=Acme/CN=dev-1", most general
 * first. Bytes outside printable ASCII appear as "\xC3\xA9"; OpenSSL 3
 * escapes "/" and "+" (not "\\") with a backslash, older versions did not,
 * so a piece without "=" is also taken as the rest of the previous value.
 */
export function parseLegacyDn(dn: string): DistinguishedName | null {
  if (typeof dn !== 'string' || dn.length > MAX_DN_LENGTH || !dn.startsWith('/')) return null;
  const pieces: number[][] = [];
  let bytes: number[] = [];
  for (let i = 1; i < dn.length; ) {
    const c = dn[i];
    if (c === '\\') {
      const hexByte = /^[xX]([0-9A-Fa-f]{2})/.exec(dn.slice(i + 1, i + 4));
      if (hexByte) {
        bytes.push(parseInt(hexByte[1], 16));
        i += 4;
        continue;
      }
      const next = dn[i + 1];
      // An escaped "/" or "=" is part of the value: marked so it is neither separator nor "=".
      if (next === '/' || next === '=' || next === '+') {
        bytes.push(next === '/' ? ESCAPED_SLASH : next === '=' ? ESCAPED_EQUALS : 0x2b);
        i += 2;
        continue;
      }
      // OpenSSL does not escape a backslash itself.
      bytes.push(0x5c);
      i++;
      continue;
    }
    if (c === '/') {
      pieces.push(bytes);
      bytes = [];
      i++;
      continue;
    }
    const cp = dn.codePointAt(i)!;
    pushUtf8(bytes, String.fromCodePoint(cp));
    i += cp > 0xffff ? 2 : 1;
  }
  pieces.push(bytes);

  const rdns: Rdn[] = [];
  for (const piece of pieces) {
    const eq = piece.indexOf(0x3d);
    const type = eq > 0 ? String.fromCharCode(...piece.slice(0, eq)).trim() : '';
    const restore = (b: number[]) => b.flatMap((x) => (x === ESCAPED_SLASH ? [0x2f] : x === ESCAPED_EQUALS ? [0x3d] : [x]));
    if (!/^(?:[A-Za-z][A-Za-z0-9-]*|\d+(?:\.\d+)+)$/.test(type)) {
      const last = rdns[rdns.length - 1];
      const rest = utf8(restore(piece));
      if (!last || rest === null) return null;
      last[0].value += `/${rest}`;
      continue;
    }
    const value = utf8(restore(piece.slice(eq + 1)));
    if (value === null) return null;
    rdns.push([{ type: displayType(type), value }]);
    if (rdns.length > MAX_RDNS) return null;
  }
  return { rdns: rdns.reverse() };
}

// Out-of-byte-range markers for escaped characters while scanning.
const ESCAPED_SLASH = 0x1002f;
const ESCAPED_EQUALS = 0x1003d;

function pushUtf8(bytes: number[], text: string): void {
  for (const b of ENCODER.encode(text)) bytes.push(b);
}

/** Either form: a leading "/" means the legacy one. */
export function parseDistinguishedName(dn: string): DistinguishedName | null {
  if (typeof dn !== 'string') return null;
  return dn.trimStart().startsWith('/') ? parseLegacyDn(dn.trimStart()) : parseRfc2253(dn);
}

/** An ASN.1 Name from a certificate or CRL. */
export function dnFromAsn1(name: Name): DistinguishedName {
  const rdns: Rdn[] = [];
  for (const rdn of name) {
    rdns.push(rdn.map((atv) => ({ type: NAMES_BY_OID[atv.type] ?? atv.type, ...attributeValueText(atv.value) })));
  }
  return { rdns: rdns.reverse() };
}

function attributeValueText(value: AttributeValue): { value: string; der?: true } {
  if (value.anyValue) return { value: `#${hex(new Uint8Array(value.anyValue))}`, der: true };
  return { value: value.toString() };
}

function displayType(type: string): string {
  const t = type.replace(/^oid\./i, '');
  return NAMES_BY_OID[t] ?? t;
}

function decodeHexValue(hexDigits: string): { value: string; der?: true } {
  const bytes = new Uint8Array(hexDigits.length / 2);
  for (let k = 0; k < bytes.length; k++) bytes[k] = parseInt(hexDigits.slice(k * 2, k * 2 + 2), 16);
  try {
    const parsed = AsnParser.parse(bytes, AttributeValue);
    if (!parsed.anyValue) return { value: parsed.toString() };
  } catch {
    // Not a string type: keep the encoding, as RFC 2253 does.
  }
  return { value: `#${hexDigits.toLowerCase()}`, der: true };
}

function utf8(bytes: number[]): string | null {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(new Uint8Array(bytes));
  } catch {
    return null;
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// ---------------------------------------------------------------------------
// Reading and writing

/**
 * The Common Name. With several CNs, the first in encoding order (the last
 * in RFC 2253 order), which is the one OpenSSL-based brokers such as
 * mosquitto and TBMQ take.
 */
export function commonName(dn: DistinguishedName | null): string | null {
  if (!dn) return null;
  for (let r = dn.rdns.length - 1; r >= 0; r--) {
    for (const a of dn.rdns[r]) {
      // An empty CN names nobody, and a value kept as DER is not a name.
      if (canonicalType(a.type) === 'cn' && a.value !== '' && !a.der) return a.value;
    }
  }
  return null;
}

/** RFC 4514 text (the platform's certSubjectDNRFC2253 style): "CN=dev-1,O=Acme". */
export function formatRfc2253(dn: DistinguishedName): string {
  return dn.rdns.map((rdn) => rdn.map((a) => `${a.type}=${a.der ? a.value : escapeValue(a.value)}`).join('+')).join(',');
}

function escapeValue(value: string): string {
  let out = value.replace(/[\\"+,;<>\u0000]/g, (c) => (c === '\u0000' ? '\\00' : `\\${c}`));
  if (out.startsWith('#') || out.startsWith(' ')) out = `\\${out}`;
  if (out.endsWith(' ') && !out.endsWith('\\ ')) out = `${out.slice(0, -1)}\\ `;
  return out;
}

/**
 * A form in which two spellings of the same DN are equal: attribute types
 * folded to one name, values trimmed, inner whitespace collapsed and
 * case-folded (X.520 caseIgnoreMatch), multi-valued RDNs sorted.
 */
export function canonicalDn(dn: DistinguishedName): string {
  return dn.rdns
    .map((rdn) =>
      rdn
        .map((a) => `${canonicalType(a.type)}=${a.der ? a.value : canonicalValue(a.value)}`)
        .sort()
        .join('+'),
    )
    .join(',');
}

function canonicalValue(value: string): string {
  // Escaped so that no value can imitate a separator or a DER value.
  return value.trim().replace(/\s+/g, ' ').toLowerCase().replace(/[\\,+=#]/g, (c) => `\\${c}`);
}

/** Canonical form of a DN string in either syntax, or null when it cannot be parsed. */
export function canonicalDnString(dn: string): string | null {
  const parsed = parseDistinguishedName(dn);
  return parsed ? canonicalDn(parsed) : null;
}

/** True when both strings name the same DN. Unparseable input never matches. */
export function sameDn(a: string, b: string): boolean {
  const ca = canonicalDnString(a);
  return ca !== null && ca === canonicalDnString(b);
}
