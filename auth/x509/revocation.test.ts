import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCrlDer, parseCrlPem, RevocationList } from './revocation';
import { standardPki, type StandardPki } from './testing/openssl-pki';

let s: StandardPki;
beforeAll(() => {
  s = standardPki();
}, 60_000);
afterAll(() => s?.pki.cleanup());

describe('parseCrlPem', () => {
  it('reads the issuer, the revoked serials and the update times of a real CRL', () => {
    const result = parseCrlPem(s.crlPem);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.crls).toHaveLength(1);
    const [crl] = result.crls;
    const text = s.pki.openssl(['crl', '-in', `${s.intermediate.dir}/crl.pem`, '-noout', '-text', '-nameopt', 'RFC2253']);
    const issuer = /Issuer: (.*)/.exec(text)![1].trim();
    const serials = [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1].replace(/^0+/, ''));
    const last = /Last Update: (.*)/.exec(text)![1].trim();
    const next = /Next Update: (.*)/.exec(text)![1].trim();
    expect(crl.issuerDN).toBe(issuer);
    expect(crl.issuerDN).toBe('CN=Fleet Intermediate CA,O=EdgeMQ Test');
    expect(crl.revokedSerials).toEqual(serials);
    expect(crl.revokedSerials).toEqual(['A66']);
    expect(crl.thisUpdate).toBe(Date.parse(last));
    expect(crl.nextUpdate).toBe(Date.parse(next));
  });

  it('reads several CRLs from one text and skips other PEM blocks', () => {
    s.pki.revoke(s.otherRoot, s.stranger);
    const other = s.pki.crl(s.otherRoot);
    const emptyCa = s.pki.ca('empty-ca', '/CN=Nothing Revoked CA');
    const empty = s.pki.crl(emptyCa);
    const result = parseCrlPem(`${s.crlPem}\n${s.device.pem}\n${other}\n${empty}`);
    expect(result.ok && result.crls.map((c) => [c.issuerDN, c.revokedSerials])).toEqual([
      ['CN=Fleet Intermediate CA,O=EdgeMQ Test', ['A66']],
      ['CN=Somebody Else Root', [s.pki.x509(s.stranger, '-serial').replace('serial=', '').replace(/^0+/, '')]],
      ['CN=Nothing Revoked CA', []],
    ]);
  });

  it('returns an error, never throws, for anything that is not a CRL', () => {
    const body = s.crlPem.replace(/-----[^-]+-----|\s/g, '');
    const certBody = s.device.pem.replace(/-----[^-]+-----|\s/g, '');
    const cases: Record<string, string> = {
      empty: '',
      'no CRL block': s.device.pem,
      'not base64': '-----BEGIN X509 CRL-----\n!!!!\n-----END X509 CRL-----',
      'a certificate in CRL armour': `-----BEGIN X509 CRL-----\n${certBody}\n-----END X509 CRL-----`,
      truncated: `-----BEGIN X509 CRL-----\n${body.slice(0, body.length - 12)}\n-----END X509 CRL-----`,
      'mismatched armour': `-----BEGIN X509 CRL-----\n${body}\n-----END CERTIFICATE-----`,
    };
    for (const [name, pem] of Object.entries(cases)) expect(parseCrlPem(pem).ok, name).toBe(false);
    expect(parseCrlPem(42 as unknown as string).ok).toBe(false);
    expect(parseCrlDer(new Uint8Array([0x30, 0x80, 0, 0])).ok).toBe(false);
  });

  it('bounds the text length, the number of CRLs and the entries per CRL', () => {
    expect(parseCrlPem(s.crlPem, { maxPemLength: 100 }).ok).toBe(false);
    expect(parseCrlPem(`${s.crlPem}${s.crlPem}`, { maxCrls: 1 }).ok).toBe(false);
    expect(parseCrlPem(s.crlPem, { maxEntries: 0 }).ok).toBe(false);
    expect(parseCrlPem(s.crlPem, { maxEntries: 1 }).ok).toBe(true);
  });
});

describe('RevocationList', () => {
  const fp = 'ab'.repeat(31) + 'cd';

  it('answers by serial and issuer, whatever the spelling of either', () => {
    const list = new RevocationList([{ serial: '0a:66', issuerDN: 'cn=fleet intermediate ca, o="EdgeMQ Test"', label: 'r1' }]);
    expect(list.isRevoked({ serial: '00A66', issuerDN: 'CN=Fleet Intermediate CA,O=EdgeMQ Test', fingerprintSHA256: null })).toEqual({ by: 'serial', label: 'r1' });
    expect(list.isRevoked({ serial: 'A66', issuerDN: 'CN=Other CA', fingerprintSHA256: null })).toBeNull();
    expect(list.isRevoked({ serial: 'A67', issuerDN: 'CN=Fleet Intermediate CA,O=EdgeMQ Test', fingerprintSHA256: null })).toBeNull();
    expect(list.isRevoked({ serial: 'A66', issuerDN: null, fingerprintSHA256: null })).toBeNull();
  });

  it('revokes a serial from any issuer when the entry names none', () => {
    const list = new RevocationList([{ serial: 'A66' }]);
    expect(list.isRevoked({ serial: '0A66', issuerDN: 'CN=Whoever', fingerprintSHA256: null })).toEqual({ by: 'serial', label: null });
  });

  it('answers by SHA-256 fingerprint in any case and with colons', () => {
    const list = new RevocationList([{ fingerprintSHA256: fp.toUpperCase().replace(/(..)(?=.)/g, '$1:') }]);
    expect(list.isRevoked({ serial: null, issuerDN: null, fingerprintSHA256: fp })?.by).toBe('fingerprint');
    expect(list.isRevoked({ serial: null, issuerDN: null, fingerprintSHA256: 'ab'.repeat(32) })).toBeNull();
  });

  it('builds from parsed CRLs plus manual entries, and sets aside unreadable entries', () => {
    const parsed = parseCrlPem(s.crlPem);
    if (!parsed.ok) throw new Error(parsed.error);
    const list = RevocationList.fromCrls(parsed.crls, [{ serial: 'zz' }, { fingerprintSHA256: 'abcd' }, { issuerDN: 'CN=x' }, { serial: '1', issuerDN: 'CN' }, { fingerprintSHA256: fp }]);
    expect(list.size).toBe(2);
    expect(list.rejected).toHaveLength(4);
    const revokedSerial = s.pki.x509(s.revoked, '-serial').replace('serial=', '');
    expect(list.isRevoked({ serial: revokedSerial, issuerDN: s.pki.x509(s.revoked, '-issuer', '-nameopt', 'RFC2253').replace('issuer=', ''), fingerprintSHA256: null })).toEqual({
      by: 'serial',
      label: 'CRL of CN=Fleet Intermediate CA,O=EdgeMQ Test',
    });
    expect(RevocationList.empty().isRevoked({ serial: 'A66', issuerDN: null, fingerprintSHA256: fp })).toBeNull();
  });
});
