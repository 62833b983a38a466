import type { IConnackPacket } from 'mqtt-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerHandle } from '../support/broker-process';
import { CertificateFactory, cfHeaders, type Cert } from '../support/certificates';
import { configure, providerSql, startSecuredBroker, unauthorizedRow } from '../support/security-fixtures';
import { connackOf, connectClient } from './mqtt-clients';

const certs = new CertificateFactory();
let root: Cert;
let fleetCa: Cert;
let device: Cert;
let lab: Cert;
let noCn: Cert;
let stranger: Cert;
let revoked: Cert;
let forgedAdmins: Cert;

const lit = (v: unknown) => (v === null ? 'NULL' : `'${(typeof v === 'string' ? v : JSON.stringify(v)).replaceAll("'", "''")}'`);
function x509CredentialSql(id: string, cnPattern: string, cnIsRegex: boolean, cnRules: unknown): string {
  const now = Date.now();
  return `INSERT INTO credentials (id, type, name, cn_pattern, cn_is_regex, cn_rules, created_at, updated_at)
    VALUES (${lit(id)}, 'x509', ${lit(id)}, ${lit(cnPattern)}, ${cnIsRegex ? 1 : 0}, ${lit(cnRules)}, ${now}, ${now})`;
}

let broker: BrokerHandle;
beforeAll(async () => {
  root = certs.ca('root', '/O=EdgeMQ Test/CN=EdgeMQ Test Root');
  fleetCa = certs.issue('fleet-ca', '/O=EdgeMQ Test/CN=Fleet Intermediate CA', root, { ca: true });
  device = certs.issue('device', '/O=Acme/CN=device-001', fleetCa);
  lab = certs.issue('lab', '/O=Acme/CN=lab-7', fleetCa);
  noCn = certs.issue('nocn', '/O=Acme/OU=No Common Name', fleetCa);
  revoked = certs.issue('revoked', '/O=Acme/CN=device-666', fleetCa);
  const otherRoot = certs.ca('other-root', '/CN=Somebody Else Root');
  stranger = certs.issue('stranger', '/CN=stranger-1', otherRoot);
  // Self-made by a client, with the CN of a privileged credential.
  forgedAdmins = certs.ca('forged-admins', '/O=EdgeMQ Test/CN=EdgeMQ Admins');

  const revokedSerial = certs.field(revoked, '-serial').replace(/^serial=/, '');
  broker = await startSecuredBroker(
    { providers: 'x509' },
    providerSql('x509', true, 10, { requireCertificate: true, useIdentityAsUsername: true }),
    // Any device issued by the fleet CA: matched on the intermediate's CN, rules per leaf CN.
    x509CredentialSql('fleet', 'Fleet Intermediate CA', false, [{ cnPattern: 'device-.*', publish: ['devices/${cn}/.*'], subscribe: ['devices/${cn}/.*'] }]),
    // Lab machines match by their own CN but have no rules for it.
    x509CredentialSql('lab', 'lab-\\d+', true, [{ cnPattern: 'bench-.*', publish: ['.*'], subscribe: ['.*'] }]),
    // Every right, for whoever's chain carries the admins' CA.
    x509CredentialSql('admins', 'EdgeMQ Admins', false, [{ cnPattern: '.*', publish: ['.*'], subscribe: ['.*'] }]),
    `INSERT INTO certificate_revocations (id, serial, issuer_dn, source, created_at) VALUES ('r1', ${lit(revokedSerial.toUpperCase().replace(/^0+/, ''))}, ${lit('CN=Fleet Intermediate CA,O=EdgeMQ Test')}, 'manual', ${Date.now()})`,
  );
});
afterAll(async () => {
  await broker?.stop();
});

const tls = (tlsClientAuth: Record<string, string>, ip?: string) => ({ wsOptions: { headers: cfHeaders({ tlsVersion: 'TLSv1.3', tlsClientAuth, ip }) } });
const code = (ack: IConnackPacket) => (ack.reasonCode ?? ack.returnCode) as number;

async function refused(clientId: string, protocolVersion: 4 | 5, options: Record<string, unknown>): Promise<{ code: number; reason: string; row: Awaited<ReturnType<typeof unauthorizedRow>> }> {
  const ack = (await connackOf(broker.wsUrl, { protocolVersion, clientId, ...options })) as IConnackPacket;
  const row = await unauthorizedRow(broker, clientId);
  return { code: code(ack), reason: row.reason_code, row };
}

describe('31 X.509 client certificates (mTLS fields from the platform)', () => {
  it('accepts a device whose chain matches a certificate-chain credential, in both protocol versions', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const client = await connectClient(broker.wsUrl, { protocolVersion, clientId: `device-001-v${protocolVersion}`, ...tls(certs.tlsClientAuth(device, [fleetCa])) });
      expect(client.connected).toBe(true);
      await client.endAsync();
    }
  });

  it('records each X.509 refusal with its precise reason, TLS flag and CONNACK code', async () => {
    const cases: Array<[string, Record<string, unknown>, string, boolean]> = [
      ['no-tls', { wsOptions: { headers: cfHeaders({ tlsVersion: '', tlsClientAuth: CertificateFactory.noCertificate() }) } }, 'SSL_HANDLER_NOT_CONSTRUCTED', false],
      ['no-cert', tls(CertificateFactory.noCertificate()), 'NO_CERTIFICATES_IN_CHAIN', true],
      ['not-verified', tls(certs.tlsClientAuth(device, [fleetCa], { certVerified: 'NONE' })), 'PEER_IDENTITY_NOT_VERIFIED', true],
      ['failed', tls(certs.tlsClientAuth(stranger, [], { certVerified: 'FAILED:self signed certificate in certificate chain' })), 'X509_AUTHENTICATION_FAILURE', true],
      ['platform-revoked', tls(certs.tlsClientAuth(device, [fleetCa], { certRevoked: '1' })), 'CERTIFICATE_REVOKED', true],
      ['our-crl', tls(certs.tlsClientAuth(revoked, [fleetCa])), 'CERTIFICATE_REVOKED', true],
      ['no-cn', tls(certs.tlsClientAuth(noCn, [fleetCa])), 'FAILED_TO_GET_CLIENT_CERT_CN', true],
      // Without its issuer in the chain, no certificate has a CN to match credentials against.
      ['no-cn-anywhere', tls(certs.tlsClientAuth(noCn, [])), 'FAILED_TO_GET_CERT_CN', true],
      ['stranger', tls(certs.tlsClientAuth(stranger, [])), 'NO_MATCHING_X509_CREDENTIALS', true],
      ['lab', tls(certs.tlsClientAuth(lab, [fleetCa])), 'NO_AUTHORIZATION_RULES_FOR_CN', true],
      ['garbage', tls(certs.tlsClientAuth(device, [fleetCa], { certRFC9440: ':not base64 at all!:' })), 'CANNOT_PARSE_SSL_CREDENTIALS', true],
    ];
    for (const [name, options, reason, tlsUsed] of cases) {
      for (const protocolVersion of [4, 5] as const) {
        const r = await refused(`${name}-v${protocolVersion}`, protocolVersion, options);
        expect(r.reason, name).toBe(reason);
        expect(r.code, name).toBe(protocolVersion === 5 ? 0x87 : 5);
        expect(r.row.tls_used, name).toBe(tlsUsed ? 1 : 0);
      }
    }
    // Twenty-two refusals, each read back from D1 through wrangler.
  }, 240_000);

  it('refuses a verified leaf followed by a self-made CA with a privileged CN, saying why', async () => {
    for (const protocolVersion of [4, 5] as const) {
      const r = await refused(`forged-ca-v${protocolVersion}`, protocolVersion, tls(certs.tlsClientAuth(stranger, [forgedAdmins])));
      expect(r.reason).toBe('NO_MATCHING_X509_CREDENTIALS');
      expect(r.row.reason).toContain('chain certificate "CN=EdgeMQ Admins,O=EdgeMQ Test" was not the issuer of the one before it');
      expect(r.code).toBe(protocolVersion === 5 ? 0x87 : 5);
    }
  });

  it('believes RFC 9440 Client-Cert headers only from a configured trusted proxy', async () => {
    const proxy = '192.0.2.10';
    await configure(broker, providerSql('x509', true, 10, { requireCertificate: true, useIdentityAsUsername: true, trustedProxies: ['192.0.2.0/28'] }));
    const forwarded = {
      'Client-Cert': `:${device.der.toString('base64')}:`,
      'Client-Cert-Chain': `:${fleetCa.der.toString('base64')}:`,
    };
    const viaProxy = await connectClient(broker.wsUrl, {
      protocolVersion: 5,
      clientId: 'device-001-proxied',
      wsOptions: { headers: { ...cfHeaders({ tlsVersion: 'TLSv1.3', tlsClientAuth: CertificateFactory.noCertificate(), ip: proxy }), ...forwarded } },
    });
    expect(viaProxy.connected).toBe(true);
    await viaProxy.endAsync();

    const r = await refused('device-001-forged', 5, {
      wsOptions: { headers: { ...cfHeaders({ tlsVersion: 'TLSv1.3', tlsClientAuth: CertificateFactory.noCertificate(), ip: '198.51.100.20' }), ...forwarded } },
    });
    expect(r.reason).toBe('NO_CERTIFICATES_IN_CHAIN');
    expect(r.row.ip).toBe('198.51.100.20');
  });
});
