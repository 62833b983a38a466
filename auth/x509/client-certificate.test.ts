import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseByteSequence,
  parseByteSequenceList,
  parsePlatformTime,
  readClientCertificate,
  readForwardedClientCertificate,
  type ClientCertificate,
  type ClientCertificateResult,
} from './client-certificate';
import { sameDn } from './distinguished-name';
import { standardPki, type PkiCert, type StandardPki } from './testing/openssl-pki';

let s: StandardPki;
beforeAll(() => {
  s = standardPki();
  for (const c of [s.device, s.intermediate, s.tricky, s.noCn, s.stranger, s.root]) opensslView(c);
}, 60_000);
afterAll(() => s?.pki.cleanup());

const b64 = (der: Uint8Array) => Buffer.from(der).toString('base64');
const seq = (c: PkiCert) => `:${b64(c.der)}:`;

type OpensslView = Record<'subject' | 'issuer' | 'legacySubject' | 'legacyIssuer' | 'serial' | 'sha256' | 'notBefore' | 'notAfter', string>;
const views = new Map<PkiCert, OpensslView>();

/** What openssl says about a certificate, to compare the parser against (two openssl runs per certificate). */
function opensslView(c: PkiCert): OpensslView {
  const cached = views.get(c);
  if (cached) return cached;
  const lines = (text: string) => new Map(text.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
  const main = lines(s.pki.x509(c, '-subject', '-issuer', '-serial', '-startdate', '-enddate', '-fingerprint', '-sha256', '-nameopt', 'RFC2253'));
  const compat = lines(s.pki.x509(c, '-subject', '-issuer', '-nameopt', 'compat'));
  const view = {
    subject: main.get('subject')!,
    issuer: main.get('issuer')!,
    legacySubject: compat.get('subject')!,
    legacyIssuer: compat.get('issuer')!,
    serial: main.get('serial')!,
    sha256: main.get('sha256 Fingerprint')!.replaceAll(':', '').toLowerCase(),
    notBefore: main.get('notBefore')!,
    notAfter: main.get('notAfter')!,
  };
  views.set(c, view);
  return view;
}

/** request.cf.tlsClientAuth as the platform fills it, built from openssl's output alone. */
function platformFields(leaf: PkiCert, chain: PkiCert[], over: Record<string, string> = {}): Record<string, string> {
  const v = opensslView(leaf);
  return {
    certPresented: '1',
    certVerified: 'SUCCESS',
    certRevoked: '0',
    certSubjectDN: v.subject,
    certIssuerDN: v.issuer,
    certSubjectDNRFC2253: v.subject,
    certIssuerDNRFC2253: v.issuer,
    certSubjectDNLegacy: v.legacySubject,
    certIssuerDNLegacy: v.legacyIssuer,
    // The platform keeps the DER sign octet: "00936EACBE07F201DF".
    certSerial: (/^[89A-F]/.test(v.serial) ? '00' : '') + v.serial,
    certIssuerSerial: '',
    certSKI: '',
    certIssuerSKI: '',
    certFingerprintSHA1: '',
    certFingerprintSHA256: v.sha256,
    certNotBefore: v.notBefore,
    certNotAfter: v.notAfter,
    certRFC9440: seq(leaf),
    certRFC9440TooLarge: '0',
    certChainRFC9440: chain.map(seq).join(', '),
    certChainRFC9440TooLarge: '0',
    ...over,
  };
}

function ok(result: ClientCertificateResult): ClientCertificate {
  if (!result.ok) throw new Error(`expected a certificate, got: ${result.error}`);
  return result.certificate;
}

function expectMatchesOpenssl(actual: { subjectDN: string; issuerDN: string; serial: string | null; fingerprintSHA256: string | null; notBefore: number | null; notAfter: number | null }, c: PkiCert) {
  const v = opensslView(c);
  expect(sameDn(actual.subjectDN, v.subject), `${actual.subjectDN} vs ${v.subject}`).toBe(true);
  expect(sameDn(actual.issuerDN, v.issuer), `${actual.issuerDN} vs ${v.issuer}`).toBe(true);
  expect(actual.serial).toBe(v.serial.replace(/^0+/, ''));
  expect(actual.fingerprintSHA256).toBe(v.sha256);
  expect(actual.notBefore).toBe(Date.parse(v.notBefore));
  expect(actual.notAfter).toBe(Date.parse(v.notAfter));
}

describe('readClientCertificate from the platform fields', () => {
  it('decodes the leaf and the intermediates from the RFC 9440 fields', async () => {
    const cert = ok(await readClientCertificate(platformFields(s.device, [s.intermediate])));
    expect(cert).toMatchObject({ presented: true, verification: 'SUCCESS', verificationFailure: null, revokedByPlatform: false, detail: 'der', chainComplete: true });
    expect(cert.subjectDN).toBe('CN=device-001,O=Acme\\, Inc.,C=US');
    expect(cert.issuerDN).toBe('CN=Fleet Intermediate CA,O=EdgeMQ Test');
    expect(cert.cn).toBe('device-001');
    expect(cert.serial).toBe('8F01');
    expectMatchesOpenssl(cert, s.device);
    expect(cert.chain).toHaveLength(2);
    expect(cert.chain[0]).toMatchObject({ subjectDN: cert.subjectDN, cn: 'device-001', serial: '8F01' });
    expect(cert.chain[1].cn).toBe('Fleet Intermediate CA');
    expectMatchesOpenssl(cert.chain[1], s.intermediate);
  });

  it('reads a CN full of DN and regex specials and a UTF-8 character exactly', async () => {
    const cert = ok(await readClientCertificate(platformFields(s.tricky, [s.intermediate])));
    expect(cert.cn).toBe('dév.1+"a,b"/c #x ');
    expectMatchesOpenssl(cert, s.tricky);
  });

  it('reports a leaf without CN as cn null', async () => {
    const cert = ok(await readClientCertificate(platformFields(s.noCn, [s.intermediate])));
    expect(cert.cn).toBeNull();
    expect(cert.subjectDN).toBe('OU=No Common Name,O=Acme');
  });

  it('reads the verification result, the failure reason and the platform revocation flag', async () => {
    const failed = ok(await readClientCertificate(platformFields(s.stranger, [], { certVerified: 'FAILED:self signed certificate in certificate chain', certRevoked: '1' })));
    expect(failed).toMatchObject({ verification: 'FAILED', verificationFailure: 'self signed certificate in certificate chain', revokedByPlatform: true });
    expect(ok(await readClientCertificate(platformFields(s.device, [], { certVerified: 'FAILED' }))).verificationFailure).toBe('unspecified');
    expect(ok(await readClientCertificate(platformFields(s.device, [], { certVerified: 'NONE' }))).verification).toBe('NONE');
    // "0" is a non-empty string: it must read as not revoked.
    expect(ok(await readClientCertificate(platformFields(s.device, [], { certRevoked: '0' }))).revokedByPlatform).toBe(false);
  });

  it('answers "not presented" for the platform placeholder values', async () => {
    const placeholder = Object.fromEntries(Object.keys(platformFields(s.device, [])).map((k) => [k, k.endsWith('TooLarge') || k === 'certPresented' || k === 'certRevoked' ? '0' : '']));
    const cert = ok(await readClientCertificate({ ...placeholder, certVerified: 'NONE' }));
    expect(cert).toMatchObject({ presented: false, verification: 'NONE', chain: [], detail: 'none', cn: null });
  });

  it('describes the leaf from the DN strings when the platform dropped it as too large', async () => {
    const fields = platformFields(s.device, [s.intermediate], { certRFC9440: '', certRFC9440TooLarge: '1' });
    const cert = ok(await readClientCertificate(fields));
    expect(cert.detail).toBe('dn');
    expect(cert.cn).toBe('device-001');
    expectMatchesOpenssl(cert, s.device);
    // The intermediates still come from certChainRFC9440.
    expect(cert.chain.map((c) => c.cn)).toEqual(['device-001', 'Fleet Intermediate CA']);
  });

  it('falls back to the legacy DN strings when nothing else is there', async () => {
    const fields = platformFields(s.tricky, [], { certRFC9440: '', certSubjectDN: '', certSubjectDNRFC2253: '', certIssuerDN: '', certIssuerDNRFC2253: '' });
    const cert = ok(await readClientCertificate(fields));
    expect(cert.detail).toBe('dn');
    expect(fields.certSubjectDNLegacy).toBe('/O=Acme/CN=d\\xC3\\xA9v.1\\+"a,b"\\/c #x ');
    expect(cert.cn).toBe('dév.1+"a,b"/c #x ');
    expect(sameDn(cert.issuerDN, opensslView(s.tricky).issuer)).toBe(true);
  });

  it('marks the chain incomplete when the platform dropped the intermediates', async () => {
    const cert = ok(await readClientCertificate(platformFields(s.device, [], { certChainRFC9440TooLarge: '1' })));
    expect(cert.chainComplete).toBe(false);
    expect(cert.chain).toHaveLength(1);
  });

  it('returns a parse error, with the status it could read, for bad certificate data', async () => {
    const device = platformFields(s.device, [s.intermediate]);
    const der = s.device.der;
    const cases: Record<string, Record<string, string>> = {
      'not base64': { certRFC9440: ':not base64 at all!:' },
      'no colons': { certRFC9440: b64(der) },
      'empty sequence': { certRFC9440: '::' },
      'not DER': { certRFC9440: ':AAAA:' },
      'trailing bytes': { certRFC9440: `:${b64(new Uint8Array([...der, 0]))}:` },
      truncated: { certRFC9440: `:${b64(der.subarray(0, der.length - 10))}:` },
      'two leaves': { certRFC9440: `${seq(s.device)}, ${seq(s.device)}` },
      'chain trailing comma': { certChainRFC9440: `${seq(s.intermediate)},` },
      'chain garbage item': { certChainRFC9440: `${seq(s.intermediate)}, :AAAA:` },
      'chain not a list': { certChainRFC9440: `${seq(s.intermediate)} ${seq(s.intermediate)}` },
      'bad serial in DN fallback': { certRFC9440: '', certSerial: 'xyz' },
      'bad subject in DN fallback': { certRFC9440: '', certSubjectDN: 'CN', certSubjectDNRFC2253: 'CN' },
      'nothing to describe the leaf': { certRFC9440: '', certSubjectDN: '', certSubjectDNRFC2253: '', certSubjectDNLegacy: '' },
    };
    for (const [name, over] of Object.entries(cases)) {
      const result = await readClientCertificate({ ...device, ...over });
      expect(result.ok, name).toBe(false);
      if (!result.ok) expect(result.status, name).toEqual({ presented: true, verification: 'SUCCESS', verificationFailure: null, revokedByPlatform: false });
    }
  });

  it('returns a parse error for unreadable status fields and hostile shapes', async () => {
    const device = platformFields(s.device, []);
    const inputs: unknown[] = [
      null,
      undefined,
      'certPresented=1',
      [device],
      { ...device, certPresented: 'yes' },
      { ...device, certPresented: 1 },
      { ...device, certVerified: 'MAYBE' },
      { ...device, certRevoked: 'true' },
      { ...device, certSubjectDN: { toString: () => 'CN=x' } },
      { ...device, certChainRFC9440: 'x'.repeat(20_000) },
    ];
    for (const input of inputs) {
      const result = await readClientCertificate(input);
      expect(result.ok, JSON.stringify(input)?.slice(0, 60)).toBe(false);
      if (!result.ok) expect(result.status).toBeUndefined();
    }
  });

  it('bounds the chain length and the field length', async () => {
    const three = platformFields(s.device, [s.intermediate, s.intermediate, s.intermediate]);
    expect((await readClientCertificate(three, { maxChainLength: 3 })).ok).toBe(false);
    expect((await readClientCertificate(three, { maxChainLength: 4 })).ok).toBe(true);
    const result = await readClientCertificate(three, { maxFieldLength: 100 });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toMatch(/longer than 100 characters/);
  });

  it('never throws on mutated certificates', async () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const der = s.device.der;
    const fields = platformFields(s.device, []);
    let parsed = 0;
    for (let round = 0; round < 300; round++) {
      const bytes = der.slice();
      for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      const result = await readClientCertificate({ ...fields, certRFC9440: `:${b64(bytes)}:` });
      if (result.ok) {
        parsed++;
        expect(typeof result.certificate.subjectDN).toBe('string');
      } else {
        expect(result.error.length).toBeGreaterThan(0);
      }
    }
    // Most single-byte changes land in the key or signature, which a pure decoder accepts.
    expect(parsed).toBeGreaterThan(0);
  });
});

describe('readForwardedClientCertificate (RFC 9440 headers from a trusted proxy)', () => {
  it('reads Client-Cert and Client-Cert-Chain, ignoring parameters, as verified', async () => {
    const cert = ok(await readForwardedClientCertificate({ cert: `${seq(s.device)};via=proxy`, chain: `  ${seq(s.intermediate)};a="x,\\"y";b, ${seq(s.root)}` }));
    expect(cert).toMatchObject({ presented: true, verification: 'SUCCESS', detail: 'der', cn: 'device-001' });
    expect(cert.chain.map((c) => c.cn)).toEqual(['device-001', 'Fleet Intermediate CA', 'EdgeMQ Test Root']);
    expectMatchesOpenssl(cert.chain[2], s.root);
  });

  it('refuses an empty or malformed Client-Cert', async () => {
    for (const headers of [{ cert: '', chain: null }, { cert: 'garbage', chain: null }, { cert: seq(s.device), chain: ':AAAA:' }, null]) {
      expect((await readForwardedClientCertificate(headers as never)).ok).toBe(false);
    }
  });
});

describe('RFC 8941 byte sequences', () => {
  it('reads one item or a list with optional whitespace', () => {
    expect(parseByteSequence(':aGVsbG8=:')).toEqual({ ok: true, value: new TextEncoder().encode('hello') });
    const list = parseByteSequenceList(':YQ==:,\t:Yg==: , :Yw==:', 5);
    expect(list.ok && list.value.map((b) => new TextDecoder().decode(b))).toEqual(['a', 'b', 'c']);
  });

  it('refuses malformed values', () => {
    for (const bad of ['', 'aGVsbG8=', ':aGVsbG8=', ':a b:', ':YQ==:,', ':YQ==: :Yg==:', ':YQ==:;', ':YQ==:;K=1', ':****:']) {
      expect(parseByteSequenceList(bad, 5).ok, bad).toBe(false);
    }
    expect(parseByteSequenceList(':YQ==:,:Yg==:', 1).ok).toBe(false);
  });
});

describe('parsePlatformTime', () => {
  it('reads the platform date format, with one- or two-digit days', () => {
    expect(parsePlatformTime('Dec 22 19:39:00 2018 GMT')).toBe(Date.UTC(2018, 11, 22, 19, 39, 0));
    expect(parsePlatformTime('Jan  1 00:00:00 2020 GMT')).toBe(Date.UTC(2020, 0, 1));
    expect(parsePlatformTime('')).toBeNull();
    expect(parsePlatformTime('2018-12-22T19:39:00Z')).toBeNull();
    expect(parsePlatformTime('Foo 22 19:39:00 2018 GMT')).toBeNull();
  });
});
