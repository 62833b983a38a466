import { canonicalDnString } from '../../auth/x509/distinguished-name';
import { normalizeFingerprint, normalizeSerial } from '../../auth/x509/identifiers';
import { parseCrlPem, type ParsedCrl } from '../../auth/x509/revocation';
import { invalid } from './errors';

export { normalizeFingerprint, normalizeSerial };

/** True for a distinguished name the broker can compare issuers by. */
export function isReadableDn(dn: string): boolean {
  return canonicalDnString(dn) !== null;
}

/** The CRLs of a PEM upload, or a 400 naming `pem` with what is wrong with it. */
export function parseCrlUpload(pem: string): ParsedCrl[] {
  const parsed = parseCrlPem(pem);
  if (!parsed.ok) throw invalid('pem', parsed.error);
  return parsed.crls;
}
