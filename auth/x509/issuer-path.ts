/**
 * Which certificates of a client's chain are really the leaf's issuers.
 *
 * What the platform promises (Cloudflare's field reference for
 * `cf.tls_client_auth.cert_chain_rfc9440`, which Workers expose as
 * `request.cf.tlsClientAuth.certChainRFC9440`): the value is the chain
 * *excluding the leaf*, "as sent by the client, without any reordering or
 * validation", and it is filled in whatever the verification result was; the
 * docs say to check `certVerified` and `certRevoked` before using it.
 * `certRFC9440` (the leaf) is likewise filled in regardless of verification.
 * What they do not say: which certificates the platform used to build the
 * path it verified, or whether the extra certificates have anything to do
 * with that path. `certVerified: "SUCCESS"` speaks for the leaf only. A
 * Client-Cert-Chain header from a trusted proxy is no better: RFC 9440 lets
 * the proxy pass on whatever the client sent.
 *
 * So every link is checked here, leaf upwards: certificate i+1 is on the path
 * only if its subject is certificate i's issuer and its public key verifies
 * certificate i's signature. The walk stops at the first link that fails.
 *
 * A verified link is not enough to make a certificate genuine, though. The
 * link proves that certificate i+1 holds the key that signed certificate i,
 * and that its subject is the issuer certificate i names; the rest of
 * certificate i+1 (its own issuer name, its signature) is only as good as the
 * certificate that signs it, and the top of the chain is signed by nobody we
 * trust. A forger can copy the real intermediate's subject and public key
 * into a certificate of their own, name "CN=Admins" as its issuer and sign it
 * with their own key, then append a self-signed "CN=Admins": every link
 * verifies. Only two certificates are proven without a trust anchor: the leaf
 * (the platform verified it) and its direct issuer, whose subject is the
 * issuer name inside the signed leaf and whose key verified the leaf's
 * signature. `proven` counts those; the rest of the path is still genuine
 * enough to be held against the client (revoked, expired), never enough to be
 * matched for access.
 *
 * Names are compared as DER bytes, not as text: RFC 5280 §4.1.2.6 requires a
 * CA to encode its subject exactly as it encodes the issuer of what it signs,
 * and byte equality cannot be fooled by two encodings that print alike.
 * Signature algorithms: RSASSA-PKCS1-v1_5 and RSA-PSS with SHA-256/384/512,
 * ECDSA on P-256/P-384/P-521 with SHA-256/384/512. Anything else (SHA-1
 * included) cannot be checked, and a link that cannot be checked is broken.
 *
 * Why no library: @peculiar/x509 would do this, but it resolves its algorithm
 * providers through tsyringe, which needs the reflect-metadata polyfill; pkijs
 * brings its own crypto engine and ASN.1 stack (asn1js, bytestreamjs,
 * @noble/hashes) for one signature check per link. Only four byte ranges of
 * the certificate are needed (to-be-signed part, issuer, subject, public key),
 * so a small DER walker and WebCrypto (in Workers and Node alike) suffice.
 * The certificates reaching this module were already decoded in full by
 * @peculiar/asn1-x509 (der.ts); the walker below still checks every bound.
 */

export interface LinkFailure {
  /**
   * 'not-issuer': the certificate is provably not the issuer (names differ,
   * or its key does not verify the signature). 'unverifiable': it could not
   * be checked (missing data, an algorithm not supported here).
   */
  kind: 'not-issuer' | 'unverifiable';
  /** For operators, e.g. "its key does not verify that certificate's signature". */
  reason: string;
}

export interface IssuerPath {
  /** How many certificates, from the leaf, form the verified path; at least 1 (the leaf) for a non-empty chain. */
  length: number;
  /** Why certificate `length` is not on the path; null when the whole chain is. */
  broken: { index: number; failure: LinkFailure } | null;
  /** How many certificates of the path are proven genuine without a trust anchor: the leaf and its issuer, at most 2. */
  proven: number;
}

/** The leaf and its direct issuer (see above). */
const PROVEN_WITHOUT_ANCHOR = 2;

/**
 * Walks the chain (leaf first) and answers how far it is a verified issuer
 * path. `null` stands for a certificate whose DER is not known (a leaf the
 * platform described by its DN strings only).
 */
export async function verifyIssuerPath(chain: Array<Uint8Array | null>): Promise<IssuerPath> {
  const path = (length: number, broken: IssuerPath['broken']): IssuerPath => ({ length, broken, proven: Math.min(length, PROVEN_WITHOUT_ANCHOR) });
  for (let i = 0; i + 1 < chain.length; i++) {
    const failure = await checkIssuedBy(chain[i], chain[i + 1]);
    if (failure) return path(i + 1, { index: i + 1, failure });
  }
  return path(chain.length, null);
}

/** Null when `issuer` issued `child`; otherwise why it is not shown to have. */
export async function checkIssuedBy(child: Uint8Array | null, issuer: Uint8Array | null): Promise<LinkFailure | null> {
  if (child === null) return unverifiable('the certificate before it is not available in DER');
  if (issuer === null) return unverifiable('it is not available in DER');
  const c = certificateParts(child);
  if (typeof c === 'string') return unverifiable(`the certificate before it cannot be read: ${c}`);
  const p = certificateParts(issuer);
  if (typeof p === 'string') return unverifiable(`it cannot be read: ${p}`);

  // Step 1: the names. Cheap, and the commonest way a wrong certificate shows.
  if (!equalBytes(c.issuer, p.subject)) return notIssuer("its subject is not that certificate's issuer");

  // Step 2: the signature, with the algorithm the child names for it.
  const scheme = signatureScheme(c.signatureAlgorithm);
  if (typeof scheme === 'string') return unverifiable(scheme);
  const key = await importIssuerKey(p.publicKeyInfo, p.publicKeyAlgorithm, scheme);
  if (typeof key === 'string') return key === MISMATCHED_KEY ? notIssuer(`its ${algorithmName(p.publicKeyAlgorithm.oid)} key cannot have made that certificate's signature`) : unverifiable(key);
  const signature = scheme.family === 'ecdsa' ? ecdsaRawSignature(c.signature, key.fieldBytes) : c.signature;
  if (signature === null) return notIssuer("that certificate's ECDSA signature is malformed");
  let valid = false;
  try {
    valid = await crypto.subtle.verify(scheme.verify, key.key, signature, c.tbs);
  } catch {
    valid = false;
  }
  return valid ? null : notIssuer("its key does not verify that certificate's signature");
}

const notIssuer = (reason: string): LinkFailure => ({ kind: 'not-issuer', reason });
const unverifiable = (reason: string): LinkFailure => ({ kind: 'unverifiable', reason });

// ---------------------------------------------------------------------------
// The parts of a certificate a signature check needs (RFC 5280 §4.1)

interface AlgorithmIdentifier {
  oid: string;
  /** The DER of the parameters, or null when absent. */
  parameters: Uint8Array | null;
}

interface CertificateParts {
  /** The DER of tbsCertificate: what the signature covers. */
  tbs: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  /** The DER of subjectPublicKeyInfo, as WebCrypto imports it ('spki'). */
  publicKeyInfo: Uint8Array;
  publicKeyAlgorithm: AlgorithmIdentifier;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Uint8Array;
}

const SEQUENCE = 0x30;
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OID = 0x06;
const VERSION = 0xa0;

function certificateParts(der: Uint8Array): CertificateParts | string {
  const outer = readTlv(der, 0, der.length);
  if (!outer || outer.tag !== SEQUENCE || outer.end !== der.length) return 'not a DER SEQUENCE';
  const [tbsTlv, sigAlgTlv, sigTlv, ...extra] = childrenOf(der, outer) ?? [];
  if (!tbsTlv || tbsTlv.tag !== SEQUENCE || !sigAlgTlv || !sigTlv || sigTlv.tag !== BIT_STRING || extra.length > 0) return 'not a certificate';

  const fields = childrenOf(der, tbsTlv);
  if (!fields) return 'tbsCertificate is malformed';
  const rest = fields[0]?.tag === VERSION ? fields.slice(1) : fields;
  const [serial, innerSigAlg, issuer, validity, subject, spki] = rest;
  if (serial?.tag !== INTEGER || [innerSigAlg, issuer, validity, subject, spki].some((f) => f?.tag !== SEQUENCE)) return 'tbsCertificate is malformed';

  // RFC 5280 §4.1.1.2: the signed copy of the algorithm must equal the outer one.
  if (!equalBytes(bytesOf(der, innerSigAlg), bytesOf(der, sigAlgTlv))) return 'the signature algorithm differs inside and outside the signed part';
  const signatureAlgorithm = algorithmIdentifier(der, sigAlgTlv);
  const keyParts = childrenOf(der, spki);
  const publicKeyAlgorithm = keyParts?.[0] ? algorithmIdentifier(der, keyParts[0]) : null;
  const signature = bitStringBytes(der, sigTlv);
  if (!signatureAlgorithm || !publicKeyAlgorithm || !signature) return 'an algorithm or the signature is malformed';

  return {
    tbs: bytesOf(der, tbsTlv),
    issuer: bytesOf(der, issuer),
    subject: bytesOf(der, subject),
    publicKeyInfo: bytesOf(der, spki),
    publicKeyAlgorithm,
    signatureAlgorithm,
    signature,
  };
}

function algorithmIdentifier(der: Uint8Array, tlv: Tlv): AlgorithmIdentifier | null {
  if (tlv.tag !== SEQUENCE) return null;
  const parts = childrenOf(der, tlv);
  if (!parts || parts.length < 1 || parts.length > 2 || parts[0].tag !== OID) return null;
  const oid = decodeOid(der.subarray(parts[0].contentStart, parts[0].end));
  if (oid === null) return null;
  return { oid, parameters: parts[1] ? bytesOf(der, parts[1]) : null };
}

/** A BIT STRING's bytes; signatures and keys are whole bytes, so the unused-bits count must be 0. */
function bitStringBytes(der: Uint8Array, tlv: Tlv): Uint8Array | null {
  if (tlv.end - tlv.contentStart < 1 || der[tlv.contentStart] !== 0) return null;
  return der.subarray(tlv.contentStart + 1, tlv.end);
}

// ---------------------------------------------------------------------------
// Algorithms

const OIDS = {
  rsaEncryption: '1.2.840.113549.1.1.1',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  ecPublicKey: '1.2.840.10045.2.1',
} as const;

type Hash = 'SHA-256' | 'SHA-384' | 'SHA-512';

const HASHES: Record<string, Hash> = {
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

const PKCS1_SIGNATURES: Record<string, Hash> = {
  '1.2.840.113549.1.1.11': 'SHA-256',
  '1.2.840.113549.1.1.12': 'SHA-384',
  '1.2.840.113549.1.1.13': 'SHA-512',
};

const ECDSA_SIGNATURES: Record<string, Hash> = {
  '1.2.840.10045.4.3.2': 'SHA-256',
  '1.2.840.10045.4.3.3': 'SHA-384',
  '1.2.840.10045.4.3.4': 'SHA-512',
};

/** Named curves by OID, with the size of a coordinate (and of r and s) in bytes. */
const CURVES: Record<string, { name: 'P-256' | 'P-384' | 'P-521'; bytes: number }> = {
  '1.2.840.10045.3.1.7': { name: 'P-256', bytes: 32 },
  '1.3.132.0.34': { name: 'P-384', bytes: 48 },
  '1.3.132.0.35': { name: 'P-521', bytes: 66 },
};

const NAMES: Record<string, string> = {
  [OIDS.rsaEncryption]: 'RSA',
  [OIDS.rsassaPss]: 'RSA-PSS',
  [OIDS.ecPublicKey]: 'EC',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
};

const algorithmName = (oid: string) => NAMES[oid] ?? oid;

interface SignatureScheme {
  family: 'pkcs1' | 'pss' | 'ecdsa';
  hash: Hash;
  verify: AlgorithmIdentifierParams;
}
type AlgorithmIdentifierParams = { name: 'RSASSA-PKCS1-v1_5' } | { name: 'RSA-PSS'; saltLength: number } | { name: 'ECDSA'; hash: Hash };

function signatureScheme(alg: AlgorithmIdentifier): SignatureScheme | string {
  const pkcs1 = PKCS1_SIGNATURES[alg.oid];
  if (pkcs1) return { family: 'pkcs1', hash: pkcs1, verify: { name: 'RSASSA-PKCS1-v1_5' } };
  const ecdsa = ECDSA_SIGNATURES[alg.oid];
  if (ecdsa) return { family: 'ecdsa', hash: ecdsa, verify: { name: 'ECDSA', hash: ecdsa } };
  if (alg.oid === OIDS.rsassaPss) {
    const pss = pssParameters(alg.parameters);
    if (typeof pss === 'string') return pss;
    return { family: 'pss', hash: pss.hash, verify: { name: 'RSA-PSS', saltLength: pss.saltLength } };
  }
  return `unsupported signature algorithm ${algorithmName(alg.oid)}`;
}

/**
 * RSASSA-PSS-params (RFC 4055 §3.1). WebCrypto uses one hash for the digest
 * and for MGF1, so parameters naming two are not supported; neither is the
 * SHA-1 default.
 */
function pssParameters(parameters: Uint8Array | null): { hash: Hash; saltLength: number } | string {
  const unsupported = 'unsupported RSA-PSS parameters';
  if (parameters === null) return unsupported;
  const seq = readTlv(parameters, 0, parameters.length);
  if (!seq || seq.tag !== SEQUENCE || seq.end !== parameters.length) return unsupported;
  let hash: Hash | null = null;
  let mgfHash: Hash | null = null;
  let saltLength = 20;
  const fields = childrenOf(parameters, seq);
  if (!fields) return unsupported;
  for (const field of fields) {
    const inner = childrenOf(parameters, field)?.[0];
    if (!inner) return unsupported;
    if (field.tag === 0xa0) {
      hash = HASHES[algorithmIdentifier(parameters, inner)?.oid ?? ''] ?? null;
    } else if (field.tag === 0xa1) {
      const mgf = algorithmIdentifier(parameters, inner);
      if (mgf?.oid !== OIDS.mgf1 || !mgf.parameters) return unsupported;
      const mgfAlg = readTlv(mgf.parameters, 0, mgf.parameters.length);
      mgfHash = mgfAlg ? (HASHES[algorithmIdentifier(mgf.parameters, mgfAlg)?.oid ?? ''] ?? null) : null;
    } else if (field.tag === 0xa2) {
      if (inner.tag !== INTEGER || inner.end - inner.contentStart > 2) return unsupported;
      saltLength = 0;
      for (let k = inner.contentStart; k < inner.end; k++) saltLength = saltLength * 256 + parameters[k];
    } else if (field.tag === 0xa3) {
      // trailerField: only 1 (0xBC) is defined.
      if (inner.tag !== INTEGER || inner.end - inner.contentStart !== 1 || parameters[inner.contentStart] !== 1) return unsupported;
    } else {
      return unsupported;
    }
  }
  if (hash === null || mgfHash !== hash) return unsupported;
  return { hash, saltLength };
}

const MISMATCHED_KEY = 'mismatched';

/** The issuer's key, imported for the child's signature scheme; a string when it cannot be. */
async function importIssuerKey(
  spki: Uint8Array,
  keyAlgorithm: AlgorithmIdentifier,
  scheme: SignatureScheme,
): Promise<{ key: CryptoKey; fieldBytes: number } | string> {
  let params: { name: string; hash: Hash } | { name: string; namedCurve: string };
  let fieldBytes = 0;
  if (keyAlgorithm.oid === OIDS.rsaEncryption) {
    if (scheme.family === 'ecdsa') return MISMATCHED_KEY;
    params = { name: scheme.family === 'pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: scheme.hash };
  } else if (keyAlgorithm.oid === OIDS.ecPublicKey) {
    if (scheme.family !== 'ecdsa') return MISMATCHED_KEY;
    const curveTlv = keyAlgorithm.parameters && readTlv(keyAlgorithm.parameters, 0, keyAlgorithm.parameters.length);
    const curveOid = curveTlv && curveTlv.tag === OID ? decodeOid(keyAlgorithm.parameters!.subarray(curveTlv.contentStart, curveTlv.end)) : null;
    const curve = curveOid ? CURVES[curveOid] : undefined;
    if (!curve) return `unsupported EC curve ${curveOid ?? '(not a named curve)'}`;
    params = { name: 'ECDSA', namedCurve: curve.name };
    fieldBytes = curve.bytes;
  } else {
    return `unsupported public key algorithm ${algorithmName(keyAlgorithm.oid)}`;
  }
  try {
    return { key: await crypto.subtle.importKey('spki', spki, params, false, ['verify']), fieldBytes };
  } catch {
    return 'its public key cannot be imported';
  }
}

/**
 * X.509 carries an ECDSA signature as DER `SEQUENCE { r INTEGER, s INTEGER }`
 * (RFC 3279 §2.2.3); WebCrypto wants r and s as fixed-size big-endian halves.
 */
export function ecdsaRawSignature(der: Uint8Array, fieldBytes: number): Uint8Array | null {
  const seq = readTlv(der, 0, der.length);
  if (!seq || seq.tag !== SEQUENCE || seq.end !== der.length) return null;
  const parts = childrenOf(der, seq);
  if (!parts || parts.length !== 2 || parts.some((p) => p.tag !== INTEGER)) return null;
  const raw = new Uint8Array(fieldBytes * 2);
  for (const [k, p] of parts.entries()) {
    let value = der.subarray(p.contentStart, p.end);
    // A positive INTEGER may carry one leading zero byte; r and s are never negative.
    if (value.length === 0 || value[0] & 0x80) return null;
    while (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > fieldBytes) return null;
    raw.set(value, (k + 1) * fieldBytes - value.length);
  }
  return raw;
}

// ---------------------------------------------------------------------------
// A minimal DER walker: single-byte tags, definite lengths, every bound checked

interface Tlv {
  tag: number;
  start: number;
  contentStart: number;
  end: number;
}

function readTlv(der: Uint8Array, at: number, limit: number): Tlv | null {
  if (at + 2 > limit) return null;
  const tag = der[at];
  if ((tag & 0x1f) === 0x1f) return null;
  let length = der[at + 1];
  let contentStart = at + 2;
  if (length & 0x80) {
    const octets = length & 0x7f;
    if (octets === 0 || octets > 4 || contentStart + octets > limit) return null;
    length = 0;
    for (let k = 0; k < octets; k++) length = length * 256 + der[contentStart + k];
    contentStart += octets;
  }
  const end = contentStart + length;
  return end > limit ? null : { tag, start: at, contentStart, end };
}

function childrenOf(der: Uint8Array, parent: Tlv): Tlv[] | null {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end; ) {
    const child = readTlv(der, at, parent.end);
    if (!child) return null;
    out.push(child);
    at = child.end;
  }
  return out;
}

const bytesOf = (der: Uint8Array, tlv: Tlv) => der.subarray(tlv.start, tlv.end);

function decodeOid(content: Uint8Array): string | null {
  if (content.length === 0 || content.length > 64) return null;
  const arcs: number[] = [];
  let value = 0;
  for (const [k, b] of content.entries()) {
    if (value === 0 && b === 0x80) return null; // not minimal
    value = value * 128 + (b & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER / 128) return null;
    if (b & 0x80) {
      if (k === content.length - 1) return null;
      continue;
    }
    if (arcs.length === 0) arcs.push(value < 80 ? Math.floor(value / 40) : 2, value < 80 ? value % 40 : value - 80);
    else arcs.push(value);
    value = 0;
  }
  return arcs.join('.');
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
