import { describe, expect, it } from 'vitest';
import { api, auditEntries, configVersion, expectError, expectGuarded, tokens } from './admin-support';

/** CRLs made with `openssl ca -gencrl` by a test CA "O=Example, CN=Plant CA": serials 1000 and 1001, then 1000-1002. */
const CRL_1 = `-----BEGIN X509 CRL-----
MIHqMIGRAgEBMAoGCCqGSM49BAMCMCUxEDAOBgNVBAoMB0V4YW1wbGUxETAPBgNV
BAMMCFBsYW50IENBFw0yNjExMjMwNTE3MDdaFw0zNjExMjAwNTE3MDdaMCowEwIC
EAAXDTI2MTEyMzA1MTcwN1owEwICEAEXDTI2MTEyMzA1MTcwN1qgDzANMAsGA1Ud
FAQEAgIQADAKBggqhkjOPQQDAgNIADBFAiEA7fvHvIag04oz1c6sdTt5hoOhQ2eA
7o8PLP9D/+4ELjICIDo9kwkt0NJnIUN8fu6+s8bd6p8x15DMkXzEtR+DVTnn
-----END X509 CRL-----`;
const CRL_2 = `-----BEGIN X509 CRL-----
MIIBADCBpgIBATAKBggqhkjOPQQDAjAlMRAwDgYDVQQKDAdFeGFtcGxlMREwDwYD
VQQDDAhQbGFudCBDQRcNMjYxMTIzMDUxNzExWhcNMzYxMTIwMDUxNzExWjA/MBMC
AhAAFw0yNjExMjMwNTE3MDdaMBMCAhABFw0yNjExMjMwNTE3MDdaMBMCAhACFw0y
NjExMjMwNTE3MTFaoA8wDTALBgNVHRQEBAICEAEwCgYIKoZIzj0EAwIDSQAwRgIh
AIU5EzFUJm8oYhCWza/1EXnKty2ilvcK8PPUWghScxrZAiEAxlkIzOSsdJ2L2A4X
llxKNYX9lLFE2T67QmAtXpJ8IpA=
-----END X509 CRL-----`;

describe('/certificate-revocations', () => {
  it('creates entries by serial or fingerprint in canonical form, lists with filters and deletes', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const bySerial = await api('POST', '/certificate-revocations', { token: admin, body: { serial: '0a:1b:2c:3d', issuerDn: 'CN=Plant CA,O=Example', description: 'stolen' } });
    expect(bySerial.status).toBe(201);
    expect(bySerial.body).toMatchObject({ serial: 'A1B2C3D', issuerDn: 'CN=Plant CA,O=Example', fingerprintSha256: null, source: 'manual', crlId: null, description: 'stolen' });
    const fp = 'AB:'.repeat(31) + 'CD';
    const byFingerprint = await api('POST', '/certificate-revocations', { token: admin, body: { fingerprintSha256: fp } });
    expect(byFingerprint.body.fingerprintSha256).toBe('ab'.repeat(31) + 'cd');
    expect(await configVersion()).toBe(v0 + 2);

    expect((await api('GET', '/certificate-revocations?serial=1b2c', { token: viewer })).body.data.map((r: { id: string }) => r.id)).toEqual([bySerial.body.id]);
    expect((await api('GET', '/certificate-revocations?fingerprint=abab', { token: viewer })).body.data.map((r: { id: string }) => r.id)).toEqual([byFingerprint.body.id]);
    expect((await api('GET', '/certificate-revocations?issuer=plant', { token: viewer })).body.totalElements).toBe(1);
    expect((await api('GET', '/certificate-revocations?source=manual', { token: viewer })).body.totalElements).toBe(2);
    expect((await api('GET', '/certificate-revocations?source=crl', { token: viewer })).body.totalElements).toBe(0);

    expect((await api('DELETE', `/certificate-revocations/${bySerial.body.id}`, { token: admin })).status).toBe(204);
    expect(await configVersion()).toBe(v0 + 3);
    expectError(await api('DELETE', `/certificate-revocations/${bySerial.body.id}`, { token: admin }), 404, 'not_found');
    expect((await auditEntries(admin, '?resource=certificate-revocations')).map((e) => e.action)).toEqual(['delete', 'create', 'create']);
  });

  it('stores the serials of uploaded CRLs; a newer CRL of the same issuer replaces the older one', async () => {
    const { admin, viewer } = await tokens();
    const v0 = await configVersion();
    const first = await api('POST', '/certificate-revocations/crl', { token: admin, body: { pem: CRL_1, description: 'monthly CRL' } });
    expect(first.status).toBe(201);
    expect(first.body.crls).toHaveLength(1);
    expect(first.body.crls[0]).toMatchObject({ issuerDn: 'CN=Plant CA,O=Example', entries: 2, replaced: 0, thisUpdate: '2026-11-23T05:17:07.000Z', nextUpdate: '2036-11-20T05:17:07.000Z' });
    expect(await configVersion()).toBe(v0 + 1);
    const listed = await api('GET', `/certificate-revocations?crlId=${first.body.crls[0].crlId}`, { token: viewer });
    expect(listed.body.data.map((r: { serial: string }) => r.serial).sort()).toEqual(['1000', '1001']);
    expect(listed.body.data[0]).toMatchObject({ source: 'crl', issuerDn: 'CN=Plant CA,O=Example', description: 'monthly CRL' });

    // Both CRLs in one upload: the later replaces the earlier.
    const second = await api('POST', '/certificate-revocations/crl', { token: admin, body: { pem: `${CRL_1}\n${CRL_2}\n` } });
    expect(second.body.crls.map((c: { entries: number; replaced: number }) => [c.entries, c.replaced])).toEqual([
      [2, 2],
      [3, 2],
    ]);
    const fromCrls = await api('GET', '/certificate-revocations?source=crl', { token: viewer });
    expect(fromCrls.body.data.map((r: { serial: string }) => r.serial).sort()).toEqual(['1000', '1001', '1002']);

    expectError(await api('POST', '/certificate-revocations/crl', { token: admin, body: { pem: 'not a CRL' } }), 400, 'validation_error', 'pem');
    expectError(
      await api('POST', '/certificate-revocations/crl', { token: admin, body: { pem: '-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----' } }),
      400,
      'validation_error',
      'pem',
    );
  });

  it('validates input, naming the field, and guards writes', async () => {
    const { admin, viewer } = await tokens();
    expectError(await api('POST', '/certificate-revocations', { token: admin, body: {} }), 400, 'validation_error', 'serial');
    expectError(await api('POST', '/certificate-revocations', { token: admin, body: { serial: 'xyz' } }), 400, 'validation_error', 'serial');
    expectError(await api('POST', '/certificate-revocations', { token: admin, body: { fingerprintSha256: 'abcd' } }), 400, 'validation_error', 'fingerprintSha256');
    expectError(await api('POST', '/certificate-revocations', { token: admin, body: { serial: '01', issuerDn: 'not a dn' } }), 400, 'validation_error', 'issuerDn');
    expectError(await api('POST', '/certificate-revocations/crl', { token: admin, body: {} }), 400, 'validation_error', 'pem');
    expectError(await api('GET', '/certificate-revocations?source=other', { token: admin }), 400, 'validation_error', 'source');
    await expectGuarded('GET', '/certificate-revocations', null);
    await expectGuarded('POST', '/certificate-revocations', viewer, { serial: '01' });
    await expectGuarded('DELETE', '/certificate-revocations/x', viewer);
    await expectGuarded('POST', '/certificate-revocations/crl', viewer, { pem: 'x' });
  });
});
