import { AsnParser } from '@peculiar/asn1-schema';
import { Certificate, CertificateList } from '@peculiar/asn1-x509';

/**
 * DER decoding through @peculiar/asn1-x509, wrapped so that garbage never
 * throws: every function answers a value or an error text.
 */

export type Decoded<T> = { ok: true; value: T } | { ok: false; error: string };

export function decodeCertificate(der: Uint8Array): Decoded<Certificate> {
  return decode(der, Certificate, 'certificate');
}

export function decodeCertificateList(der: Uint8Array): Decoded<CertificateList> {
  return decode(der, CertificateList, 'CRL');
}

/** Any DER SEQUENCE through an asn1-schema type, e.g. one a caller declares for a structure asn1-x509 lacks. */
export function decode<T>(der: Uint8Array, type: new () => T, what: string): Decoded<T> {
  const framing = checkOuterSequence(der);
  if (framing) return { ok: false, error: `${what} is not DER: ${framing}` };
  try {
    return { ok: true, value: AsnParser.parse(der, type) };
  } catch (err) {
    return { ok: false, error: `${what} does not decode: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown error'}` };
  }
}

/**
 * The decoder accepts trailing bytes after the outer SEQUENCE; a certificate
 * with extra bytes glued on is not the certificate the fingerprint names, so
 * the framing is checked here first.
 */
function checkOuterSequence(der: Uint8Array): string | null {
  if (der.length < 2) return 'too short';
  if (der[0] !== 0x30) return 'does not start with a SEQUENCE';
  let length = der[1];
  let header = 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4) return 'unsupported length encoding';
    if (der.length < 2 + octets) return 'too short';
    length = 0;
    for (let k = 0; k < octets; k++) length = length * 256 + der[2 + k];
    header += octets;
  }
  if (header + length !== der.length) return `length ${header + length} does not match the ${der.length} bytes given`;
  return null;
}
