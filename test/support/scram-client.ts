import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A SCRAM client (RFC 5802 / RFC 7677) written with node:crypto, independent
 * of the broker's implementation, so end-to-end tests check the broker
 * against the RFC rather than against itself.
 */
export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
const hashOf = (m: ScramMechanism) => (m === 'SCRAM-SHA-256' ? 'sha256' : 'sha512');
const keyLength = (m: ScramMechanism) => (m === 'SCRAM-SHA-256' ? 32 : 64);

export function scramCredential(mechanism: ScramMechanism, password: string, iterations = 4096, salt = randomBytes(16)) {
  const h = hashOf(mechanism);
  const salted = pbkdf2Sync(password.normalize('NFKC'), salt, iterations, keyLength(mechanism), h);
  const clientKey = createHmac(h, salted).update('Client Key').digest();
  const storedKey = createHash(h).update(clientKey).digest();
  const serverKey = createHmac(h, salted).update('Server Key').digest();
  return { salt: salt.toString('base64'), iterations, storedKey: storedKey.toString('base64'), serverKey: serverKey.toString('base64') };
}

export class ScramClient {
  readonly nonce = randomBytes(18).toString('base64');
  private clientFirstBare = '';
  private serverSignature: Buffer | null = null;

  constructor(
    readonly mechanism: ScramMechanism,
    readonly username: string,
    readonly password: string,
  ) {}

  first(): Buffer {
    this.clientFirstBare = `n=${this.username.replaceAll('=', '=3D').replaceAll(',', '=2C')},r=${this.nonce}`;
    return Buffer.from(`n,,${this.clientFirstBare}`);
  }

  final(serverFirst: Buffer): Buffer {
    const text = serverFirst.toString();
    const attrs = Object.fromEntries(text.split(',').map((kv) => [kv[0], kv.slice(2)]));
    if (!attrs.r?.startsWith(this.nonce)) throw new Error(`server nonce does not extend ours: ${text}`);
    const h = hashOf(this.mechanism);
    const salted = pbkdf2Sync(this.password.normalize('NFKC'), Buffer.from(attrs.s, 'base64'), Number(attrs.i), keyLength(this.mechanism), h);
    const clientKey = createHmac(h, salted).update('Client Key').digest();
    const storedKey = createHash(h).update(clientKey).digest();
    const withoutProof = `c=biws,r=${attrs.r}`;
    const authMessage = `${this.clientFirstBare},${text},${withoutProof}`;
    const signature = createHmac(h, storedKey).update(authMessage).digest();
    const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]));
    const serverKey = createHmac(h, salted).update('Server Key').digest();
    this.serverSignature = createHmac(h, serverKey).update(authMessage).digest();
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
  }

  /** True when the server-final-message proves the server knows the credential. */
  verifyServer(serverFinal: Buffer): boolean {
    const v = /^v=([A-Za-z0-9+/=]+)$/.exec(serverFinal.toString());
    if (!v || !this.serverSignature) return false;
    const got = Buffer.from(v[1], 'base64');
    return got.length === this.serverSignature.length && timingSafeEqual(got, this.serverSignature);
  }
}
