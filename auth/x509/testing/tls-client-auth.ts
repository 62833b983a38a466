import { AsnParser } from '@peculiar/asn1-schema';
import { AuthorityKeyIdentifier, SubjectKeyIdentifier, id_ce_authorityKeyIdentifier, id_ce_subjectKeyIdentifier, type Certificate } from '@peculiar/asn1-x509';
import { decodeCertificate } from '../der';
import { dnFromAsn1, formatRfc2253, type DistinguishedName } from '../distinguished-name';
import { toHex } from '../identifiers';

/**
 * For tests: the `request.cf.tlsClientAuth` record the platform would supply
 * for a client that presented these certificates, so suites can inject
 * certificates end to end (with wrangler dev's MF-CF-Blob header, or straight
 * into a TrustedContext). Every value is a string, as on the platform; the
 * certificate and its chain are RFC 9440 byte sequences, dropped with the
 * *TooLarge flag set when over the platform's limits (10 KiB leaf, 16 KiB chain).
 * Runs in Node and workerd alike: it takes PEM text, not file paths.
 */

export const LEAF_RFC9440_LIMIT = 10 * 1024;
export const CHAIN_RFC9440_LIMIT = 16 * 1024;

/** The DER of every "CERTIFICATE" block in a PEM text, in order. */
export function pemCertificates(pem: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const m of pem.matchAll(/-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/g)) {
    const bin = atob(m[1].replace(/\s+/g, ''));
    out.push(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
  }
  return out;
}

/** `:<base64>:`, the RFC 8941 byte sequence RFC 9440 uses. */
export function rfc9440(der: Uint8Array): string {
  let bin = '';
  for (const b of der) bin += String.fromCharCode(b);
  return `:${btoa(bin)}:`;
}

/**
 * @param leafPem  the client certificate; when it holds several certificates (a
 *                 full-chain file), the first is the leaf and the rest the chain
 * @param chainPem intermediates the client sends after the leaf, in order
 * @param overrides fields to replace, e.g. `{ certVerified: 'FAILED:certificate has expired' }`
 */
export async function tlsClientAuthFromPem(leafPem: string, chainPem: string | string[] = '', overrides: Record<string, string> = {}): Promise<Record<string, string>> {
  const [leafDer, ...bundled] = pemCertificates(leafPem);
  if (!leafDer) throw new Error('no CERTIFICATE block in the leaf PEM');
  const chainDers = [...bundled, ...(Array.isArray(chainPem) ? chainPem : [chainPem]).flatMap(pemCertificates)];
  const decoded = decodeCertificate(leafDer);
  if (!decoded.ok) throw new Error(decoded.error);
  const tbs = decoded.value.tbsCertificate;
  const subject = dnFromAsn1(tbs.subject);
  const issuer = dnFromAsn1(tbs.issuer);
  const leafValue = rfc9440(leafDer);
  const chainValue = chainDers.map(rfc9440).join(', ');
  const leafTooLarge = leafValue.length > LEAF_RFC9440_LIMIT;
  const chainTooLarge = chainValue.length > CHAIN_RFC9440_LIMIT;
  return {
    certPresented: '1',
    certVerified: 'SUCCESS',
    certRevoked: '0',
    certSubjectDN: formatRfc2253(subject),
    certIssuerDN: formatRfc2253(issuer),
    certSubjectDNRFC2253: formatRfc2253(subject),
    certIssuerDNRFC2253: formatRfc2253(issuer),
    certSubjectDNLegacy: formatLegacy(subject),
    certIssuerDNLegacy: formatLegacy(issuer),
    certSerial: toHex(new Uint8Array(tbs.serialNumber)).toUpperCase(),
    certIssuerSerial: '',
    certSKI: keyIdentifier(decoded.value, 'subject'),
    certIssuerSKI: keyIdentifier(decoded.value, 'authority'),
    certFingerprintSHA1: toHex(new Uint8Array(await crypto.subtle.digest('SHA-1', leafDer))),
    certFingerprintSHA256: toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', leafDer))),
    certNotBefore: opensslTime(tbs.validity.notBefore.getTime()),
    certNotAfter: opensslTime(tbs.validity.notAfter.getTime()),
    certRFC9440: leafTooLarge ? '' : leafValue,
    certRFC9440TooLarge: leafTooLarge ? '1' : '0',
    certChainRFC9440: chainTooLarge ? '' : chainValue,
    certChainRFC9440TooLarge: chainTooLarge ? '1' : '0',
    ...overrides,
  };
}

/** What the platform supplies on an mTLS-enabled hostname when the client presented no certificate. */
export function noClientCertificate(): Record<string, string> {
  return {
    certPresented: '0',
    certVerified: 'NONE',
    certRevoked: '0',
    certSubjectDN: '',
    certIssuerDN: '',
    certSubjectDNRFC2253: '',
    certIssuerDNRFC2253: '',
    certSubjectDNLegacy: '',
    certIssuerDNLegacy: '',
    certSerial: '',
    certIssuerSerial: '',
    certSKI: '',
    certIssuerSKI: '',
    certFingerprintSHA1: '',
    certFingerprintSHA256: '',
    certNotBefore: '',
    certNotAfter: '',
    certRFC9440: '',
    certRFC9440TooLarge: '0',
    certChainRFC9440: '',
    certChainRFC9440TooLarge: '0',
  };
}

/** RFC 9440 Client-Cert / Client-Cert-Chain header values, as a TLS-terminating proxy sends them. */
export function forwardedClientCertFromPem(leafPem: string, chainPem: string | string[] = ''): { cert: string; chain: string | null } {
  const [leafDer, ...bundled] = pemCertificates(leafPem);
  if (!leafDer) throw new Error('no CERTIFICATE block in the leaf PEM');
  const chain = [...bundled, ...(Array.isArray(chainPem) ? chainPem : [chainPem]).flatMap(pemCertificates)];
  return { cert: rfc9440(leafDer), chain: chain.length > 0 ? chain.map(rfc9440).join(', ') : null };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** OpenSSL's ASN1_TIME_print: "Dec  2 19:39:00 2018 GMT". */
export function opensslTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${MONTHS[date.getUTCMonth()]} ${String(date.getUTCDate()).padStart(2, ' ')} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} ${date.getUTCFullYear()} GMT`;
}

/** OpenSSL's one-line form: most general RDN first, "/" and "+" escaped, bytes outside printable ASCII as \xHH. */
function formatLegacy(dn: DistinguishedName): string {
  const byte = (b: number) =>
    b === 0x2f || b === 0x2b ? `\\${String.fromCharCode(b)}` : b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return [...dn.rdns]
    .reverse()
    .flat()
    .map((a) => `/${a.type}=${Array.from(new TextEncoder().encode(a.value), byte).join('')}`)
    .join('');
}

function keyIdentifier(cert: Certificate, which: 'subject' | 'authority'): string {
  const id = which === 'subject' ? id_ce_subjectKeyIdentifier : id_ce_authorityKeyIdentifier;
  const ext = cert.tbsCertificate.extensions?.find((e) => e.extnID === id);
  if (!ext) return '';
  const raw = ext.extnValue.buffer;
  const key =
    which === 'subject'
      ? new Uint8Array(AsnParser.parse(raw, SubjectKeyIdentifier).buffer)
      : AsnParser.parse(raw, AuthorityKeyIdentifier).keyIdentifier?.buffer;
  if (!key) return '';
  return toHex(new Uint8Array(key)).toUpperCase().replace(/(..)(?=.)/g, '$1:');
}
