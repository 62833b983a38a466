import type { TrustedContext } from '../../protocol/ports';
import { parseCidr, parseIp } from '../blocklist';
import type { AuthProvider, ConnectAttempt, ProviderAnswer, TopicRules } from '../provider';
import type { RefusalCode } from '../reasons';
import type { ProviderSettings } from '../settings';
import {
  readClientCertificate,
  readForwardedClientCertificate,
  type ChainCertificate,
  type ClientCertificate,
  type ClientCertificateResult,
  type ReadOptions,
} from '../x509/client-certificate';
import { verifyIssuerPath, type IssuerPath } from '../x509/issuer-path';
import type { RevocationList } from '../x509/revocation';

/** A certificate-chain credential (TBMQ's X.509 chain credentials), as stored in D1. */
export interface X509ChainCredential {
  id: string;
  /**
   * Matched against the CN of the leaf, then of its issuer when the chain
   * carries it and it verifiably issued the leaf. Certificates higher up are
   * not matched: nothing proves them genuine (see issuer-path.ts).
   */
  cnPattern: string;
  /** When true, cnPattern is a regex that must match the whole CN; otherwise it is the exact CN. */
  cnIsRegex: boolean;
  /** Client ids this credential may connect as; null allows any. */
  allowedClientIds: string[] | null;
  /** The first rule whose cnPattern (a regex, whole-CN match) matches the leaf CN gives its topic rules. */
  cnRules: Array<{ cnPattern: string; publish: string[]; subscribe: string[] }>;
}

/** Where X.509 credentials and our revocation entries come from (D1 in production). */
export interface X509CredentialSource {
  listChainCredentials(): Promise<X509ChainCredential[]>;
  revocations(): Promise<RevocationList>;
}

export type X509ProviderConfig = Pick<ProviderSettings['x509'], 'requireCertificate' | 'useIdentityAsUsername'> & {
  /** Proxies (IPs or CIDRs) whose RFC 9440 Client-Cert headers are believed. */
  trustedProxies?: string[];
};

export interface X509ProviderOptions {
  clock?: { now(): number };
  limits?: ReadOptions;
}

type X509RefusalCode = Extract<
  RefusalCode,
  | 'SSL_HANDLER_NOT_CONSTRUCTED'
  | 'NO_CERTIFICATES_IN_CHAIN'
  | 'PEER_IDENTITY_NOT_VERIFIED'
  | 'X509_AUTHENTICATION_FAILURE'
  | 'CERTIFICATE_REVOKED'
  | 'CANNOT_PARSE_SSL_CREDENTIALS'
  | 'FAILED_TO_GET_CERT_CN'
  | 'NO_MATCHING_X509_CREDENTIALS'
  | 'FAILED_TO_GET_CLIENT_CERT_CN'
  | 'NO_AUTHORIZATION_RULES_FOR_CN'
  | 'CLIENT_ID_NOT_OWNED'
>;

/**
 * Client certificates (mTLS), as TBMQ's X.509 certificate-chain credentials
 * with mosquitto's require_certificate and use_identity_as_username:
 *
 *   connection has TLS -> a certificate was presented -> the platform verified
 *   it -> it parses -> nobody revoked anything the client sent, and all of it
 *   is within its dates -> the issuer path is found among what was sent ->
 *   a credential matches the CN of the leaf or of its issuer (leaf first) ->
 *   the leaf has a CN -> the credential has rules for that CN -> the
 *   credential may use this client id.
 *
 * The platform verifies the leaf only; the rest of the chain is whatever the
 * client sent (see issuer-path.ts), so a certificate the client appended or
 * forged itself must never be matched.
 *
 * Without requireCertificate, a client with no TLS or no certificate is not
 * this provider's business ("skip"); with it, it is refused.
 */
export function createX509Provider(config: X509ProviderConfig, source: X509CredentialSource, options: X509ProviderOptions = {}): AuthProvider {
  const clock = options.clock ?? Date;
  const proxies = (config.trustedProxies ?? []).map(parseCidr).filter((c) => c !== null);
  const patterns = new PatternCache();

  const notPresented = (code: 'SSL_HANDLER_NOT_CONSTRUCTED' | 'NO_CERTIFICATES_IN_CHAIN', detail: string): ProviderAnswer =>
    config.requireCertificate ? refuse(code, detail) : { kind: 'skip' };

  return {
    type: 'x509',
    async authenticate(attempt): Promise<ProviderAnswer> {
      const read = await readCertificate(attempt.trusted, proxies, options.limits);
      if (read === 'no-tls') return notPresented('SSL_HANDLER_NOT_CONSTRUCTED', 'the client connected without TLS');
      if (read === 'no-mtls') return notPresented('NO_CERTIFICATES_IN_CHAIN', 'no client certificate information for this connection (mTLS is not enabled for the hostname)');

      const status = read.ok ? read.certificate : read.status;
      if (status) {
        if (!status.presented) return notPresented('NO_CERTIFICATES_IN_CHAIN', 'the client presented no certificate');
        if (status.verification === 'NONE') return refuse('PEER_IDENTITY_NOT_VERIFIED', 'a certificate was presented but not verified (certVerified NONE)');
        if (status.verification === 'FAILED') return refuse('X509_AUTHENTICATION_FAILURE', `certificate verification failed: ${status.verificationFailure}`);
        if (status.revokedByPlatform) return refuse('CERTIFICATE_REVOKED', 'the platform reports the certificate as revoked (certRevoked 1)');
      }
      if (!read.ok) return refuse('CANNOT_PARSE_SSL_CREDENTIALS', read.error);
      const cert = read.certificate;

      // Anything the client sent counts against it: a revoked or expired certificate refuses it wherever it sits
      // in the chain, so sending the chain out of order or padded cannot hide its revoked CA.
      const revoked = checkRevocation(cert.chain, await source.revocations());
      if (revoked) return revoked;
      const expired = checkValidity(cert.chain, clock.now());
      if (expired) return expired;

      // What is not on the verified issuer path is the client's say-so: it is never matched.
      const path = await verifyIssuerPath(cert.chain.map((c) => c.der));
      const verified = path.order.map((i) => cert.chain[i]);

      // Of the verified path, only the leaf and its issuer are proven genuine: only they may be matched.
      const proven = verified.slice(0, path.proven);
      const notes = [unprovenNote(verified, path), brokenLinkNote(cert.chain, path)].filter((n) => n !== null);
      return matchCredential(attempt, cert, proven, notes, await source.listChainCredentials(), patterns, config);
    },
  };
}

async function readCertificate(
  trusted: TrustedContext,
  proxies: Array<{ bits: bigint; mask: bigint; v6: boolean }>,
  limits: ReadOptions | undefined,
): Promise<ClientCertificateResult | 'no-tls' | 'no-mtls'> {
  // Client-Cert headers are anyone's to write; only a configured proxy's are believed (RFC 9440 §4).
  const forwarded = trusted.forwardedClientCert;
  if (forwarded && fromTrustedProxy(trusted.ip, proxies)) return readForwardedClientCertificate(forwarded, limits);
  if (!trusted.tls) return 'no-tls';
  if (!trusted.tlsClientAuth) return 'no-mtls';
  return readClientCertificate(trusted.tlsClientAuth, limits);
}

function fromTrustedProxy(ip: string, proxies: Array<{ bits: bigint; mask: bigint; v6: boolean }>): boolean {
  if (proxies.length === 0) return false;
  const addr = parseIp(ip);
  return addr !== null && proxies.some((p) => p.v6 === addr.v6 && (addr.bits & p.mask) === p.bits);
}

function checkRevocation(chain: ChainCertificate[], list: RevocationList): ProviderAnswer | null {
  for (const [k, c] of chain.entries()) {
    const match = list.isRevoked(c);
    if (!match) continue;
    const which = k === 0 ? 'the client certificate' : `chain certificate "${c.subjectDN}"`;
    const how = match.by === 'fingerprint' ? `SHA-256 fingerprint ${c.fingerprintSHA256}` : `serial ${c.serial} from "${c.issuerDN}"`;
    return refuse('CERTIFICATE_REVOKED', `${which} is revoked (${how}${match.label ? `; ${match.label}` : ''})`);
  }
  return null;
}

function checkValidity(chain: ChainCertificate[], now: number): ProviderAnswer | null {
  for (const [k, c] of chain.entries()) {
    const which = k === 0 ? 'the client certificate' : `chain certificate "${c.subjectDN}"`;
    if (c.notAfter !== null && now > c.notAfter) return refuse('X509_AUTHENTICATION_FAILURE', `${which} has expired (${new Date(c.notAfter).toISOString()})`);
    if (c.notBefore !== null && now < c.notBefore) return refuse('X509_AUTHENTICATION_FAILURE', `${which} is not yet valid (${new Date(c.notBefore).toISOString()})`);
  }
  return null;
}

/** A DN the client wrote itself, cut so that the explanation after it survives the refusal log's length limit. */
const quotedDn = (dn: string) => `"${dn.length > 256 ? `${dn.slice(0, 256)}…` : dn}"`;

/** For operators: why the chain was cut, or null when it was not. */
function brokenLinkNote(chain: ChainCertificate[], path: IssuerPath): string | null {
  if (!path.broken) return null;
  const { index, failure } = path.broken;
  const verdict = failure.kind === 'not-issuer' ? 'was not' : 'was not shown to be';
  return `chain certificate ${quotedDn(chain[index].subjectDN)} ${verdict} the issuer of the one before it (${failure.reason})`;
}

/** For operators: the first verified certificate that was still not matched, or null. */
function unprovenNote(verified: ChainCertificate[], path: IssuerPath): string | null {
  if (verified.length <= path.proven) return null;
  return `chain certificate ${quotedDn(verified[path.proven].subjectDN)} was not matched: above the client certificate's issuer, a valid signature does not show a certificate is genuine`;
}

/** `chain` holds only the certificates that may be matched; `notes` say why the rest of what the client sent was left out. */
function matchCredential(
  attempt: ConnectAttempt,
  cert: ClientCertificate,
  chain: ChainCertificate[],
  notes: string[],
  credentials: X509ChainCredential[],
  patterns: PatternCache,
  config: X509ProviderConfig,
): ProviderAnswer {
  const withNotes = (detail: string) => [detail, ...notes].join('; ');
  const cns = chain.map((c) => c.cn).filter((cn): cn is string => cn !== null);
  if (cns.length === 0) return refuse('FAILED_TO_GET_CERT_CN', withNotes(`no certificate in the chain has a Common Name (leaf "${cert.subjectDN}")`));

  const invalid = new Set<string>();
  let matched: { credential: X509ChainCredential; cn: string } | null = null;
  for (const cn of cns) {
    // A credential naming the CN exactly is more specific than any pattern, so it wins at the same chain level.
    const exact = credentials.find((k) => !k.cnIsRegex && k.cnPattern === cn);
    const credential =
      exact ??
      credentials.find((k) => {
        if (!k.cnIsRegex) return false;
        const re = patterns.get(k.cnPattern);
        if (!re) invalid.add(k.id);
        return re !== null && re.test(cn);
      });
    if (credential) {
      matched = { credential, cn };
      break;
    }
  }
  if (!matched) {
    let detail = `no X.509 credential matches the chain's CNs ${cns.map((cn) => JSON.stringify(cn)).join(', ')}`;
    if (invalid.size > 0) detail += `; ignored credentials with an invalid CN pattern: ${[...invalid].join(', ')}`;
    if (!cert.chainComplete) detail += '; the intermediates were not available (chain over the platform size limit)';
    return refuse('NO_MATCHING_X509_CREDENTIALS', withNotes(detail));
  }

  const { credential } = matched;
  const leafCn = chain[0]?.cn ?? null;
  if (leafCn === null) {
    return refuse('FAILED_TO_GET_CLIENT_CERT_CN', `credential ${credential.id} matched "${matched.cn}" but the client certificate "${cert.subjectDN}" has no Common Name`);
  }

  const invalidRules: string[] = [];
  const rule = credential.cnRules.find((r) => {
    const re = patterns.get(r.cnPattern);
    if (!re) invalidRules.push(r.cnPattern);
    return re !== null && re.test(leafCn);
  });
  if (!rule) {
    let detail = `credential ${credential.id} has no rules for CN "${leafCn}"`;
    if (invalidRules.length > 0) detail += `; ignored invalid rule patterns: ${invalidRules.map((p) => JSON.stringify(p.slice(0, 64))).join(', ')}`;
    return refuse('NO_AUTHORIZATION_RULES_FOR_CN', detail);
  }

  if (credential.allowedClientIds !== null && !credential.allowedClientIds.includes(attempt.clientId)) {
    return refuse('CLIENT_ID_NOT_OWNED', `credential ${credential.id} (CN "${leafCn}") may not use client id "${attempt.clientId}"`);
  }

  return {
    kind: 'accept',
    identity: {
      provider: 'x509',
      credentialId: credential.id,
      username: config.useIdentityAsUsername ? leafCn : attempt.username,
      cn: leafCn,
      rules: substituteCn(rule, leafCn),
    },
  };
}

/** `${cn}` in topic rules becomes the leaf CN, escaped: the rules are regexes and a CN may contain "." or "+". */
export function substituteCn(rule: { publish: string[]; subscribe: string[] }, cn: string): TopicRules {
  const escaped = escapeRegex(cn);
  const fill = (patterns: string[]) => patterns.map((p) => p.replaceAll('${cn}', escaped));
  return { publish: fill(rule.publish), subscribe: fill(rule.subscribe) };
}

/** Escapes only syntax characters, so the result also compiles with the `u` flag. */
export function escapeRegex(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

/**
 * Operator regexes, compiled once and anchored to the whole CN. An invalid
 * pattern matches nothing (rather than everything) and is remembered as
 * invalid so it is not recompiled on every CONNECT.
 */
class PatternCache {
  private static readonly MAX = 1024;
  private readonly compiled = new Map<string, RegExp | null>();

  get(source: string): RegExp | null {
    const hit = this.compiled.get(source);
    if (hit !== undefined) return hit;
    let re: RegExp | null;
    try {
      re = new RegExp(`^(?:${source})$`);
    } catch {
      re = null;
    }
    if (this.compiled.size >= PatternCache.MAX) this.compiled.clear();
    this.compiled.set(source, re);
    return re;
  }
}

function refuse(code: X509RefusalCode, detail: string): ProviderAnswer {
  return { kind: 'refuse', refusal: { code, detail } };
}
