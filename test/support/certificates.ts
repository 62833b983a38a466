import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Real X.509 material made with the openssl CLI, and the `tlsClientAuth`
 * object exactly as Cloudflare supplies it for such a certificate: every value
 * a string, the certificate and its chain as RFC 9440 byte sequences.
 */
export interface Cert {
  name: string;
  pem: string;
  der: Buffer;
  keyPath: string;
  certPath: string;
}

export class CertificateFactory {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-certs-'));

  private run(args: string[]): string {
    return execFileSync('/usr/bin/openssl', args, { cwd: this.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  private load(name: string): Cert {
    const certPath = path.join(this.dir, `${name}.pem`);
    const pem = readFileSync(certPath, 'utf8');
    const der = Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64');
    return { name, pem, der, keyPath: path.join(this.dir, `${name}.key`), certPath };
  }

  /** A self-signed CA. */
  ca(name: string, subject: string): Cert {
    this.run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '30', '-subj', subject,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    return this.load(name);
  }

  /** A certificate signed by `issuer`; `ca` makes it an intermediate. */
  issue(name: string, subject: string, issuer: Cert, options: { ca?: boolean } = {}): Cert {
    this.run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
    const ext = path.join(this.dir, `${name}.ext`);
    writeFileSync(ext, options.ca ? 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n' : 'basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n');
    this.run(['x509', '-req', '-in', `${name}.csr`, '-CA', issuer.certPath, '-CAkey', issuer.keyPath, '-CAcreateserial', '-out', `${name}.pem`, '-days', '30', '-extfile', ext]);
    return this.load(name);
  }

  field(cert: Cert, flag: string): string {
    return this.run(['x509', '-in', cert.certPath, '-noout', flag]).trim();
  }

  /** `request.cf.tlsClientAuth` for a client that presented `leaf` with `chain` (intermediates), as the platform fills it. */
  tlsClientAuth(leaf: Cert, chain: Cert[], over: Record<string, string> = {}): Record<string, string> {
    const subject = this.field(leaf, '-subject').replace(/^subject=\s*/, '');
    const issuer = this.field(leaf, '-issuer').replace(/^issuer=\s*/, '');
    const rfc2253 = (flag: string) => this.run(['x509', '-in', leaf.certPath, '-noout', flag, '-nameopt', 'RFC2253']).trim().replace(/^(subject|issuer)=\s*/, '');
    const serial = this.field(leaf, '-serial').replace(/^serial=/, '');
    const fp256 = this.field(leaf, '-fingerprint').replace(/^.*=/, '');
    const sha256 = this.run(['x509', '-in', leaf.certPath, '-noout', '-fingerprint', '-sha256']).trim().replace(/^.*=/, '').replaceAll(':', '').toLowerCase();
    const notBefore = this.field(leaf, '-startdate').replace(/^notBefore=/, '');
    const notAfter = this.field(leaf, '-enddate').replace(/^notAfter=/, '');
    return {
      certPresented: '1',
      certVerified: 'SUCCESS',
      certRevoked: '0',
      certSubjectDN: rfc2253('-subject'),
      certIssuerDN: rfc2253('-issuer'),
      certSubjectDNRFC2253: rfc2253('-subject'),
      certIssuerDNRFC2253: rfc2253('-issuer'),
      certSubjectDNLegacy: subject,
      certIssuerDNLegacy: issuer,
      certSerial: serial,
      certIssuerSerial: '',
      certSKI: '',
      certIssuerSKI: '',
      certFingerprintSHA1: fp256.replaceAll(':', '').toLowerCase(),
      certFingerprintSHA256: sha256,
      certNotBefore: notBefore,
      certNotAfter: notAfter,
      certRFC9440: `:${leaf.der.toString('base64')}:`,
      certRFC9440TooLarge: '0',
      certChainRFC9440: chain.map((c) => `:${c.der.toString('base64')}:`).join(','),
      certChainRFC9440TooLarge: '0',
      ...over,
    };
  }

  /** What the platform sends when no certificate was presented. */
  static noCertificate(): Record<string, string> {
    return {
      certPresented: '0', certVerified: 'NONE', certRevoked: '0', certIssuerDN: '', certSubjectDN: '', certIssuerDNRFC2253: '', certSubjectDNRFC2253: '',
      certIssuerDNLegacy: '', certSubjectDNLegacy: '', certSerial: '', certIssuerSerial: '', certSKI: '', certIssuerSKI: '', certFingerprintSHA1: '',
      certFingerprintSHA256: '', certNotBefore: '', certNotAfter: '', certRFC9440: '', certRFC9440TooLarge: '0', certChainRFC9440: '', certChainRFC9440TooLarge: '0',
    };
  }
}

/**
 * Headers that make the local runtime (workerd under wrangler dev) present
 * this `request.cf` to the Worker, which is how the platform's TLS fields are
 * injected end to end. `tlsVersion` "" means the client did not use TLS.
 */
export function cfHeaders(cf: { tlsVersion: string; tlsClientAuth?: Record<string, string> | null; ip?: string }): Record<string, string> {
  const headers: Record<string, string> = {
    'MF-CF-Blob': JSON.stringify({ tlsVersion: cf.tlsVersion, clientAcceptEncoding: 'identity', ...(cf.tlsClientAuth ? { tlsClientAuth: cf.tlsClientAuth } : {}) }),
  };
  if (cf.ip) headers['CF-Connecting-IP'] = cf.ip;
  return headers;
}
