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
 * So every link is checked here, leaf upwards: a certificate is the next on
 * the path only if its subject is the current one's issuer and its public key
 * verifies the current one's signature. It is looked for among everything
 * sent, since TLS allows any order; the path ends where none is found.
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
 * signature. `proven` counts those; nothing else is ever matched for access
 * (whereas revocation and dates are held against the client for everything
 * it sent: x509-provider.ts).
 *
 * Names are compared as DER bytes, not as text: RFC 5280 §4.1.2.6 requires a
 * CA to encode its subject exactly as it encodes the issuer of what it signs,
 * and byte equality cannot be fooled by two encodings that print alike.
 * Signature algorithms: RSASSA-PKCS1-v1_5 and RSA-PSS with SHA-256/384/512,
 * ECDSA on P-256/P-384/P-521 with SHA-256/384/512. Anything else (SHA-1
 * included) cannot be checked, and a link that cannot be checked is broken.
 *
 * Where the pieces come from. @peculiar/x509 would do all of this, but it
 * resolves its algorithm providers through tsyringe, which needs the
 * reflect-metadata polyfill, and pkijs brings its own crypto engine and ASN.1
 * stack; so WebCrypto (in Workers and Node alike) checks the signatures, and
 * the decoding is done by the library der.ts already uses. @peculiar/asn1-x509
 * gives the certificate's structure, OIDs as strings, the signature BIT STRING
 * and the public key's algorithm; the RSA-PSS parameters, the curve and the
 * ECDSA signature are small schemas declared below with @peculiar/asn1-schema,
 * as @peculiar/asn1-rsa and asn1-ecc declare them, rather than two more
 * dependencies. Nothing is re-encoded: the signed part, the names and the
 * public key are compared or verified as the bytes received, which the
 * library's `raw` option hands back (asn1-x509 itself keeps tbsCertificateRaw
 * that way). What the library does not do is refuse bytes its schema does not
 * name, so the framing check of der.ts and an `unexpected` field refuse
 * trailing bytes and extra elements. Since der.ts decoded every certificate
 * of the chain with the same library, the names and key checked here are the
 * ones the rest of the provider reads.
 */

import { AsnIntegerArrayBufferConverter, AsnParser, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, BitString } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, Name, SubjectPublicKeyInfo, TBSCertificate } from '@peculiar/asn1-x509';
import { decode } from './der';

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
  /**
   * Indexes into the chain as sent, leaf (0) first, of the certificates that
   * form the verified issuer path, each the issuer of the one before it.
   * TLS lets a client send its chain in any order (RFC 8446 §4.4.2), so the
   * path is looked for among everything sent, not read off in order.
   */
  order: number[];
  /** Why no further certificate is on the path: the first one sent that is not, and its failure; null when every certificate is. */
  broken: { index: number; failure: LinkFailure } | null;
  /** How many certificates of the path are proven genuine without a trust anchor: the leaf and its issuer, at most 2. */
  proven: number;
}

/** The leaf and its direct issuer (see above). */
const PROVEN_WITHOUT_ANCHOR = 2;

/**
 * Builds the verified issuer path from the leaf (index 0) upwards, taking at
 * each step the first remaining certificate that issued the current one.
 * `null` stands for a certificate whose DER is not known (a leaf the
 * platform described by its DN strings only). The chain is at most a few
 * certificates (the provider caps it), and names are compared before any
 * signature is checked, so the search stays cheap.
 */
export async function verifyIssuerPath(chain: Array<Uint8Array | null>): Promise<IssuerPath> {
  // Each certificate is decoded once, however often the search compares it.
  const parts = chain.map(readParts);
  const order = chain.length > 0 ? [0] : [];
  const remaining = chain.map((_, i) => i).slice(1);
  let broken: IssuerPath['broken'] = null;
  while (remaining.length > 0) {
    const current = parts[order[order.length - 1]];
    let firstFailure: LinkFailure | null = null;
    let found = -1;
    for (const [k, index] of remaining.entries()) {
      const failure = await linkFailure(current, parts[index]);
      if (!failure) {
        found = k;
        break;
      }
      firstFailure ??= failure;
    }
    if (found < 0) {
      broken = { index: remaining[0], failure: firstFailure! };
      break;
    }
    order.push(remaining[found]);
    remaining.splice(found, 1);
  }
  return { order, broken, proven: Math.min(order.length, PROVEN_WITHOUT_ANCHOR) };
}

/** Null when `issuer` issued `child`; otherwise why it is not shown to have. */
export async function checkIssuedBy(child: Uint8Array | null, issuer: Uint8Array | null): Promise<LinkFailure | null> {
  return linkFailure(readParts(child), readParts(issuer));
}

/** A certificate's parts, why it cannot be read, or null when its DER is not known. */
type ReadParts = CertificateParts | string | null;

function readParts(der: Uint8Array | null): ReadParts {
  return der === null ? null : certificateParts(der);
}

async function linkFailure(c: ReadParts, p: ReadParts): Promise<LinkFailure | null> {
  if (c === null) return unverifiable('the certificate before it is not available in DER');
  if (p === null) return unverifiable('it is not available in DER');
  if (typeof c === 'string') return unverifiable(`the certificate before it cannot be read: ${c}`);
  if (typeof p === 'string') return unverifiable(`it cannot be read: ${p}`);

  // Step 1: the names. Cheap, and the commonest way a wrong certificate shows.
  if (!equalBytes(c.issuer, p.subject)) return notIssuer("its subject is not that certificate's issuer");

  // Step 2: the signature, with the algorithm the child names for it.
  const scheme = signatureScheme(c.signatureAlgorithm);
  if (typeof scheme === 'string') return unverifiable(scheme);
  const key = await importIssuerKey(p.publicKeyInfo, p.publicKeyAlgorithm, scheme);
  if (typeof key === 'string') return key === MISMATCHED_KEY ? notIssuer(`its ${algorithmName(p.publicKeyAlgorithm.algorithm)} key cannot have made that certificate's signature`) : unverifiable(key);
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

interface CertificateParts {
  /** The DER of tbsCertificate, as received: what the signature covers. */
  tbs: Uint8Array;
  issuer: Uint8Array;
  subject: Uint8Array;
  /** The DER of subjectPublicKeyInfo, as WebCrypto imports it ('spki'). */
  publicKeyInfo: Uint8Array;
  publicKeyAlgorithm: AlgorithmIdentifier;
  signatureAlgorithm: AlgorithmIdentifier;
  signature: Uint8Array;
}

/*
 * The schemas below are declared by calling asn1-schema's decorators as plain
 * functions: they are legacy decorators, and the project does not compile with
 * experimentalDecorators. A subclass starts from its parent's schema, and
 * redeclaring a field keeps its place in the SEQUENCE.
 */

/** asn1-x509's TBSCertificate, keeping the original bytes of what is compared or handed to WebCrypto. */
class SignedFields extends TBSCertificate {
  declare signatureRaw: ArrayBuffer;
  declare issuerRaw: ArrayBuffer;
  declare subjectRaw: ArrayBuffer;
  declare subjectPublicKeyInfoRaw: ArrayBuffer;
}
AsnProp({ type: AlgorithmIdentifier, raw: true })(SignedFields.prototype, 'signature');
AsnProp({ type: Name, raw: true })(SignedFields.prototype, 'issuer');
AsnProp({ type: Name, raw: true })(SignedFields.prototype, 'subject');
AsnProp({ type: SubjectPublicKeyInfo, raw: true })(SignedFields.prototype, 'subjectPublicKeyInfo');

/** asn1-x509's Certificate over SignedFields, with the signature's unused-bits count kept. */
class SignedCertificate {
  tbsCertificate = new SignedFields();
  declare tbsCertificateRaw: ArrayBuffer;
  signatureAlgorithm = new AlgorithmIdentifier();
  declare signatureAlgorithmRaw: ArrayBuffer;
  signatureValue = new BitString();
  /** A certificate has three parts; a fourth is named only to be refused. */
  unexpected?: ArrayBuffer;
}
AsnProp({ type: SignedFields, raw: true })(SignedCertificate.prototype, 'tbsCertificate');
AsnProp({ type: AlgorithmIdentifier, raw: true })(SignedCertificate.prototype, 'signatureAlgorithm');
AsnProp({ type: BitString })(SignedCertificate.prototype, 'signatureValue');
AsnProp({ type: AsnPropTypes.Any, optional: true })(SignedCertificate.prototype, 'unexpected');

function certificateParts(der: Uint8Array): CertificateParts | string {
  const decoded = decode(der, SignedCertificate, 'certificate');
  if (!decoded.ok) return decoded.error;
  const cert = decoded.value;
  if (cert.unexpected !== undefined) return 'not a certificate';
  const tbs = cert.tbsCertificate;
  // RFC 5280 §4.1.1.2: the signed copy of the algorithm must equal the outer one.
  if (!equalBytes(bytes(tbs.signatureRaw), bytes(cert.signatureAlgorithmRaw))) return 'the signature algorithm differs inside and outside the signed part';
  // Signatures are whole bytes.
  if (cert.signatureValue.unusedBits !== 0) return 'the signature is malformed';
  return {
    tbs: bytes(cert.tbsCertificateRaw),
    issuer: bytes(tbs.issuerRaw),
    subject: bytes(tbs.subjectRaw),
    publicKeyInfo: bytes(tbs.subjectPublicKeyInfoRaw),
    publicKeyAlgorithm: tbs.subjectPublicKeyInfo.algorithm,
    signatureAlgorithm: cert.signatureAlgorithm,
    signature: bytes(cert.signatureValue.value),
  };
}

/** The library types a raw field as an ArrayBuffer and may hand back a view into the input. */
const bytes = (raw: ArrayBuffer | ArrayBufferView): Uint8Array =>
  ArrayBuffer.isView(raw) ? new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength) : new Uint8Array(raw);

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
  const pkcs1 = PKCS1_SIGNATURES[alg.algorithm];
  if (pkcs1) return { family: 'pkcs1', hash: pkcs1, verify: { name: 'RSASSA-PKCS1-v1_5' } };
  const ecdsa = ECDSA_SIGNATURES[alg.algorithm];
  if (ecdsa) return { family: 'ecdsa', hash: ecdsa, verify: { name: 'ECDSA', hash: ecdsa } };
  if (alg.algorithm === OIDS.rsassaPss) {
    const pss = pssParameters(alg.parameters);
    if (typeof pss === 'string') return pss;
    return { family: 'pss', hash: pss.hash, verify: { name: 'RSA-PSS', saltLength: pss.saltLength } };
  }
  return `unsupported signature algorithm ${algorithmName(alg.algorithm)}`;
}

/**
 * RSASSA-PSS-params (RFC 4055 §3.1), as @peculiar/asn1-rsa declares them but
 * without the SHA-1 defaults, which are not supported here anyway: an absent
 * hash stays undefined. Integers decode to a number (a string from 4 bytes on).
 */
class RsaSsaPssParams {
  hashAlgorithm?: AlgorithmIdentifier;
  maskGenAlgorithm?: AlgorithmIdentifier;
  saltLength: number | string = 20;
  trailerField: number | string = 1;
  /** A field RFC 4055 does not define; named only to be refused. */
  unexpected?: ArrayBuffer;
}
AsnProp({ type: AlgorithmIdentifier, context: 0, optional: true })(RsaSsaPssParams.prototype, 'hashAlgorithm');
AsnProp({ type: AlgorithmIdentifier, context: 1, optional: true })(RsaSsaPssParams.prototype, 'maskGenAlgorithm');
AsnProp({ type: AsnPropTypes.Integer, context: 2, defaultValue: 20 })(RsaSsaPssParams.prototype, 'saltLength');
AsnProp({ type: AsnPropTypes.Integer, context: 3, defaultValue: 1 })(RsaSsaPssParams.prototype, 'trailerField');
AsnProp({ type: AsnPropTypes.Any, optional: true })(RsaSsaPssParams.prototype, 'unexpected');

/** More than any RSA key leaves room for; a larger salt length is refused as unsupported. */
const MAX_SALT_LENGTH = 0x7fff;

/**
 * WebCrypto uses one hash for the digest and for MGF1, so parameters naming
 * two are not supported; neither is the SHA-1 default.
 */
function pssParameters(parameters: ArrayBuffer | null | undefined): { hash: Hash; saltLength: number } | string {
  const unsupported = 'unsupported RSA-PSS parameters';
  const pss = parameters ? parseOrNull(parameters, RsaSsaPssParams) : null;
  if (!pss || pss.unexpected !== undefined) return unsupported;
  const hash = HASHES[pss.hashAlgorithm?.algorithm ?? ''];
  const mgf = pss.maskGenAlgorithm;
  const mgfHash = mgf?.algorithm === OIDS.mgf1 && mgf.parameters ? HASHES[parseOrNull(mgf.parameters, AlgorithmIdentifier)?.algorithm ?? ''] : undefined;
  if (!hash || mgfHash !== hash) return unsupported;
  // trailerField: only 1 (0xBC) is defined.
  if (pss.trailerField !== 1) return unsupported;
  const { saltLength } = pss;
  if (typeof saltLength !== 'number' || saltLength < 0 || saltLength > MAX_SALT_LENGTH) return unsupported;
  return { hash, saltLength };
}

const MISMATCHED_KEY = 'mismatched';

/** ECParameters (RFC 5480 §2.1.1): of its three choices, only namedCurve is supported. */
class EcParameters {
  namedCurve = '';
}
AsnType({ type: AsnTypeTypes.Choice })(EcParameters);
AsnProp({ type: AsnPropTypes.ObjectIdentifier })(EcParameters.prototype, 'namedCurve');

/** The issuer's key, imported for the child's signature scheme; a string when it cannot be. */
async function importIssuerKey(
  spki: Uint8Array,
  keyAlgorithm: AlgorithmIdentifier,
  scheme: SignatureScheme,
): Promise<{ key: CryptoKey; fieldBytes: number } | string> {
  let params: { name: string; hash: Hash } | { name: string; namedCurve: string };
  let fieldBytes = 0;
  if (keyAlgorithm.algorithm === OIDS.rsaEncryption) {
    if (scheme.family === 'ecdsa') return MISMATCHED_KEY;
    params = { name: scheme.family === 'pss' ? 'RSA-PSS' : 'RSASSA-PKCS1-v1_5', hash: scheme.hash };
  } else if (keyAlgorithm.algorithm === OIDS.ecPublicKey) {
    if (scheme.family !== 'ecdsa') return MISMATCHED_KEY;
    const curveOid = keyAlgorithm.parameters ? parseOrNull(keyAlgorithm.parameters, EcParameters)?.namedCurve : undefined;
    const curve = curveOid ? CURVES[curveOid] : undefined;
    if (!curve) return `unsupported EC curve ${curveOid ?? '(not a named curve)'}`;
    params = { name: 'ECDSA', namedCurve: curve.name };
    fieldBytes = curve.bytes;
  } else {
    return `unsupported public key algorithm ${algorithmName(keyAlgorithm.algorithm)}`;
  }
  try {
    return { key: await crypto.subtle.importKey('spki', spki, params, false, ['verify']), fieldBytes };
  } catch {
    return 'its public key cannot be imported';
  }
}

/** ECDSA-Sig-Value (RFC 3279 §2.2.3), as @peculiar/asn1-ecc declares it: r and s as the INTEGERs' content bytes. */
class EcdsaSigValue {
  r = new ArrayBuffer(0);
  s = new ArrayBuffer(0);
  /** A third element; named only to be refused. */
  unexpected?: ArrayBuffer;
}
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(EcdsaSigValue.prototype, 'r');
AsnProp({ type: AsnPropTypes.Integer, converter: AsnIntegerArrayBufferConverter })(EcdsaSigValue.prototype, 's');
AsnProp({ type: AsnPropTypes.Any, optional: true })(EcdsaSigValue.prototype, 'unexpected');

/**
 * X.509 carries an ECDSA signature as DER `SEQUENCE { r INTEGER, s INTEGER }`;
 * WebCrypto wants r and s as fixed-size big-endian halves.
 */
export function ecdsaRawSignature(der: Uint8Array, fieldBytes: number): Uint8Array | null {
  const decoded = decode(der, EcdsaSigValue, 'ECDSA signature');
  if (!decoded.ok || decoded.value.unexpected !== undefined) return null;
  const raw = new Uint8Array(fieldBytes * 2);
  for (const [k, half] of [decoded.value.r, decoded.value.s].entries()) {
    let value = bytes(half);
    // A positive INTEGER may carry one leading zero byte; r and s are never negative.
    if (value.length === 0 || value[0] & 0x80) return null;
    while (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > fieldBytes) return null;
    raw.set(value, (k + 1) * fieldBytes - value.length);
  }
  return raw;
}

// ---------------------------------------------------------------------------
// Helpers

/**
 * A field the library kept as bytes (an AlgorithmIdentifier's parameters),
 * decoded with a schema; null when it does not fit. Such bytes are exactly
 * one element, so there is no framing to check.
 */
function parseOrNull<T>(der: ArrayBuffer, type: new () => T): T | null {
  try {
    return AsnParser.parse(der, type);
  } catch {
    return null;
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
