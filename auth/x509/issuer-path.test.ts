import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkIssuedBy, ecdsaRawSignature, verifyIssuerPath } from './issuer-path';
import { standardPki, type KeyOptions, type PkiCa, type PkiCert, type StandardPki } from './testing/openssl-pki';

let s: StandardPki;
beforeAll(() => {
  s = standardPki();
}, 60_000);
afterAll(() => s?.pki.cleanup());

/** A CA with `ca` options under the standard root, and a leaf it signs with `leaf` options. */
function pair(name: string, ca: KeyOptions & { selfSigned?: boolean }, leaf: KeyOptions = {}): { ca: PkiCa; leaf: PkiCert } {
  const authority = s.pki.ca(`${name}-ca`, `/O=EdgeMQ Test/CN=${name} CA`, ca.selfSigned ? undefined : s.root, ca);
  return { ca: authority, leaf: s.pki.leaf(`${name}-leaf`, `/O=Acme/CN=${name}-device`, authority, leaf) };
}

describe('issuer path: genuine chains, by algorithm', () => {
  it('follows leaf, intermediate and root (ECDSA P-256 with SHA-256)', async () => {
    expect(await verifyIssuerPath([s.device.der, s.intermediate.der, s.root.der])).toEqual({ order: [0, 1, 2], broken: null, proven: 2 });
    expect(await verifyIssuerPath([s.device.der])).toEqual({ order: [0], broken: null, proven: 1 });
    expect(await verifyIssuerPath([])).toEqual({ order: [], broken: null, proven: 0 });
  });

  const cases: Array<[string, KeyOptions, KeyOptions]> = [
    ['an ECDSA P-384 issuer signing with SHA-384', { key: 'ec-p384' }, { digest: 'sha384' }],
    ['an ECDSA P-256 issuer signing with SHA-512', {}, { digest: 'sha512' }],
    ['an RSA issuer, PKCS #1 v1.5 with SHA-256', { key: 'rsa-2048' }, {}],
    ['an RSA issuer, PKCS #1 v1.5 with SHA-384', { key: 'rsa-2048' }, { digest: 'sha384' }],
    ['an RSA issuer, PKCS #1 v1.5 with SHA-512, over an RSA leaf', { key: 'rsa-2048' }, { digest: 'sha512', key: 'rsa-2048' }],
    ['an RSA issuer, RSA-PSS with SHA-256', { key: 'rsa-2048' }, { pss: true }],
    ['an RSA issuer, RSA-PSS with SHA-384', { key: 'rsa-2048' }, { pss: true, digest: 'sha384' }],
  ];
  it.each(cases)('verifies %s', async (_label, caOptions, leafOptions) => {
    const name = _label.replace(/[^a-z0-9]+/gi, '-');
    const { ca, leaf } = pair(name, caOptions, leafOptions);
    // The standard root (EC) signs the RSA and P-384 CAs: mixed chains are followed too.
    expect(await verifyIssuerPath([leaf.der, ca.der, s.root.der])).toEqual({ order: [0, 1, 2], broken: null, proven: 2 });
  });
});

describe('issuer path: certificates that are not the issuer', () => {
  it('stops at a certificate whose subject is not the issuer of the one before it', async () => {
    const forged = s.pki.ca('self-made', '/O=EdgeMQ Test/CN=EdgeMQ Admins');
    expect(await verifyIssuerPath([s.device.der, forged.der])).toEqual({
      order: [0],
      broken: { index: 1, failure: { kind: 'not-issuer', reason: "its subject is not that certificate's issuer" } },
      proven: 1,
    });
    // Skipping a level breaks the path too: the root did not sign the leaf.
    expect((await verifyIssuerPath([s.device.der, s.root.der])).broken?.failure.kind).toBe('not-issuer');
  });

  it('stops at a certificate with the right subject but another key', async () => {
    const sameName = s.pki.ca('same-name', '/O=EdgeMQ Test/CN=Fleet Intermediate CA');
    expect(await verifyIssuerPath([s.device.der, sameName.der, s.root.der])).toEqual({
      order: [0],
      broken: { index: 1, failure: { kind: 'not-issuer', reason: "its key does not verify that certificate's signature" } },
      proven: 1,
    });
    // The same with an RSA key where the real issuer's is EC.
    const rsa = s.pki.ca('same-name-rsa', '/O=EdgeMQ Test/CN=Fleet Intermediate CA', undefined, { key: 'rsa-2048' });
    expect(await checkIssuedBy(s.device.der, rsa.der)).toEqual({ kind: 'not-issuer', reason: "its RSA key cannot have made that certificate's signature" });
  });

  it('finds the path past a stray certificate, and names the stray', async () => {
    const stray = s.pki.ca('stray', '/CN=Stray');
    const path = await verifyIssuerPath([s.device.der, s.intermediate.der, stray.der, s.root.der]);
    // The search goes on past the broken certificate: the root sent after it still issued the intermediate.
    expect(path.order).toEqual([0, 1, 3]);
    expect(path.broken?.index).toBe(2);
  });

  it('treats a link it cannot check as broken', async () => {
    const sha1 = pair('sha1', {}, { digest: 'sha1' });
    expect(await checkIssuedBy(sha1.leaf.der, sha1.ca.der)).toEqual({ kind: 'unverifiable', reason: 'unsupported signature algorithm ecdsa-with-SHA1' });
    expect(await checkIssuedBy(null, s.intermediate.der)).toEqual({
      kind: 'unverifiable',
      reason: 'the certificate before it is not available in DER',
    });
    expect((await checkIssuedBy(s.device.der, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00])))?.kind).toBe('unverifiable');
  });

  it('refuses a signature altered in the child', async () => {
    const tampered = s.device.der.slice();
    tampered[tampered.length - 5] ^= 0x01;
    expect(await checkIssuedBy(tampered, s.intermediate.der)).toEqual({ kind: 'not-issuer', reason: "its key does not verify that certificate's signature" });
  });
});

describe('issuer path: what a verified link does not prove', () => {
  it('verifies a relay through a copy of the real issuer, and proves only the leaf and its issuer', async () => {
    const forger = s.pki.ca('relay-forger', '/CN=EdgeMQ Admins');
    const relay = s.pki.forge('relay-copy', '/O=EdgeMQ Test/CN=Fleet Intermediate CA', s.intermediate, forger);
    // Every link verifies: the signatures alone cannot tell the forger's certificate from a real root.
    expect(await verifyIssuerPath([s.device.der, relay.der, forger.der])).toEqual({ order: [0, 1, 2], broken: null, proven: 2 });
  });
});

describe('issuer path: ECDSA signatures from DER to r||s', () => {
  it('strips the sign byte and left-pads each half to the field size', () => {
    // SEQUENCE { INTEGER 00 80, INTEGER 01 }
    expect(ecdsaRawSignature(new Uint8Array([0x30, 0x07, 0x02, 0x02, 0x00, 0x80, 0x02, 0x01, 0x01]), 4)).toEqual(new Uint8Array([0, 0, 0, 0x80, 0, 0, 0, 1]));
  });

  it('refuses negative, oversized or malformed values', () => {
    expect(ecdsaRawSignature(new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x80, 0x02, 0x01, 0x01]), 4)).toBeNull();
    expect(ecdsaRawSignature(new Uint8Array([0x30, 0x08, 0x02, 0x03, 0x01, 0x02, 0x03, 0x02, 0x01, 0x01]), 2)).toBeNull();
    expect(ecdsaRawSignature(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), 4)).toBeNull();
    expect(ecdsaRawSignature(new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01]), 4)).toBeNull();
  });
});
