import { decodeCertificateList } from './der';
import { canonicalDnString, dnFromAsn1, formatRfc2253 } from './distinguished-name';
import { normalizeFingerprint, normalizeSerial, serialFromBytes } from './identifiers';

/**
 * Our own revocation list. The platform checks revocation only for
 * certificates of its managed CA, so certificates from an operator's CA are
 * revoked here: by uploaded CRLs (serials per issuer) and by manual entries
 * (a serial, with or without its issuer, or a SHA-256 fingerprint).
 * CRL signatures are not verified: an operator uploads the CRL through the
 * authenticated admin API, and a forged CRL could only deny more devices.
 */

export interface ParsedCrl {
  /** RFC 2253 ("CN=Plant CA,O=Example"). */
  issuerDN: string;
  /** Normalized serials (upper-case hex, no leading zeros). */
  revokedSerials: string[];
  /** Milliseconds since the epoch. */
  thisUpdate: number;
  nextUpdate: number | null;
}

export type CrlParseResult = { ok: true; crls: ParsedCrl[] } | { ok: false; error: string };

export interface CrlLimits {
  /** Longest PEM text accepted, in characters. */
  maxPemLength?: number;
  /** Most CRLs in one upload. */
  maxCrls?: number;
  /** Most revoked entries in one CRL. */
  maxEntries?: number;
}

const DEFAULT_CRL_LIMITS: Required<CrlLimits> = { maxPemLength: 16 * 1024 * 1024, maxCrls: 64, maxEntries: 500_000 };

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/g;

/** One or more PEM "X509 CRL" blocks (other blocks are ignored, none at all is an error). */
export function parseCrlPem(pem: string, limits: CrlLimits = {}): CrlParseResult {
  const l = { ...DEFAULT_CRL_LIMITS, ...limits };
  if (typeof pem !== 'string') return { ok: false, error: 'not text' };
  if (pem.length > l.maxPemLength) return { ok: false, error: `longer than ${l.maxPemLength} characters` };
  const crls: ParsedCrl[] = [];
  for (const block of pem.matchAll(PEM_BLOCK)) {
    if (block[1] !== 'X509 CRL') continue;
    if (crls.length >= l.maxCrls) return { ok: false, error: `more than ${l.maxCrls} CRLs` };
    const body = block[2].replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return { ok: false, error: `CRL ${crls.length + 1} is not base64` };
    let der: Uint8Array;
    try {
      const bin = atob(body);
      der = new Uint8Array(bin.length);
      for (let k = 0; k < bin.length; k++) der[k] = bin.charCodeAt(k);
    } catch {
      return { ok: false, error: `CRL ${crls.length + 1} is not base64` };
    }
    const crl = parseCrlDer(der, l);
    if (!crl.ok) return { ok: false, error: `CRL ${crls.length + 1}: ${crl.error}` };
    crls.push(crl.crl);
  }
  if (crls.length === 0) return { ok: false, error: 'no "-----BEGIN X509 CRL-----" block found' };
  return { ok: true, crls };
}

export function parseCrlDer(der: Uint8Array, limits: CrlLimits = {}): { ok: true; crl: ParsedCrl } | { ok: false; error: string } {
  const maxEntries = limits.maxEntries ?? DEFAULT_CRL_LIMITS.maxEntries;
  const decoded = decodeCertificateList(der);
  if (!decoded.ok) return decoded;
  try {
    const tbs = decoded.value.tbsCertList;
    const entries = tbs.revokedCertificates ?? [];
    if (entries.length > maxEntries) return { ok: false, error: `more than ${maxEntries} revoked certificates` };
    const serials = new Set<string>();
    for (const entry of entries) serials.add(serialFromBytes(new Uint8Array(entry.userCertificate)));
    return {
      ok: true,
      crl: {
        issuerDN: formatRfc2253(dnFromAsn1(tbs.issuer)),
        revokedSerials: [...serials],
        thisUpdate: tbs.thisUpdate.getTime().getTime(),
        nextUpdate: tbs.nextUpdate ? tbs.nextUpdate.getTime().getTime() : null,
      },
    };
  } catch (err) {
    return { ok: false, error: `CRL fields cannot be read: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown error'}` };
  }
}

/** One revocation: a serial (optionally only from one issuer) or a SHA-256 fingerprint. */
export interface RevocationEntry {
  serial?: string | null;
  /** Without an issuer, the serial is revoked whichever CA issued it. */
  issuerDN?: string | null;
  fingerprintSHA256?: string | null;
  /** Shown to operators when the entry matches (for example "crl" or an entry id). */
  label?: string;
}

export interface RevocationMatch {
  by: 'serial' | 'fingerprint';
  label: string | null;
}

/** What a certificate is looked up by. */
export interface RevocationQuery {
  serial: string | null;
  issuerDN: string | null;
  fingerprintSHA256: string | null;
}

export class RevocationList {
  /** Serial -> canonical issuer DNs it is revoked for ('' = any issuer). */
  private readonly bySerial = new Map<string, Map<string, string | null>>();
  private readonly byFingerprint = new Map<string, string | null>();
  private count = 0;

  /** Entries that could not be read (bad serial, fingerprint or DN), so callers can report them. */
  readonly rejected: RevocationEntry[] = [];

  constructor(entries: Iterable<RevocationEntry> = []) {
    for (const e of entries) this.add(e);
  }

  static empty(): RevocationList {
    return new RevocationList();
  }

  static fromCrls(crls: ParsedCrl[], extra: Iterable<RevocationEntry> = []): RevocationList {
    const list = new RevocationList(extra);
    for (const crl of crls) {
      for (const serial of crl.revokedSerials) list.add({ serial, issuerDN: crl.issuerDN, label: `CRL of ${crl.issuerDN}` });
    }
    return list;
  }

  get size(): number {
    return this.count;
  }

  add(entry: RevocationEntry): void {
    const label = entry.label ?? null;
    let added = false;
    if (entry.fingerprintSHA256) {
      const fp = normalizeFingerprint(entry.fingerprintSHA256);
      if (fp === null) {
        this.rejected.push(entry);
        return;
      }
      this.byFingerprint.set(fp, label);
      added = true;
    }
    if (entry.serial) {
      const serial = normalizeSerial(entry.serial);
      const issuer = entry.issuerDN ? canonicalDnString(entry.issuerDN) : '';
      if (serial === null || issuer === null) {
        this.rejected.push(entry);
        return;
      }
      let issuers = this.bySerial.get(serial);
      if (!issuers) this.bySerial.set(serial, (issuers = new Map()));
      issuers.set(issuer, label);
      added = true;
    }
    if (added) this.count++;
    else this.rejected.push(entry);
  }

  /** The entry that revokes this certificate, or null. */
  isRevoked(cert: RevocationQuery): RevocationMatch | null {
    if (cert.fingerprintSHA256) {
      const fp = normalizeFingerprint(cert.fingerprintSHA256);
      if (fp !== null && this.byFingerprint.has(fp)) return { by: 'fingerprint', label: this.byFingerprint.get(fp) ?? null };
    }
    if (cert.serial) {
      const serial = normalizeSerial(cert.serial);
      const issuers = serial === null ? undefined : this.bySerial.get(serial);
      if (issuers) {
        if (issuers.has('')) return { by: 'serial', label: issuers.get('') ?? null };
        const issuer = cert.issuerDN ? canonicalDnString(cert.issuerDN) : null;
        if (issuer !== null && issuers.has(issuer)) return { by: 'serial', label: issuers.get(issuer) ?? null };
      }
    }
    return null;
  }
}
