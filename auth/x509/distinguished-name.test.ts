import { describe, expect, it } from 'vitest';
import {
  canonicalDnString,
  commonName,
  formatRfc2253,
  parseDistinguishedName,
  parseLegacyDn,
  parseRfc2253,
  sameDn,
  MAX_DN_LENGTH,
} from './distinguished-name';

describe('RFC 2253 distinguished names', () => {
  it('reads types, values and RDN order', () => {
    expect(parseRfc2253('CN=dev-1,O=Acme,C=US')).toEqual({
      rdns: [[{ type: 'CN', value: 'dev-1' }], [{ type: 'O', value: 'Acme' }], [{ type: 'C', value: 'US' }]],
    });
  });

  it('undoes backslash escapes of specials, hex pairs and UTF-8 bytes', () => {
    const dn = parseRfc2253('CN=d\\C3\\A9v.1\\+\\"a\\,b\\"/c #x\\ ,O=Acme\\, Inc.')!;
    expect(dn.rdns[0]).toEqual([{ type: 'CN', value: 'dév.1+"a,b"/c #x ' }]);
    expect(dn.rdns[1]).toEqual([{ type: 'O', value: 'Acme, Inc.' }]);
    expect(parseRfc2253('CN=\\23hash\\3Dx')!.rdns[0][0].value).toBe('#hash=x');
  });

  it('reads quoted values, spaces around separators and ";" separators', () => {
    const dn = parseRfc2253('CN = "Acme, Inc. \\"HQ\\"" ;  O=Acme , C=US ')!;
    expect(dn.rdns.map((r) => r[0].value)).toEqual(['Acme, Inc. "HQ"', 'Acme', 'US']);
  });

  it('drops unescaped trailing spaces but keeps escaped ones', () => {
    expect(parseRfc2253('CN=abc   ,O=x')!.rdns[0][0].value).toBe('abc');
    expect(parseRfc2253('CN=abc\\ ,O=x')!.rdns[0][0].value).toBe('abc ');
  });

  it('reads multi-valued RDNs and OID types, with or without "OID."', () => {
    const dn = parseRfc2253('CN=a+UID=b,2.5.4.10=Acme,OID.2.5.4.6=US,1.2.3.4=z')!;
    expect(dn.rdns).toEqual([
      [{ type: 'CN', value: 'a' }, { type: 'UID', value: 'b' }],
      [{ type: 'O', value: 'Acme' }],
      [{ type: 'C', value: 'US' }],
      [{ type: '1.2.3.4', value: 'z' }],
    ]);
  });

  it('decodes #hex values that hold a string and keeps other encodings as DER', () => {
    // 0C 05 "hello" is a UTF8String; 02 01 05 is an INTEGER.
    const dn = parseRfc2253('CN=#0C0568656C6C6F,1.2.3.4=#020105')!;
    expect(dn.rdns[0]).toEqual([{ type: 'CN', value: 'hello' }]);
    expect(dn.rdns[1]).toEqual([{ type: '1.2.3.4', value: '#020105', der: true }]);
    expect(formatRfc2253(dn)).toBe('CN=hello,1.2.3.4=#020105');
  });

  it('refuses malformed input instead of guessing', () => {
    for (const bad of ['CN', '=x', 'CN=a,', 'CN=a,,O=b', 'CN="open', 'CN=a\\', 'CN=#zz', 'C N=x', 'CN=\\C3', 'CN=a+']) {
      expect(parseRfc2253(bad), bad).toBeNull();
    }
    expect(parseRfc2253('CN=' + 'a'.repeat(MAX_DN_LENGTH))).toBeNull();
    expect(parseRfc2253(Array.from({ length: 100 }, (_, k) => `OU=${k}`).join(','))).toBeNull();
    expect(parseRfc2253('')).toEqual({ rdns: [] });
  });

  it('writes RFC 4514 text that reads back to the same DN', () => {
    const dn = { rdns: [[{ type: 'CN', value: ' #lead, "q" +;<>\\ trail ' }], [{ type: 'O', value: 'Acme' }]] };
    const text = formatRfc2253(dn);
    expect(text).toBe('CN=\\ #lead\\, \\"q\\" \\+\\;\\<\\>\\\\ trail\\ ,O=Acme');
    expect(parseRfc2253(text)).toEqual(dn);
  });
});

describe('legacy slash distinguished names', () => {
  it('reads the one-line form, most general first, into RFC 2253 order', () => {
    const dn = parseLegacyDn('/C=US/O=Acme, Inc./CN=dev-1')!;
    expect(formatRfc2253(dn)).toBe('CN=dev-1,O=Acme\\, Inc.,C=US');
    expect(commonName(dn)).toBe('dev-1');
  });

  it('keeps "/" inside a value and decodes \\xHH bytes', () => {
    const dn = parseLegacyDn('/O=Acme/CN=d\\xC3\\xA9v/1=2/c')!;
    expect(dn.rdns[0]).toEqual([{ type: 'CN', value: 'dév/1=2/c' }]);
  });

  it('refuses text that is not the legacy form', () => {
    expect(parseLegacyDn('CN=x')).toBeNull();
    expect(parseLegacyDn('/novalue')).toBeNull();
    expect(parseLegacyDn('/CN=\\xC3')).toBeNull();
  });

  it('is chosen by parseDistinguishedName for a leading "/"', () => {
    expect(sameDn('/C=US/CN=dev-1', 'CN=dev-1,C=US')).toBe(true);
  });
});

describe('common name and comparison', () => {
  it('takes the CN first in encoding order, as OpenSSL-based brokers do', () => {
    expect(commonName(parseRfc2253('CN=leaf,OU=x,CN=group')!)).toBe('group');
    expect(commonName(parseRfc2253('OU=x,O=y')!)).toBeNull();
    expect(commonName(parseRfc2253('CN=,O=y')!)).toBeNull();
    expect(commonName(parseRfc2253('CN=#020105')!)).toBeNull();
    expect(commonName(parseRfc2253('commonName=long-form')!)).toBe('long-form');
    expect(commonName(null)).toBeNull();
  });

  it('compares DNs whatever the spelling of types, case, spacing and escaping', () => {
    expect(sameDn('CN=Fleet Intermediate CA,O=EdgeMQ Test', 'cn=fleet  intermediate ca, o="EdgeMQ Test"')).toBe(true);
    expect(sameDn('CN=a+UID=b,O=x', 'UID=b+CN=a,2.5.4.10=X')).toBe(true);
    expect(sameDn('EMAIL=a@b,ST=Texas', 'emailAddress=a@b,S=texas')).toBe(true);
    expect(sameDn('CN=d\\C3\\A9v', 'CN=dév')).toBe(true);
    expect(sameDn('CN=a,O=b', 'O=b,CN=a')).toBe(false);
    expect(sameDn('CN=a\\,b', 'CN=a,b=')).toBe(false);
    expect(sameDn('CN=\\#020105', 'CN=#020105')).toBe(false);
    expect(sameDn('CN=x', 'not a dn')).toBe(false);
    expect(canonicalDnString('garbage')).toBeNull();
    expect(parseDistinguishedName(42 as unknown as string)).toBeNull();
  });
});

describe('legacy names as newer OpenSSL escapes them', () => {
  it('reads "\\/" and "\\+" as part of the value', () => {
    const dn = parseLegacyDn('/O=Acme/CN=d\\xC3\\xA9v.1\\+"a,b"\\/c #x ')!;
    expect(dn.rdns[0]).toEqual([{ type: 'CN', value: 'dév.1+"a,b"/c #x ' }]);
    expect(parseLegacyDn('/CN=a\\=b')!.rdns[0][0].value).toBe('a=b');
    // A backslash before anything else is itself, as OpenSSL prints it.
    expect(parseLegacyDn('/O=a\\b=c,d/CN=a\\')!.rdns.map((r) => r[0].value)).toEqual(['a\\', 'a\\b=c,d']);
  });
});
