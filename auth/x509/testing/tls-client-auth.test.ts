import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readClientCertificate } from '../client-certificate';
import { standardPki, type PkiCert, type StandardPki } from './openssl-pki';
import { CHAIN_RFC9440_LIMIT, forwardedClientCertFromPem, noClientCertificate, opensslTime, tlsClientAuthFromPem } from './tls-client-auth';

let s: StandardPki;
beforeAll(() => {
  s = standardPki();
}, 60_000);
afterAll(() => s?.pki.cleanup());

const after = (text: string) => text.replace(/^[^=]*=\s?/, '');
const b64 = (c: PkiCert) => Buffer.from(c.der).toString('base64');

describe('tlsClientAuthFromPem builds what the platform supplies', () => {
  it('fills every field with a string that agrees with openssl', async () => {
    const fields = await tlsClientAuthFromPem(s.device.pem, s.intermediate.pem);
    const lines = (text: string) => new Map(text.split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as const));
    const rfc = lines(s.pki.x509(s.device, '-subject', '-issuer', '-serial', '-startdate', '-enddate', '-fingerprint', '-sha256', '-nameopt', 'RFC2253'));
    const compat = lines(s.pki.x509(s.device, '-subject', '-issuer', '-fingerprint', '-sha1', '-nameopt', 'compat'));
    const hex = (fp: string | undefined) => fp!.replaceAll(':', '').toLowerCase();
    expect(Object.values(fields).every((v) => typeof v === 'string')).toBe(true);
    expect(fields).toMatchObject({
      certPresented: '1',
      certVerified: 'SUCCESS',
      certRevoked: '0',
      certSubjectDN: rfc.get('subject'),
      certIssuerDN: rfc.get('issuer'),
      certSubjectDNRFC2253: rfc.get('subject'),
      certIssuerDNRFC2253: rfc.get('issuer'),
      certSubjectDNLegacy: compat.get('subject'),
      certIssuerDNLegacy: compat.get('issuer'),
      // DER keeps a sign octet before 0x8F, as the platform's serials do.
      certSerial: `00${rfc.get('serial')}`,
      certFingerprintSHA1: hex(compat.get('sha1 Fingerprint')),
      certFingerprintSHA256: hex(rfc.get('sha256 Fingerprint')),
      certNotBefore: rfc.get('notBefore'),
      certNotAfter: rfc.get('notAfter'),
      certRFC9440: `:${b64(s.device)}:`,
      certRFC9440TooLarge: '0',
      certChainRFC9440: `:${b64(s.intermediate)}:`,
      certChainRFC9440TooLarge: '0',
    });
    const ext = s.pki.openssl(['x509', '-in', s.device.certPath, '-noout', '-ext', 'subjectKeyIdentifier,authorityKeyIdentifier']);
    const ids = [...ext.matchAll(/^\s+(?:keyid:)?([0-9A-F]{2}(?::[0-9A-F]{2})+)\s*$/gm)].map((m) => m[1]);
    expect([fields.certSKI, fields.certIssuerSKI]).toEqual(ids);
  });

  it('writes legacy DNs and dates exactly as openssl prints them', async () => {
    const fields = await tlsClientAuthFromPem(s.tricky.pem);
    expect(fields.certSubjectDNLegacy).toBe(after(s.pki.x509(s.tricky, '-subject', '-nameopt', 'compat')));
    const expired = await tlsClientAuthFromPem(s.expired.pem);
    expect(expired.certNotBefore).toBe('Jan  1 00:00:00 2020 GMT');
    expect(expired.certNotBefore).toBe(after(s.pki.x509(s.expired, '-startdate')));
    expect(opensslTime(new Date(Date.UTC(2018, 11, 22, 19, 39)))).toBe('Dec 22 19:39:00 2018 GMT');
  });

  it('takes the chain from a full-chain PEM and extra PEMs, in order, and applies overrides', async () => {
    const fields = await tlsClientAuthFromPem(`${s.device.pem}${s.intermediate.pem}`, [s.root.pem], { certVerified: 'FAILED:certificate has expired' });
    expect(fields.certChainRFC9440).toBe(`:${b64(s.intermediate)}:, :${b64(s.root)}:`);
    expect(fields.certVerified).toBe('FAILED:certificate has expired');
    const cert = await readClientCertificate(fields);
    expect(cert.ok && cert.certificate.chain.map((c) => c.cn)).toEqual(['device-001', 'Fleet Intermediate CA', 'EdgeMQ Test Root']);
  });

  it('drops a chain over the platform limit and sets the flag, as the platform does', async () => {
    const many = Array.from({ length: Math.ceil(CHAIN_RFC9440_LIMIT / (b64(s.intermediate).length + 4)) + 1 }, () => s.intermediate.pem);
    const fields = await tlsClientAuthFromPem(s.device.pem, many);
    expect(fields.certChainRFC9440).toBe('');
    expect(fields.certChainRFC9440TooLarge).toBe('1');
  });

  it('refuses PEM text without a certificate', async () => {
    await expect(tlsClientAuthFromPem('nothing here')).rejects.toThrow(/no CERTIFICATE block/);
  });

  it('gives the placeholder values for a client without a certificate', () => {
    const none = noClientCertificate();
    expect(none.certPresented).toBe('0');
    expect(none.certVerified).toBe('NONE');
    expect(Object.values(none).every((v) => typeof v === 'string')).toBe(true);
  });

  it('builds RFC 9440 proxy headers', () => {
    expect(forwardedClientCertFromPem(s.device.pem, s.intermediate.pem)).toEqual({ cert: `:${b64(s.device)}:`, chain: `:${b64(s.intermediate)}:` });
    expect(forwardedClientCertFromPem(s.device.pem)).toEqual({ cert: `:${b64(s.device)}:`, chain: null });
  });
});
