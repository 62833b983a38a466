import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TrustedContext } from '../../protocol/ports';
import type { ConnectAttempt, ProviderAnswer } from '../provider';
import { parseCrlPem, RevocationList, type RevocationEntry } from '../x509/revocation';
import { standardPki, type PkiCa, type PkiCert, type StandardPki } from '../x509/testing/openssl-pki';
import { forwardedClientCertFromPem, noClientCertificate, tlsClientAuthFromPem } from '../x509/testing/tls-client-auth';
import { createX509Provider, escapeRegex, type X509ChainCredential, type X509CredentialSource, type X509ProviderConfig } from './x509-provider';

let s: StandardPki;
let lab: PkiCert;
let pinned: PkiCert;
beforeAll(() => {
  s = standardPki();
  lab = s.pki.leaf('lab', '/O=Acme/CN=lab-7', s.intermediate);
  pinned = s.pki.leaf('pinned', '/CN=pinned-1', s.intermediate);
}, 60_000);
afterAll(() => s?.pki.cleanup());

const FLEET: X509ChainCredential = {
  id: 'fleet',
  cnPattern: 'Fleet Intermediate CA',
  cnIsRegex: false,
  allowedClientIds: null,
  cnRules: [{ cnPattern: 'device-.*', publish: ['devices/${cn}/.*'], subscribe: ['devices/${cn}/in', 'broadcast/#'] }],
};
const CREDENTIALS: X509ChainCredential[] = [
  { id: 'broken', cnPattern: '(unclosed', cnIsRegex: true, allowedClientIds: null, cnRules: [] },
  { id: 'lab', cnPattern: 'lab-\\d+', cnIsRegex: true, allowedClientIds: null, cnRules: [{ cnPattern: 'bench-.*', publish: ['.*'], subscribe: ['.*'] }] },
  { id: 'pinned', cnPattern: 'pinned-1', cnIsRegex: false, allowedClientIds: ['pinned-client'], cnRules: [{ cnPattern: '.*', publish: ['p/.*'], subscribe: [] }] },
  FLEET,
];

function source(credentials: X509ChainCredential[] = CREDENTIALS, extraRevocations: RevocationEntry[] = []): X509CredentialSource {
  return {
    async listChainCredentials() {
      return credentials;
    },
    async revocations() {
      const crls = parseCrlPem(s.crlPem);
      if (!crls.ok) throw new Error(crls.error);
      return RevocationList.fromCrls(crls.crls, extraRevocations);
    },
  };
}

const REQUIRED: X509ProviderConfig = { requireCertificate: true, useIdentityAsUsername: true };
const OPTIONAL: X509ProviderConfig = { requireCertificate: false, useIdentityAsUsername: false };

function attempt(trusted: Partial<TrustedContext>, clientId = 'client-1', username: string | null = 'from-connect'): ConnectAttempt {
  return {
    clientId,
    username,
    password: null,
    protocolVersion: 5,
    trusted: { ip: '198.51.100.7', tls: true, tlsClientAuth: null, subprotocol: 'mqtt', forwardedClientCert: null, ...trusted },
    authenticationMethod: null,
    authenticationData: null,
  };
}

async function withCert(leaf: PkiCert, chain: PkiCert[] = [s.intermediate], over: Record<string, string> = {}): Promise<ConnectAttempt> {
  return attempt({ tlsClientAuth: await tlsClientAuthFromPem(leaf.pem, chain.map((c) => c.pem), over) });
}

async function run(a: ConnectAttempt, config: X509ProviderConfig = REQUIRED, src: X509CredentialSource = source()): Promise<ProviderAnswer> {
  return createX509Provider(config, src).authenticate(a);
}

function refusal(answer: ProviderAnswer): { code: string; detail: string } {
  if (answer.kind !== 'refuse') throw new Error(`expected a refusal, got ${answer.kind}`);
  return answer.refusal;
}

describe('X.509 provider: accepted clients', () => {
  it('accepts a device whose intermediate matches a chain credential, with its rules for the leaf CN', async () => {
    const answer = await run(await withCert(s.device));
    expect(answer).toEqual({
      kind: 'accept',
      identity: {
        provider: 'x509',
        credentialId: 'fleet',
        username: 'device-001',
        cn: 'device-001',
        rules: { publish: ['devices/device-001/.*'], subscribe: ['devices/device-001/in', 'broadcast/#'] },
      },
    });
  });

  it('keeps the CONNECT username unless use_identity_as_username is on', async () => {
    const answer = await run(await withCert(s.device), OPTIONAL);
    expect(answer.kind === 'accept' && answer.identity.username).toBe('from-connect');
  });

  it('walks the chain leaf first, and prefers an exact CN over a pattern at the same level', async () => {
    const credentials: X509ChainCredential[] = [
      { ...FLEET, id: 'by-pattern', cnPattern: 'device-\\d+', cnIsRegex: true },
      { ...FLEET, id: 'by-name', cnPattern: 'device-001', cnIsRegex: false },
      FLEET,
    ];
    const answer = await run(await withCert(s.device), REQUIRED, source(credentials));
    expect(answer.kind === 'accept' && answer.identity.credentialId).toBe('by-name');
    const noExact = await run(await withCert(s.device), REQUIRED, source([credentials[0], FLEET]));
    expect(noExact.kind === 'accept' && noExact.identity.credentialId).toBe('by-pattern');
  });

  it('matches a regex against the whole CN only', async () => {
    const partial: X509ChainCredential = { ...FLEET, id: 'partial', cnPattern: 'device', cnIsRegex: true };
    const answer = await run(await withCert(s.device, []), REQUIRED, source([partial]));
    expect(refusal(answer).code).toBe('NO_MATCHING_X509_CREDENTIALS');
  });

  it('substitutes ${cn} escaped, so a CN with regex specials matches only itself', async () => {
    const cn = 'dév.1+"a,b"/c #x ';
    const credential: X509ChainCredential = { id: 'tricky', cnPattern: cn, cnIsRegex: false, allowedClientIds: null, cnRules: [{ cnPattern: '.*', publish: ['t/${cn}/x'], subscribe: [] }] };
    const answer = await run(await withCert(s.tricky), REQUIRED, source([credential]));
    if (answer.kind !== 'accept') throw new Error(JSON.stringify(answer));
    const [pattern] = answer.identity.rules!.publish;
    expect(pattern).toBe(`t/${escapeRegex(cn)}/x`);
    const re = new RegExp(`^(?:${pattern})$`);
    expect(re.test(`t/${cn}/x`)).toBe(true);
    expect(re.test('t/dévX1+"a,b"/c #x /x')).toBe(false);
    expect(re.test('t/dév.11"a,b"/c #x /x')).toBe(false);
    expect(() => new RegExp(pattern, 'u')).not.toThrow();
  });

  it('skips rules with an invalid pattern and uses the next one', async () => {
    const credential: X509ChainCredential = { ...FLEET, cnRules: [{ cnPattern: '[', publish: ['bad'], subscribe: [] }, ...FLEET.cnRules] };
    const answer = await run(await withCert(s.device), REQUIRED, source([credential]));
    expect(answer.kind === 'accept' && answer.identity.rules?.publish).toEqual(['devices/device-001/.*']);
  });

  it('accepts a client id the credential owns', async () => {
    const a = await withCert(pinned);
    const answer = await run({ ...a, clientId: 'pinned-client' });
    expect(answer.kind === 'accept' && answer.identity.credentialId).toBe('pinned');
  });
});

describe('X.509 provider: no certificate', () => {
  it('refuses a client without TLS when a certificate is required, else skips', async () => {
    const a = attempt({ tls: false, tlsClientAuth: noClientCertificate() });
    expect(refusal(await run(a)).code).toBe('SSL_HANDLER_NOT_CONSTRUCTED');
    expect(await run(a, OPTIONAL)).toEqual({ kind: 'skip' });
  });

  it('refuses a TLS client that presented no certificate when one is required, else skips', async () => {
    for (const tlsClientAuth of [noClientCertificate(), null]) {
      const a = attempt({ tlsClientAuth });
      expect(refusal(await run(a)).code).toBe('NO_CERTIFICATES_IN_CHAIN');
      expect(await run(a, OPTIONAL)).toEqual({ kind: 'skip' });
    }
  });
});

describe('X.509 provider: refusals', () => {
  it('refuses a certificate the platform did not verify', async () => {
    const answer = await run(await withCert(s.device, [s.intermediate], { certVerified: 'NONE' }), OPTIONAL);
    expect(refusal(answer).code).toBe('PEER_IDENTITY_NOT_VERIFIED');
  });

  it('refuses a certificate that failed verification, keeping the reason', async () => {
    const answer = await run(await withCert(s.stranger, [], { certVerified: 'FAILED:self signed certificate in certificate chain' }));
    expect(refusal(answer)).toEqual({ code: 'X509_AUTHENTICATION_FAILURE', detail: 'certificate verification failed: self signed certificate in certificate chain' });
  });

  it('refuses an expired certificate even when the verifier said SUCCESS', async () => {
    const answer = await run(await withCert(s.expired));
    expect(refusal(answer).code).toBe('X509_AUTHENTICATION_FAILURE');
    expect(refusal(answer).detail).toBe('the client certificate has expired (2020-02-01T00:00:00.000Z)');
  });

  it('refuses a certificate revoked by the platform, by our CRL, by fingerprint, or through its intermediate', async () => {
    expect(refusal(await run(await withCert(s.device, [s.intermediate], { certRevoked: '1' }))).code).toBe('CERTIFICATE_REVOKED');

    const byCrl = refusal(await run(await withCert(s.revoked)));
    expect(byCrl.code).toBe('CERTIFICATE_REVOKED');
    expect(byCrl.detail).toBe('the client certificate is revoked (serial A66 from "CN=Fleet Intermediate CA,O=EdgeMQ Test"; CRL of CN=Fleet Intermediate CA,O=EdgeMQ Test)');

    const fp = (await tlsClientAuthFromPem(s.device.pem)).certFingerprintSHA256;
    const byFingerprint = refusal(await run(await withCert(s.device), REQUIRED, source(CREDENTIALS, [{ fingerprintSHA256: fp, label: 'lost device' }])));
    expect(byFingerprint).toEqual({ code: 'CERTIFICATE_REVOKED', detail: `the client certificate is revoked (SHA-256 fingerprint ${fp}; lost device)` });

    const intermediateSerial = s.pki.x509(s.intermediate, '-serial').replace('serial=', '');
    const intermediateIssuer = s.pki.x509(s.intermediate, '-issuer', '-nameopt', 'RFC2253').replace('issuer=', '');
    const viaChain = refusal(await run(await withCert(s.device), REQUIRED, source(CREDENTIALS, [{ serial: intermediateSerial, issuerDN: intermediateIssuer }])));
    expect(viaChain.code).toBe('CERTIFICATE_REVOKED');
    expect(viaChain.detail).toMatch(/^chain certificate "CN=Fleet Intermediate CA,O=EdgeMQ Test" is revoked/);
  });

  it('refuses certificate data that cannot be parsed', async () => {
    expect(refusal(await run(await withCert(s.device, [s.intermediate], { certRFC9440: ':not base64 at all!:' })))).toEqual({
      code: 'CANNOT_PARSE_SSL_CREDENTIALS',
      detail: 'certRFC9440: byte sequence is not base64',
    });
    expect(refusal(await run(await withCert(s.device, [s.intermediate], { certPresented: 'yes' }))).code).toBe('CANNOT_PARSE_SSL_CREDENTIALS');
    // The status fields still decide first when only the certificate data is bad.
    expect(refusal(await run(await withCert(s.device, [s.intermediate], { certRFC9440: ':AAAA:', certVerified: 'NONE' }))).code).toBe('PEER_IDENTITY_NOT_VERIFIED');
  });

  it('refuses a matched chain whose leaf has no CN', async () => {
    const answer = refusal(await run(await withCert(s.noCn)));
    expect(answer).toEqual({
      code: 'FAILED_TO_GET_CLIENT_CERT_CN',
      detail: 'credential fleet matched "Fleet Intermediate CA" but the client certificate "OU=No Common Name,O=Acme" has no Common Name',
    });
  });

  it('refuses a chain in which no certificate has a CN', async () => {
    expect(refusal(await run(await withCert(s.noCn, []))).code).toBe('FAILED_TO_GET_CERT_CN');
  });

  it('refuses a chain no credential matches, naming the CNs and the invalid patterns it ignored', async () => {
    expect(refusal(await run(await withCert(s.stranger, [])))).toEqual({
      code: 'NO_MATCHING_X509_CREDENTIALS',
      detail: 'no X.509 credential matches the chain\'s CNs "stranger-1"; ignored credentials with an invalid CN pattern: broken',
    });
  });

  it('refuses a matched credential without rules for the leaf CN', async () => {
    expect(refusal(await run(await withCert(lab)))).toEqual({ code: 'NO_AUTHORIZATION_RULES_FOR_CN', detail: 'credential lab has no rules for CN "lab-7"' });
    const onlyInvalid: X509ChainCredential = { ...FLEET, cnRules: [{ cnPattern: '(', publish: [], subscribe: [] }] };
    expect(refusal(await run(await withCert(s.device), REQUIRED, source([onlyInvalid]))).detail).toBe('credential fleet has no rules for CN "device-001"; ignored invalid rule patterns: "("');
  });

  it('refuses a client id the credential does not own', async () => {
    expect(refusal(await run(await withCert(pinned)))).toEqual({ code: 'CLIENT_ID_NOT_OWNED', detail: 'credential pinned (CN "pinned-1") may not use client id "client-1"' });
  });

  it('lets a failing credential store reject, for the chain to answer AUTHENTICATION_UNAVAILABLE', async () => {
    const failing: X509CredentialSource = { ...source(), listChainCredentials: () => Promise.reject(new Error('D1 down')) };
    await expect(run(await withCert(s.device), REQUIRED, failing)).rejects.toThrow('D1 down');
  });
});

describe('X.509 provider: RFC 9440 headers from a trusted proxy', () => {
  const config: X509ProviderConfig = { ...REQUIRED, trustedProxies: ['192.0.2.0/28', '2001:db8::/32', 'not-an-ip'] };

  it('believes Client-Cert from a configured proxy, even over plain HTTP to the edge', async () => {
    const forwardedClientCert = forwardedClientCertFromPem(s.device.pem, s.intermediate.pem);
    for (const ip of ['192.0.2.10', '2001:db8::1']) {
      const answer = await run(attempt({ ip, tls: false, tlsClientAuth: null, forwardedClientCert }), config);
      expect(answer.kind === 'accept' && answer.identity.credentialId, ip).toBe('fleet');
    }
  });

  it('ignores Client-Cert from anyone else', async () => {
    const forwardedClientCert = forwardedClientCertFromPem(s.device.pem, s.intermediate.pem);
    const answer = await run(attempt({ ip: '198.51.100.20', tlsClientAuth: noClientCertificate(), forwardedClientCert }), config);
    expect(refusal(answer).code).toBe('NO_CERTIFICATES_IN_CHAIN');
    const noProxies = await run(attempt({ ip: '192.0.2.10', tlsClientAuth: noClientCertificate(), forwardedClientCert }), REQUIRED);
    expect(refusal(noProxies).code).toBe('NO_CERTIFICATES_IN_CHAIN');
  });

  it('applies the same checks to forwarded certificates', async () => {
    const revoked = await run(attempt({ ip: '192.0.2.10', forwardedClientCert: forwardedClientCertFromPem(s.revoked.pem, s.intermediate.pem) }), config);
    expect(refusal(revoked).code).toBe('CERTIFICATE_REVOKED');
    const garbage = await run(attempt({ ip: '192.0.2.10', forwardedClientCert: { cert: 'garbage', chain: null } }), config);
    expect(refusal(garbage).code).toBe('CANNOT_PARSE_SSL_CREDENTIALS');
  });
});

describe('X.509 provider: only the verified issuer path is matched', () => {
  /** What a forger wants: a credential with every right. */
  const ADMINS: X509ChainCredential = {
    id: 'admins',
    cnPattern: 'EdgeMQ Admins',
    cnIsRegex: false,
    allowedClientIds: null,
    cnRules: [{ cnPattern: '.*', publish: ['.*'], subscribe: ['.*'] }],
  };
  let forgedAdmins: PkiCert;
  beforeAll(() => {
    // Self-signed by the forger: anyone can make one with any name.
    forgedAdmins = s.pki.ca('forged-admins', '/O=EdgeMQ Test/CN=EdgeMQ Admins');
  }, 60_000);

  it('refuses a verified leaf followed by a self-made "intermediate" with a privileged CN, and says why', async () => {
    const expected = {
      code: 'NO_MATCHING_X509_CREDENTIALS',
      detail: 'no X.509 credential matches the chain\'s CNs "stranger-1"; chain certificate "CN=EdgeMQ Admins,O=EdgeMQ Test" was not the issuer of the one before it (its subject is not that certificate\'s issuer)',
    };
    expect(refusal(await run(await withCert(s.stranger, [forgedAdmins]), REQUIRED, source([ADMINS, FLEET])))).toEqual(expected);

    // The same chain in Client-Cert-Chain from a trusted proxy.
    const config: X509ProviderConfig = { ...REQUIRED, trustedProxies: ['192.0.2.0/28'] };
    const forwarded = attempt({ ip: '192.0.2.10', forwardedClientCert: forwardedClientCertFromPem(s.stranger.pem, forgedAdmins.pem) });
    expect(refusal(await run(forwarded, config, source([ADMINS, FLEET])))).toEqual(expected);
  });

  it('refuses a certificate with the issuer\'s name but another key', async () => {
    const sameName = s.pki.ca('same-name-fleet', '/O=EdgeMQ Test/CN=Fleet Intermediate CA');
    expect(refusal(await run(await withCert(s.device, [sameName]), REQUIRED, source([FLEET])))).toEqual({
      code: 'NO_MATCHING_X509_CREDENTIALS',
      detail:
        'no X.509 credential matches the chain\'s CNs "device-001"; chain certificate "CN=Fleet Intermediate CA,O=EdgeMQ Test" was not the issuer of the one before it (its key does not verify that certificate\'s signature)',
    });
  });

  it('refuses a forged certificate placed above the genuine intermediate', async () => {
    const answer = refusal(await run(await withCert(s.device, [s.intermediate, forgedAdmins]), REQUIRED, source([ADMINS])));
    expect(answer.code).toBe('NO_MATCHING_X509_CREDENTIALS');
    expect(answer.detail).toBe(
      'no X.509 credential matches the chain\'s CNs "device-001", "Fleet Intermediate CA"; chain certificate "CN=EdgeMQ Admins,O=EdgeMQ Test" was not the issuer of the one before it (its subject is not that certificate\'s issuer)',
    );
  });

  it('refuses a forged certificate relayed through a copy of the real issuer\'s name and key', async () => {
    // The copy's subject and key are the real intermediate's, so it passes as the leaf's issuer; its issuer
    // name and signature are the forger's, so the forger's certificate passes as its issuer in turn.
    const relay = s.pki.forge('relay-fleet', '/O=EdgeMQ Test/CN=Fleet Intermediate CA', s.intermediate, forgedAdmins);
    expect(refusal(await run(await withCert(s.device, [relay, forgedAdmins]), REQUIRED, source([ADMINS])))).toEqual({
      code: 'NO_MATCHING_X509_CREDENTIALS',
      detail:
        'no X.509 credential matches the chain\'s CNs "device-001", "Fleet Intermediate CA"; chain certificate "CN=EdgeMQ Admins,O=EdgeMQ Test" was not matched: above the client certificate\'s issuer, a valid signature does not show a certificate is genuine',
    });
  });

  it('still matches the genuine intermediate, with or without the root after it', async () => {
    for (const chain of [[s.intermediate], [s.intermediate, s.root]]) {
      const answer = await run(await withCert(s.device, chain), REQUIRED, source([ADMINS, FLEET]));
      expect(answer.kind === 'accept' && answer.identity.credentialId).toBe('fleet');
    }
  });

  it('matches genuine RSA chains (PKCS #1 v1.5 and RSA-PSS) and EC P-384 chains', async () => {
    const rsaCa = s.pki.ca('rsa-fleet', '/O=EdgeMQ Test/CN=RSA Fleet CA', s.root, { key: 'rsa-2048' });
    const p384Ca = s.pki.ca('p384-fleet', '/O=EdgeMQ Test/CN=P-384 Fleet CA', s.root, { key: 'ec-p384', digest: 'sha384' });
    const devices: Array<[PkiCert, PkiCa]> = [
      [s.pki.leaf('rsa-device', '/CN=device-rsa', rsaCa, { key: 'rsa-2048', digest: 'sha512' }), rsaCa],
      [s.pki.leaf('pss-device', '/CN=device-pss', rsaCa, { pss: true }), rsaCa],
      [s.pki.leaf('p384-device', '/CN=device-p384', p384Ca, { key: 'ec-p384', digest: 'sha384' }), p384Ca],
    ];
    const credentials = [rsaCa, p384Ca].map((ca) => ({ ...FLEET, id: ca.name, cnPattern: ca.name === 'rsa-fleet' ? 'RSA Fleet CA' : 'P-384 Fleet CA' }));
    for (const [device, ca] of devices) {
      const answer = await run(await withCert(device, [ca, s.root]), REQUIRED, source(credentials));
      expect(answer.kind === 'accept' && answer.identity.credentialId, device.name).toBe(ca.name);
    }
    // And an RSA certificate with the EC issuer's name is not its issuer.
    const rsaSameName = s.pki.ca('rsa-same-name', '/O=EdgeMQ Test/CN=Fleet Intermediate CA', undefined, { key: 'rsa-2048' });
    expect(refusal(await run(await withCert(s.device, [rsaSameName]), REQUIRED, source([FLEET]))).detail).toMatch(
      /chain certificate "CN=Fleet Intermediate CA,O=EdgeMQ Test" was not the issuer of the one before it \(its RSA key cannot have made that certificate's signature\)$/,
    );
  });

  it('holds every certificate the client sent against it: revoked or expired refuses, on the path or not', async () => {
    // An expired certificate the client tacked on refuses it, as one on the path does...
    expect(refusal(await run(await withCert(s.device, [s.intermediate, s.expired]))).code).toBe('X509_AUTHENTICATION_FAILURE');
    // ...and so does a revoked one.
    const fp = (await tlsClientAuthFromPem(s.revoked.pem)).certFingerprintSHA256;
    const revokedTackedOn = await run(await withCert(s.device, [s.intermediate, s.revoked]), REQUIRED, source(CREDENTIALS, [{ fingerprintSHA256: fp }]));
    expect(refusal(revokedTackedOn).code).toBe('CERTIFICATE_REVOKED');
    const oldCa = s.pki.ca('old-fleet', '/O=EdgeMQ Test/CN=Old Fleet CA', s.root, { startDate: '20200101000000Z', endDate: '20200201000000Z' });
    const oldDevice = s.pki.leaf('old-fleet-device', '/CN=device-002', oldCa);
    expect(refusal(await run(await withCert(oldDevice, [oldCa])))).toEqual({
      code: 'X509_AUTHENTICATION_FAILURE',
      detail: 'chain certificate "CN=Old Fleet CA,O=EdgeMQ Test" has expired (2020-02-01T00:00:00.000Z)',
    });
  });

  it('does not let a chain sent out of order hide its revoked issuer', async () => {
    const intermediateFp = (await tlsClientAuthFromPem(s.intermediate.pem)).certFingerprintSHA256;
    for (const chain of [[s.intermediate], [s.root, s.intermediate], [s.stranger, s.intermediate]]) {
      const answer = await run(await withCert(s.device, chain), REQUIRED, source(CREDENTIALS, [{ fingerprintSHA256: intermediateFp }]));
      expect(refusal(answer).code).toBe('CERTIFICATE_REVOKED');
    }
  });

  it('finds the issuer in a chain sent out of order, and matches it', async () => {
    const answer = await run(await withCert(s.device, [s.root, s.intermediate]), REQUIRED, source([ADMINS, FLEET]));
    expect(answer.kind === 'accept' && answer.identity.credentialId).toBe('fleet');
  });

  it('matches nothing above a leaf known only by its DN strings, and says so', async () => {
    const a = await withCert(s.device, [s.intermediate], { certRFC9440: '', certRFC9440TooLarge: '1' });
    expect(refusal(await run(a, REQUIRED, source([FLEET])))).toEqual({
      code: 'NO_MATCHING_X509_CREDENTIALS',
      detail:
        'no X.509 credential matches the chain\'s CNs "device-001"; chain certificate "CN=Fleet Intermediate CA,O=EdgeMQ Test" was not shown to be the issuer of the one before it (the certificate before it is not available in DER)',
    });
  });
});
