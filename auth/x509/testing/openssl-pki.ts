// Test support only, for the unit tests in Node: it drives the openssl CLI.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A small PKI made with the openssl CLI in a temporary directory: CAs with
 * `openssl ca` databases, so certificates can be issued with chosen serials
 * and dates, revoked, and listed in a real CRL. Everything the tests assert
 * about is read back with openssl itself, independently of the code under test.
 */
export interface PkiCert {
  name: string;
  pem: string;
  der: Uint8Array;
  certPath: string;
  keyPath: string;
}

export interface PkiCa extends PkiCert {
  dir: string;
  config: string;
}

const OPENSSL = '/usr/bin/openssl';

/** The key a certificate's holder gets, and how its issuer signs. */
export interface KeyOptions {
  /** Default 'ec-p256'. */
  key?: 'ec-p256' | 'ec-p384' | 'rsa-2048';
  /** Digest the issuer signs with; default sha256 (sha1 only to show it is refused). */
  digest?: 'sha1' | 'sha256' | 'sha384' | 'sha512';
  /** The issuer signs with RSA-PSS instead of PKCS #1 v1.5 (an RSA issuer only). */
  pss?: boolean;
}

export class TestPki {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'edgemq-x509-'));

  openssl(args: string[]): string {
    return execFileSync(OPENSSL, args, { cwd: this.dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  }

  /** A CA: self-signed when no issuer is given, else an intermediate signed by it. */
  ca(name: string, subject: string, issuer?: PkiCa, options: { startDate?: string; endDate?: string } & KeyOptions = {}): PkiCa {
    const keyPath = this.key(name, options.key);
    const certPath = path.join(this.dir, `${name}.pem`);
    if (issuer) {
      this.csr(name, subject);
      this.sign(issuer, name, 'ca_ext', options);
    } else {
      this.openssl(['req', '-x509', '-new', '-key', keyPath, '-out', certPath, '-days', '30', '-subj', subject, '-utf8', ...signingFlags(options, 'req'),
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
    }
    const dir = path.join(this.dir, `${name}-db`);
    mkdirSync(path.join(dir, 'new'), { recursive: true });
    writeFileSync(path.join(dir, 'index.txt'), '');
    writeFileSync(path.join(dir, 'serial'), '1000\n');
    writeFileSync(path.join(dir, 'crlnumber'), '01\n');
    const config = path.join(dir, 'ca.cnf');
    writeFileSync(config, caConfig(dir, certPath, keyPath));
    return { ...this.load(name), dir, config };
  }

  /** A client certificate. `serial` is hex; `startDate`/`endDate` are YYYYMMDDHHMMSSZ. */
  leaf(name: string, subject: string, issuer: PkiCa, options: { serial?: string; startDate?: string; endDate?: string } & KeyOptions = {}): PkiCert {
    this.key(name, options.key);
    this.csr(name, subject);
    if (options.serial) writeFileSync(path.join(issuer.dir, 'serial'), `${options.serial}\n`);
    this.sign(issuer, name, 'leaf_ext', options);
    return this.load(name);
  }

  /**
   * A forgery: a certificate with `subject` and the public key of `keyOf`
   * (whose private key the forger does not have), signed by `signer`, which
   * the forger controls. Its issuer name is the signer's subject.
   */
  forge(name: string, subject: string, keyOf: PkiCert, signer: PkiCert): PkiCert {
    const publicKey = path.join(this.dir, `${name}-forced.pub`);
    this.openssl(['pkey', '-in', keyOf.keyPath, '-pubout', '-out', publicKey]);
    // Any key can sign the request: -force_pubkey puts keyOf's public key in the certificate.
    this.key(name);
    this.csr(name, subject);
    this.openssl(['x509', '-req', '-in', `${name}.csr`, '-force_pubkey', publicKey, '-CA', signer.certPath, '-CAkey', signer.keyPath,
      '-set_serial', '4242', '-days', '30', '-sha256', '-out', `${name}.pem`]);
    return this.load(name);
  }

  revoke(issuer: PkiCa, cert: PkiCert): void {
    this.openssl(['ca', '-config', issuer.config, '-revoke', cert.certPath]);
  }

  /** The issuer's CRL in PEM, listing everything revoked so far. */
  crl(issuer: PkiCa): string {
    const out = path.join(issuer.dir, 'crl.pem');
    this.openssl(['ca', '-config', issuer.config, '-gencrl', '-out', out]);
    return readFileSync(out, 'utf8');
  }

  /** `openssl x509 -noout <flags>` on a certificate, without the final newline (trailing spaces can be data). */
  x509(cert: PkiCert, ...flags: string[]): string {
    return this.openssl(['x509', '-in', cert.certPath, '-noout', ...flags]).replace(/\n$/, '');
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private key(name: string, type: KeyOptions['key'] = 'ec-p256'): string {
    const keyPath = path.join(this.dir, `${name}.key`);
    const params =
      type === 'rsa-2048'
        ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
        : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${type === 'ec-p384' ? 'P-384' : 'P-256'}`];
    this.openssl(['genpkey', ...params, '-out', keyPath]);
    return keyPath;
  }

  private csr(name: string, subject: string): void {
    this.openssl(['req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', subject, '-utf8']);
  }

  private sign(issuer: PkiCa, name: string, extensions: string, options: { startDate?: string; endDate?: string } & KeyOptions = {}): void {
    const dates = [...(options.startDate ? ['-startdate', options.startDate] : []), ...(options.endDate ? ['-enddate', options.endDate] : ['-days', '30'])];
    this.openssl(['ca', '-batch', '-notext', '-preserveDN', '-utf8', '-config', issuer.config, '-extensions', extensions, '-in', `${name}.csr`, '-out', `${name}.pem`,
      ...dates, ...signingFlags(options, 'ca')]);
  }

  private load(name: string): PkiCert {
    const certPath = path.join(this.dir, `${name}.pem`);
    const pem = readFileSync(certPath, 'utf8');
    const der = new Uint8Array(Buffer.from(pem.replace(/-----(BEGIN|END) CERTIFICATE-----|\s+/g, ''), 'base64'));
    return { name, pem, der, certPath, keyPath: path.join(this.dir, `${name}.key`) };
  }
}

/** `openssl ca` names the digest with -md, `openssl req` with a flag of its own. */
function signingFlags(options: KeyOptions, command: 'ca' | 'req'): string[] {
  const digest = !options.digest ? [] : command === 'ca' ? ['-md', options.digest] : [`-${options.digest}`];
  const pss = options.pss ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:digest'] : [];
  return [...digest, ...pss];
}

function caConfig(dir: string, certPath: string, keyPath: string): string {
  return `[ ca ]
default_ca = ca_default

[ ca_default ]
database = ${dir}/index.txt
new_certs_dir = ${dir}/new
serial = ${dir}/serial
crlnumber = ${dir}/crlnumber
certificate = ${certPath}
private_key = ${keyPath}
default_md = sha256
default_days = 30
default_crl_days = 7
policy = policy_any
unique_subject = no
email_in_dn = no

[ policy_any ]
commonName = optional

[ leaf_ext ]
basicConstraints = CA:FALSE
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ ca_ext ]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
`;
}

/** The PKI most X.509 tests need. */
export interface StandardPki {
  pki: TestPki;
  root: PkiCa;
  intermediate: PkiCa;
  /** CN=device-001, serial 8F01 (DER 00 8F 01: a leading zero to strip). */
  device: PkiCert;
  /** O and OU but no CN. */
  noCn: PkiCert;
  /** CN=device-666, revoked in `crlPem`. */
  revoked: PkiCert;
  /** Expired in 2020. */
  expired: PkiCert;
  /** A CN full of characters that need escaping in DNs and regexes. */
  tricky: PkiCert;
  /** Signed by a root nobody configured. */
  stranger: PkiCert;
  otherRoot: PkiCa;
  /** The intermediate's CRL, revoking `revoked`. */
  crlPem: string;
}

export function standardPki(): StandardPki {
  const pki = new TestPki();
  const root = pki.ca('root', '/O=EdgeMQ Test/CN=EdgeMQ Test Root');
  const intermediate = pki.ca('fleet-ca', '/O=EdgeMQ Test/CN=Fleet Intermediate CA', root);
  const device = pki.leaf('device', '/C=US/O=Acme, Inc./CN=device-001', intermediate, { serial: '8F01' });
  const noCn = pki.leaf('nocn', '/O=Acme/OU=No Common Name', intermediate);
  const revoked = pki.leaf('revoked', '/O=Acme/CN=device-666', intermediate, { serial: '0A66' });
  const expired = pki.leaf('expired', '/O=Acme/CN=device-old', intermediate, { startDate: '20200101000000Z', endDate: '20200201000000Z' });
  const tricky = pki.leaf('tricky', '/O=Acme/CN=dév.1\\+"a,b"\\/c #x ', intermediate);
  const otherRoot = pki.ca('other-root', '/CN=Somebody Else Root');
  const stranger = pki.leaf('stranger', '/CN=stranger-1', otherRoot);
  pki.revoke(intermediate, revoked);
  const crlPem = pki.crl(intermediate);
  return { pki, root, intermediate, device, noCn, revoked, expired, tricky, stranger, otherRoot, crlPem };
}
