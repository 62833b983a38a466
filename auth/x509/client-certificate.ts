import { decodeCertificate } from './der';
import { commonName, dnFromAsn1, formatRfc2253, parseDistinguishedName, type DistinguishedName } from './distinguished-name';
import { normalizeFingerprint, normalizeSerial, serialFromBytes, sha256Fingerprint } from './identifiers';

/**
 * The client certificate of one connection, read from what the platform puts
 * in `request.cf.tlsClientAuth` (every value a string, "0" included) or from
 * RFC 9440 Client-Cert / Client-Cert-Chain headers set by a trusted
 * TLS-terminating proxy. Certificates are decoded from DER when the RFC 9440
 * fields carry them; otherwise the leaf is described from the DN strings.
 * Nothing here throws on hostile input: a bad value is a parse error.
 */

export interface ChainCertificate {
  /** RFC 2253 ("CN=dev-1,O=Acme"). */
  subjectDN: string;
  cn: string | null;
  issuerDN: string;
  /** Upper-case hex, no separators or leading zeros; null when unknown. */
  serial: string | null;
  /** Lower-case hex SHA-256 of the DER; null when unknown. */
  fingerprintSHA256: string | null;
  /** Milliseconds since the epoch; null when unknown. */
  notBefore: number | null;
  notAfter: number | null;
  /** The certificate itself, for checking who issued it; null when described from the DN strings only. */
  der: Uint8Array | null;
}

export type VerificationStatus = 'SUCCESS' | 'NONE' | 'FAILED';

/** What the platform (or proxy) says about the handshake, read before any certificate is decoded. */
export interface CertificateStatus {
  presented: boolean;
  verification: VerificationStatus;
  /** The text after "FAILED:", or null. */
  verificationFailure: string | null;
  /** The platform's own revocation check (only for certificates of its managed CA). */
  revokedByPlatform: boolean;
}

export interface ClientCertificate extends CertificateStatus, ChainCertificate {
  /**
   * Leaf first, then the intermediates in the order the client sent them, as
   * sent: nobody has checked that they issued the leaf (see issuer-path.ts).
   * Empty when nothing was presented.
   */
  chain: ChainCertificate[];
  /** 'der': decoded from RFC 9440 data; 'dn': leaf described from the DN strings only; 'none': nothing presented. */
  detail: 'der' | 'dn' | 'none';
  /** False when intermediates may be missing (the platform dropped a chain over its size limit). */
  chainComplete: boolean;
}

export type ClientCertificateResult =
  | { ok: true; certificate: ClientCertificate }
  /** `status` is set when the status fields were readable and only the certificate data was not. */
  | { ok: false; error: string; status?: CertificateStatus };

export interface ReadOptions {
  /** Most certificates accepted in leaf + intermediates. */
  maxChainLength?: number;
  /** Longest accepted field value, in characters. */
  maxFieldLength?: number;
}

/** The platform's limits are 10 KiB for the leaf and 16 KiB for the chain, encoded. */
export const DEFAULT_MAX_FIELD_LENGTH = 16_384;
export const DEFAULT_MAX_CHAIN_LENGTH = 10;

const NOT_PRESENTED: ClientCertificate = {
  presented: false,
  verification: 'NONE',
  verificationFailure: null,
  revokedByPlatform: false,
  subjectDN: '',
  cn: null,
  issuerDN: '',
  serial: null,
  fingerprintSHA256: null,
  notBefore: null,
  notAfter: null,
  der: null,
  chain: [],
  detail: 'none',
  chainComplete: true,
};

export async function readClientCertificate(tlsClientAuth: unknown, options: ReadOptions = {}): Promise<ClientCertificateResult> {
  const limits = limitsOf(options);
  if (tlsClientAuth === null || typeof tlsClientAuth !== 'object' || Array.isArray(tlsClientAuth)) {
    return { ok: false, error: 'tlsClientAuth is not an object' };
  }
  const fields = tlsClientAuth as Record<string, unknown>;
  const field = (name: string): string | Error => {
    const v = fields[name];
    if (v === undefined || v === null) return '';
    // The type definitions once described the *TooLarge flags as booleans.
    if (typeof v === 'boolean') return v ? '1' : '0';
    if (typeof v !== 'string') return new Error(`${name} is not a string`);
    if (v.length > limits.maxFieldLength) return new Error(`${name} is longer than ${limits.maxFieldLength} characters`);
    return v;
  };
  const read: Record<string, string> = {};
  for (const name of FIELDS) {
    const v = field(name);
    if (v instanceof Error) return { ok: false, error: v.message };
    read[name] = v;
  }

  const status = readStatus(read);
  if ('error' in status) return { ok: false, error: status.error };
  if (!status.presented) return { ok: true, certificate: { ...NOT_PRESENTED, ...status } };

  const tooLarge = (v: string) => v === '1' || v.toLowerCase() === 'true';
  let intermediates: ChainCertificate[] = [];
  if (read.certChainRFC9440 !== '') {
    const parsed = await parseCertificateList(read.certChainRFC9440, 'certChainRFC9440', limits.maxChainLength - 1);
    if (!parsed.ok) return { ok: false, error: parsed.error, status };
    intermediates = parsed.value;
  }
  const chainComplete = !tooLarge(read.certChainRFC9440TooLarge);

  if (read.certRFC9440 !== '') {
    const leaf = await parseCertificateItem(read.certRFC9440, 'certRFC9440');
    if (!leaf.ok) return { ok: false, error: leaf.error, status };
    return { ok: true, certificate: { ...status, ...leaf.value, chain: [leaf.value, ...intermediates], detail: 'der', chainComplete } };
  }

  // The leaf was over the platform's size limit (or the field is absent): describe it from the DN strings.
  const leaf = leafFromStrings(read);
  if (!leaf.ok) return { ok: false, error: leaf.error, status };
  return { ok: true, certificate: { ...status, ...leaf.value, chain: [leaf.value, ...intermediates], detail: 'dn', chainComplete } };
}

/**
 * RFC 9440 headers from a TLS-terminating proxy the deployment trusts. The
 * proxy terminated the handshake and vouches for the certificate, so it
 * counts as verified; only a proxy named in configuration may be believed.
 */
export async function readForwardedClientCertificate(
  headers: { cert: string; chain: string | null },
  options: ReadOptions = {},
): Promise<ClientCertificateResult> {
  const limits = limitsOf(options);
  const status: CertificateStatus = { presented: true, verification: 'SUCCESS', verificationFailure: null, revokedByPlatform: false };
  if (headers === null || typeof headers !== 'object' || typeof headers.cert !== 'string') return { ok: false, error: 'Client-Cert is missing' };
  const chainText = typeof headers.chain === 'string' ? headers.chain : '';
  for (const [name, v] of [['Client-Cert', headers.cert], ['Client-Cert-Chain', chainText]] as const) {
    if (v.length > limits.maxFieldLength) return { ok: false, error: `${name} is longer than ${limits.maxFieldLength} characters`, status };
  }
  if (headers.cert.trim() === '') return { ok: false, error: 'Client-Cert is empty', status };
  const leaf = await parseCertificateItem(headers.cert, 'Client-Cert');
  if (!leaf.ok) return { ok: false, error: leaf.error, status };
  let intermediates: ChainCertificate[] = [];
  if (chainText.trim() !== '') {
    const parsed = await parseCertificateList(chainText, 'Client-Cert-Chain', limits.maxChainLength - 1);
    if (!parsed.ok) return { ok: false, error: parsed.error, status };
    intermediates = parsed.value;
  }
  return { ok: true, certificate: { ...status, ...leaf.value, chain: [leaf.value, ...intermediates], detail: 'der', chainComplete: true } };
}

const FIELDS = [
  'certPresented',
  'certVerified',
  'certRevoked',
  'certSubjectDN',
  'certIssuerDN',
  'certSubjectDNRFC2253',
  'certIssuerDNRFC2253',
  'certSubjectDNLegacy',
  'certIssuerDNLegacy',
  'certSerial',
  'certFingerprintSHA256',
  'certNotBefore',
  'certNotAfter',
  'certRFC9440',
  'certRFC9440TooLarge',
  'certChainRFC9440',
  'certChainRFC9440TooLarge',
] as const;

function limitsOf(options: ReadOptions): Required<ReadOptions> {
  return {
    maxChainLength: Math.max(1, options.maxChainLength ?? DEFAULT_MAX_CHAIN_LENGTH),
    maxFieldLength: Math.max(0, options.maxFieldLength ?? DEFAULT_MAX_FIELD_LENGTH),
  };
}

function readStatus(read: Record<string, string>): CertificateStatus | { error: string } {
  // Every value is a string, and "0" is truthy: compare, never test truthiness.
  const presented = read.certPresented;
  if (presented !== '1' && presented !== '0' && presented !== '') return { error: `certPresented is ${JSON.stringify(presented.slice(0, 32))}` };
  const revoked = read.certRevoked;
  if (revoked !== '1' && revoked !== '0' && revoked !== '') return { error: `certRevoked is ${JSON.stringify(revoked.slice(0, 32))}` };
  const verified = read.certVerified;
  let verification: VerificationStatus;
  let verificationFailure: string | null = null;
  if (verified === 'SUCCESS') verification = 'SUCCESS';
  else if (verified === 'NONE' || verified === '') verification = 'NONE';
  else if (verified === 'FAILED' || verified.startsWith('FAILED:')) {
    verification = 'FAILED';
    verificationFailure = verified.slice('FAILED:'.length).trim().slice(0, 256) || 'unspecified';
  } else return { error: `certVerified is ${JSON.stringify(verified.slice(0, 32))}` };
  return { presented: presented === '1', verification, verificationFailure, revokedByPlatform: revoked === '1' };
}

function leafFromStrings(read: Record<string, string>): { ok: true; value: ChainCertificate } | { ok: false; error: string } {
  const subjectText = read.certSubjectDNRFC2253 || read.certSubjectDN || read.certSubjectDNLegacy;
  const issuerText = read.certIssuerDNRFC2253 || read.certIssuerDN || read.certIssuerDNLegacy;
  if (subjectText === '') return { ok: false, error: 'a certificate was presented but neither certRFC9440 nor a subject DN was given' };
  const subject = parseDistinguishedName(subjectText);
  if (!subject) return { ok: false, error: 'the subject DN cannot be parsed' };
  const issuer = issuerText === '' ? { rdns: [] } : parseDistinguishedName(issuerText);
  if (!issuer) return { ok: false, error: 'the issuer DN cannot be parsed' };
  let serial: string | null = null;
  if (read.certSerial !== '') {
    serial = normalizeSerial(read.certSerial);
    if (serial === null) return { ok: false, error: 'certSerial is not hexadecimal' };
  }
  return {
    ok: true,
    value: describeNames(subject, issuer, {
      serial,
      fingerprintSHA256: normalizeFingerprint(read.certFingerprintSHA256),
      notBefore: parsePlatformTime(read.certNotBefore),
      notAfter: parsePlatformTime(read.certNotAfter),
      der: null,
    }),
  };
}

/** A certificate as authentication sees it, from its parsed subject and issuer plus the fields read beside them. */
function describeNames(
  subject: DistinguishedName,
  issuer: DistinguishedName,
  fields: Pick<ChainCertificate, 'serial' | 'fingerprintSHA256' | 'notBefore' | 'notAfter' | 'der'>,
): ChainCertificate {
  return { subjectDN: formatRfc2253(subject), cn: commonName(subject), issuerDN: formatRfc2253(issuer), ...fields };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** OpenSSL's ASN1_TIME_print form, as the platform sends it: "Dec 22 19:39:00 2018 GMT". Null when it is not that. */
export function parsePlatformTime(text: string): number | null {
  const m = /^([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})(?:\.\d+)? (\d{4})(?: GMT)?$/.exec(text.trim());
  if (!m) return null;
  const month = MONTHS.indexOf(m[1]);
  if (month < 0) return null;
  const t = Date.UTC(Number(m[6]), month, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
  return Number.isNaN(t) ? null : t;
}

// ---------------------------------------------------------------------------
// RFC 9440 values: Structured Field byte sequences (RFC 8941 §3.3.5)

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * One RFC 9440 Client-Cert value: an sf-binary item `:<base64 DER>:`,
 * optionally followed by parameters, which RFC 9440 defines none of and are
 * ignored. Returns the DER bytes.
 */
export function parseByteSequence(value: string): Parsed<Uint8Array> {
  const items = parseByteSequenceItems(value, 1);
  if (!items.ok) return items;
  if (items.value.length !== 1) return { ok: false, error: 'expected exactly one byte sequence' };
  return { ok: true, value: items.value[0] };
}

/** An RFC 9440 Client-Cert-Chain value: a comma-separated list of byte sequences. */
export function parseByteSequenceList(value: string, maxItems: number): Parsed<Uint8Array[]> {
  return parseByteSequenceItems(value, maxItems);
}

function parseByteSequenceItems(value: string, maxItems: number): Parsed<Uint8Array[]> {
  if (typeof value !== 'string') return { ok: false, error: 'not a string' };
  const items: Uint8Array[] = [];
  const n = value.length;
  let i = 0;
  const skipOws = () => {
    while (i < n && (value[i] === ' ' || value[i] === '\t')) i++;
  };
  skipOws();
  if (i === n) return { ok: false, error: 'empty value' };
  for (;;) {
    if (value[i] !== ':') return { ok: false, error: `expected ":" at offset ${i}` };
    const end = value.indexOf(':', i + 1);
    if (end < 0) return { ok: false, error: 'unterminated byte sequence' };
    const b64 = value.slice(i + 1, end);
    if (!BASE64.test(b64)) return { ok: false, error: 'byte sequence is not base64' };
    let bytes: Uint8Array;
    try {
      const bin = atob(b64);
      bytes = new Uint8Array(bin.length);
      for (let k = 0; k < bin.length; k++) bytes[k] = bin.charCodeAt(k);
    } catch {
      return { ok: false, error: 'byte sequence is not base64' };
    }
    if (items.length >= maxItems) return { ok: false, error: `more than ${maxItems} certificate(s)` };
    items.push(bytes);
    i = end + 1;
    const params = skipParameters();
    if (params) return { ok: false, error: params };
    skipOws();
    if (i === n) break;
    if (value[i] !== ',') return { ok: false, error: `expected "," at offset ${i}` };
    i++;
    skipOws();
    if (i === n) return { ok: false, error: 'trailing comma' };
  }
  return { ok: true, value: items };

  function skipParameters(): string | null {
    while (value[i] === ';') {
      i++;
      while (value[i] === ' ') i++;
      const key = /^[a-z*][a-z0-9_\-.*]*/.exec(value.slice(i, i + 64));
      if (!key) return `bad parameter at offset ${i}`;
      i += key[0].length;
      if (value[i] !== '=') continue;
      i++;
      if (value[i] === '"') {
        i++;
        while (i < n && value[i] !== '"') i += value[i] === '\\' ? 2 : 1;
        if (i >= n) return 'unterminated parameter string';
        i++;
      } else if (value[i] === ':') {
        const end = value.indexOf(':', i + 1);
        if (end < 0) return 'unterminated parameter byte sequence';
        i = end + 1;
      } else {
        const bare = /^[A-Za-z0-9?*_\-.:/!#$%&'^`|~+]+/.exec(value.slice(i, i + 256));
        if (!bare) return `bad parameter value at offset ${i}`;
        i += bare[0].length;
      }
    }
    return null;
  }
}

async function parseCertificateItem(value: string, name: string): Promise<Parsed<ChainCertificate>> {
  const der = parseByteSequence(value);
  if (!der.ok) return { ok: false, error: `${name}: ${der.error}` };
  const cert = await describeCertificate(der.value);
  return cert.ok ? cert : { ok: false, error: `${name}: ${cert.error}` };
}

async function parseCertificateList(value: string, name: string, maxItems: number): Promise<Parsed<ChainCertificate[]>> {
  const ders = parseByteSequenceList(value, maxItems);
  if (!ders.ok) return { ok: false, error: `${name}: ${ders.error}` };
  const out: ChainCertificate[] = [];
  for (const [k, der] of ders.value.entries()) {
    const cert = await describeCertificate(der);
    if (!cert.ok) return { ok: false, error: `${name} item ${k + 1}: ${cert.error}` };
    out.push(cert.value);
  }
  return { ok: true, value: out };
}

/** Decodes one DER certificate into what authentication needs. */
export async function describeCertificate(der: Uint8Array): Promise<Parsed<ChainCertificate>> {
  const decoded = decodeCertificate(der);
  if (!decoded.ok) return decoded;
  try {
    const tbs = decoded.value.tbsCertificate;
    const subject = dnFromAsn1(tbs.subject);
    const issuer = dnFromAsn1(tbs.issuer);
    return {
      ok: true,
      value: describeNames(subject, issuer, {
        serial: serialFromBytes(new Uint8Array(tbs.serialNumber)),
        fingerprintSHA256: await sha256Fingerprint(der),
        notBefore: tbs.validity.notBefore.getTime().getTime(),
        notAfter: tbs.validity.notAfter.getTime().getTime(),
        der,
      }),
    };
  } catch (err) {
    return { ok: false, error: `certificate fields cannot be read: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown error'}` };
  }
}
