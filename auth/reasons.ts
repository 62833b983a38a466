import { CONNACK_V3, RC } from '../protocol/reason-codes';

/**
 * The catalogue of reasons a CONNECT is refused. Each reason has a stable code
 * (stored in D1's unauthorized_clients.reason_code and used by the API and the
 * dashboard), the title operators know from TBMQ, the answer on the wire for
 * both protocol versions, and a plain-words explanation with a suggested fix.
 */
export interface RefusalReason {
  title: string;
  /** MQTT 5 CONNACK reason code. */
  mqtt5: number;
  /** MQTT 3.1.1 CONNACK return code. */
  mqtt3: number;
  explanation: string;
  solution: string;
}

const badCredentials = { mqtt5: RC.BAD_USERNAME_OR_PASSWORD, mqtt3: CONNACK_V3.BAD_USERNAME_OR_PASSWORD } as const;
const notAuthorized = { mqtt5: RC.NOT_AUTHORIZED, mqtt3: CONNACK_V3.NOT_AUTHORIZED } as const;
const banned = { mqtt5: RC.BANNED, mqtt3: CONNACK_V3.NOT_AUTHORIZED } as const;
const badMethod = { mqtt5: RC.BAD_AUTHENTICATION_METHOD, mqtt3: CONNACK_V3.NOT_AUTHORIZED } as const;
const badClientId = { mqtt5: RC.CLIENT_IDENTIFIER_NOT_VALID, mqtt3: CONNACK_V3.IDENTIFIER_REJECTED } as const;

export const REFUSAL_REASONS = {
  // Basic credentials
  NO_CREDENTIALS_FOUND: {
    title: 'No Credentials Found',
    ...badCredentials,
    explanation: 'No basic credential matches the client id and/or username the client sent.',
    solution: 'Create a credential for this client, or check the client id and username configured on the device.',
  },
  PASSWORD_DOES_NOT_MATCH: {
    title: 'Password Does Not Match',
    ...badCredentials,
    explanation: 'A credential exists for this client, but the client sent a wrong password.',
    solution: "Check the password in the client's configuration, or reset the credential's password.",
  },
  NO_PASSWORD_PROVIDED: {
    title: 'No Password Provided',
    ...badCredentials,
    explanation: 'The matching credential requires a password, but the CONNECT carried none.',
    solution: 'Configure the client to send its password.',
  },
  CANNOT_PARSE_BASIC_CREDENTIALS: {
    title: 'Cannot Parse Basic Credentials',
    ...badCredentials,
    explanation: 'The username or password could not be read (for example a password that is not valid UTF-8 or is too long).',
    solution: "Check the client's username and password encoding and length.",
  },
  CLIENT_ID_NOT_OWNED: {
    title: 'Client Id Not Allowed For Credential',
    ...notAuthorized,
    explanation: 'The credential is valid but is bound to other client ids, so this client may not use this id (OASIS MQTT-293).',
    solution: "Use one of the client ids bound to the credential, or add this id to the credential's allowed client ids.",
  },

  // X.509 (mTLS)
  FAILED_TO_GET_CLIENT_CERT_CN: {
    title: 'Failed to Get Client Certificate CN',
    ...notAuthorized,
    explanation: "The client's certificate has no Common Name, so no identity could be derived from it.",
    solution: 'Issue the device a certificate with a CN in its subject.',
  },
  X509_AUTHENTICATION_FAILURE: {
    title: 'X509 Authentication Failure',
    ...notAuthorized,
    explanation: 'The platform could not verify the client certificate (untrusted chain, expired, or certVerified FAILED).',
    solution: 'Check that the certificate is signed by a CA uploaded to the mTLS configuration and is within its validity period.',
  },
  CERTIFICATE_REVOKED: {
    title: 'Certificate Revoked',
    ...notAuthorized,
    explanation: 'The client certificate is on a revocation list (the platform, an uploaded CRL, or a deny entry by serial or fingerprint).',
    solution: 'Issue the device a new certificate, or remove the revocation entry if it was made in error.',
  },
  PEER_IDENTITY_NOT_VERIFIED: {
    title: 'Peer Identity Not Verified',
    ...notAuthorized,
    explanation: 'A certificate was presented but the platform did not verify it (certVerified is NONE).',
    solution: 'Enable mTLS for the hostname and upload the CA that issued the device certificates.',
  },
  NO_CERTIFICATES_IN_CHAIN: {
    title: 'No Certificates in Chain',
    ...notAuthorized,
    explanation: 'The client presented no certificate, and this deployment requires one.',
    solution: 'Configure the client with its certificate and key, and connect with TLS.',
  },
  FAILED_TO_GET_CERT_CN: {
    title: 'Failed to Get Certificate CN',
    ...notAuthorized,
    explanation: 'No certificate in the presented chain has a Common Name that could be read.',
    solution: 'Check the certificate chain the client sends.',
  },
  NO_AUTHORIZATION_RULES_FOR_CN: {
    title: 'No Authorization Rules for CN',
    ...notAuthorized,
    explanation: 'A certificate-chain credential matched, but it has no publish or subscribe rules for this CN.',
    solution: 'Add rules for this CN to the X.509 chain credential.',
  },
  SSL_HANDLER_NOT_CONSTRUCTED: {
    title: 'SSL Handler Not Constructed',
    ...notAuthorized,
    explanation: 'X.509 authentication is required, but the client connected without TLS.',
    solution: 'Connect with wss:// and a client certificate.',
  },
  NO_MATCHING_X509_CREDENTIALS: {
    title: 'No Matching X509 Credentials Found',
    ...notAuthorized,
    explanation: 'No X.509 credential matches any certificate in the chain the client presented.',
    solution: "Create an X.509 credential whose CN pattern matches the device's certificate chain.",
  },
  CANNOT_PARSE_SSL_CREDENTIALS: {
    title: 'Cannot Parse SSL Credentials',
    ...notAuthorized,
    explanation: 'The certificate fields or the RFC 9440 certificate could not be parsed.',
    solution: 'Check the certificate encoding; behind a proxy, check that it forwards Client-Cert as RFC 9440 describes.',
  },

  // JWT
  JWT_MISSING: {
    title: 'JWT Missing',
    ...badCredentials,
    explanation: 'JWT authentication is required, but the CONNECT password carried no token.',
    solution: 'Send the token as the MQTT password.',
  },
  JWT_MALFORMED: {
    title: 'JWT Malformed',
    ...badCredentials,
    explanation: 'The CONNECT password is not a well-formed JWT.',
    solution: 'Send a compact JWS (three base64url parts separated by dots) as the password.',
  },
  JWT_SIGNATURE_INVALID: {
    title: 'JWT Signature Invalid',
    ...badCredentials,
    explanation: 'The token signature does not verify with the configured key.',
    solution: 'Check the signing key, algorithm and key id the issuer uses.',
  },
  JWT_EXPIRED: {
    title: 'JWT Expired',
    ...badCredentials,
    explanation: 'The token is past its exp time.',
    solution: 'Have the client fetch a fresh token before connecting.',
  },
  JWT_NOT_YET_VALID: {
    title: 'JWT Not Yet Valid',
    ...badCredentials,
    explanation: 'The token nbf time is in the future.',
    solution: "Check the issuer's and the device's clocks.",
  },
  JWT_CLAIM_MISMATCH: {
    title: 'JWT Claim Mismatch',
    ...notAuthorized,
    explanation: 'A required claim is missing or does not match (for example sub must equal the client id).',
    solution: 'Check the required claims configured for the JWT provider against what the issuer puts in the token.',
  },
  JWT_KEY_UNAVAILABLE: {
    title: 'JWT Key Unavailable',
    mqtt5: RC.SERVER_UNAVAILABLE,
    mqtt3: CONNACK_V3.SERVER_UNAVAILABLE,
    explanation: 'The JWKS endpoint could not be reached or returned no usable key.',
    solution: 'Check the JWKS URL and that it is reachable from Cloudflare.',
  },

  // SCRAM (MQTT 5 enhanced authentication)
  BAD_AUTHENTICATION_METHOD: {
    title: 'Bad Authentication Method',
    ...badMethod,
    explanation: 'The client asked for an enhanced authentication method this deployment does not offer.',
    solution: 'Use SCRAM-SHA-256 or SCRAM-SHA-512 with the SCRAM provider enabled, or plain username/password.',
  },
  SCRAM_UNKNOWN_USER: {
    title: 'SCRAM Unknown User',
    ...badCredentials,
    explanation: 'No SCRAM credential exists for the username in client-first-message.',
    solution: 'Create a SCRAM credential for this username.',
  },
  SCRAM_PROOF_INVALID: {
    title: 'SCRAM Proof Invalid',
    ...badCredentials,
    explanation: 'The client proof did not verify: the password is wrong.',
    solution: "Check the password in the client's configuration.",
  },
  SCRAM_PROTOCOL_ERROR: {
    title: 'SCRAM Protocol Error',
    ...badMethod,
    explanation: 'The SCRAM messages were malformed or out of order (bad nonce, channel binding or attribute).',
    solution: 'Check the client SCRAM implementation; channel binding is not supported over WebSockets.',
  },

  // Before authentication
  CLIENT_BLOCKED: {
    title: 'Client Blocked',
    ...banned,
    explanation: 'An operator blocked this client id, username, IP, network or pattern.',
    solution: 'Remove or expire the block entry if the client should connect again.',
  },
  TEMPORARILY_BANNED: {
    title: 'Temporarily Banned',
    ...banned,
    explanation: 'Too many failed attempts in a short time from this IP or client id; a temporary ban slows brute force.',
    solution: 'Fix the client credentials and wait for the ban to expire, or delete the automatic block entry.',
  },
  CLIENT_ID_PREFIX_NOT_ALLOWED: {
    title: 'Client Id Prefix Not Allowed',
    ...badClientId,
    explanation: 'Only client ids with an allowed prefix may connect (like mosquitto clientid_prefixes).',
    solution: 'Rename the client id to start with one of the allowed prefixes.',
  },
  ANONYMOUS_NOT_ALLOWED: {
    title: 'Anonymous Not Allowed',
    ...notAuthorized,
    explanation: 'The client sent no credentials and anonymous access is disabled.',
    solution: 'Configure the client with credentials, or enable the anonymous provider.',
  },
  NO_PROVIDER_ENABLED: {
    title: 'No Authentication Provider Enabled',
    ...notAuthorized,
    explanation: 'Every authentication provider is disabled, so nobody can connect.',
    solution: 'Enable at least one authentication provider.',
  },
  AUTHENTICATION_UNAVAILABLE: {
    title: 'Authentication Unavailable',
    mqtt5: RC.SERVER_UNAVAILABLE,
    mqtt3: CONNACK_V3.SERVER_UNAVAILABLE,
    explanation: 'The credential store could not be read, so the broker refused rather than guess.',
    solution: 'Retry; if it persists, check the D1 binding and the Worker logs.',
  },
  AUTHENTICATION_BUSY: {
    title: 'Authentication Busy',
    mqtt5: RC.SERVER_BUSY,
    mqtt3: CONNACK_V3.SERVER_UNAVAILABLE,
    explanation:
      "The password could not be checked now: this shard has already spent its budget for password hashing (AUTH_MAX_HASHES_PER_SECOND), usually because of a flood of wrong passwords. The client's credentials were not judged.",
    solution: 'The client should retry after a back-off; clients whose password was verified recently are not affected. If legitimate first connections are refused, raise AUTH_MAX_HASHES_PER_SECOND or AUTH_HASH_BURST, or add shards.',
  },
} as const satisfies Record<string, RefusalReason>;

export type RefusalCode = keyof typeof REFUSAL_REASONS;

/**
 * Refusals that are the broker's doing, not the client's: its configuration,
 * or a service it depends on being out of reach. They never count toward
 * automatic bans. During a JWKS or D1 outage every device of a fleet is
 * refused, and a hundred of them behind one carrier-grade NAT address would
 * otherwise ban that address, and keep it banned after the outage.
 */
export const BROKER_SIDE_REFUSALS: ReadonlySet<RefusalCode> = new Set<RefusalCode>([
  'JWT_KEY_UNAVAILABLE',
  'NO_PROVIDER_ENABLED',
  'AUTHENTICATION_UNAVAILABLE',
  // The shard was too busy to hash: nothing about the client was judged, and a fleet must not be banned for it.
  'AUTHENTICATION_BUSY',
]);

