import type { ScramCredential } from './scram-credentials';
import { DEFAULT_SCRAM_ITERATIONS } from './scram-credentials';
import { constantTimeEqual, fromBase64, hash, hashLength, hmac, toBase64, xor, type ScramMechanism } from './scram-crypto';
import { decodeText, parseClientFinal, parseClientFirst, ScramSyntaxError } from './scram-messages';

/**
 * The server side of one SCRAM exchange (RFC 5802, RFC 7677), with no
 * platform calls: client-first → server-first → client-final →
 * server-final. The caller supplies the credential lookup.
 *
 * Unknown usernames get a server-first built from a salt derived from a
 * secret and the username, so it is stable across attempts and looks like a
 * real one; the exchange then fails at the proof like a wrong password would,
 * and only the operator's log says which it was.
 */
export type ScramFailure = 'unknown-user' | 'invalid-proof' | 'protocol';

export type ScramStep<T> =
  | { kind: 'challenge'; data: Uint8Array; next(clientFinal: Uint8Array | null): Promise<ScramStep<T>> }
  | { kind: 'success'; data: Uint8Array; username: string; credential: T }
  | { kind: 'failure'; failure: ScramFailure; username: string | null; detail: string };

export interface ScramServerOptions<T> {
  mechanism: ScramMechanism;
  /** Returns the stored keys for this username and mechanism, or null. */
  lookup(username: string): Promise<(Pick<ScramCredential, 'salt' | 'iterations' | 'storedKey' | 'serverKey'> & { record: T }) | null>;
  /** Key for the salts shown for unknown usernames. */
  fakeSaltSecret: Uint8Array;
  /** The server's half of the nonce; random unless a test pins it to an RFC example. */
  serverNonce?: () => string;
}

const encoder = new TextEncoder();

export async function startScram<T>(clientFirstData: Uint8Array | null, options: ScramServerOptions<T>): Promise<ScramStep<T>> {
  const { mechanism } = options;
  let first;
  try {
    first = parseClientFirst(decodeText(clientFirstData));
  } catch (err) {
    return protocolFailure(err, null);
  }

  const found = await options.lookup(first.username);
  const stored = found ? decodeStored(found, mechanism) : null;
  const salt = stored?.salt ?? (await hmac(mechanism, options.fakeSaltSecret, `${mechanism}\0${first.username}`)).slice(0, 16);
  const iterations = stored?.iterations ?? DEFAULT_SCRAM_ITERATIONS;
  const combinedNonce = first.nonce + (options.serverNonce?.() ?? toBase64(crypto.getRandomValues(new Uint8Array(18))));
  const serverFirst = `r=${combinedNonce},s=${toBase64(salt)},i=${iterations}`;

  return {
    kind: 'challenge',
    data: encoder.encode(serverFirst),
    async next(clientFinalData) {
      let final;
      try {
        final = parseClientFinal(decodeText(clientFinalData));
      } catch (err) {
        return protocolFailure(err, first.username);
      }
      if (final.channelBinding !== toBase64(encoder.encode(first.gs2Header))) {
        return { kind: 'failure', failure: 'protocol', username: first.username, detail: 'channel binding data does not match the gs2 header' };
      }
      if (final.nonce !== combinedNonce) {
        return { kind: 'failure', failure: 'protocol', username: first.username, detail: 'nonce does not match the server nonce' };
      }
      const proof = fromBase64(final.proof);
      if (!proof || proof.length !== hashLength(mechanism)) {
        return { kind: 'failure', failure: 'protocol', username: first.username, detail: 'client proof is not valid base64 of the right length' };
      }
      const authMessage = `${first.bare},${serverFirst},${final.withoutProof}`;
      // The same work whether or not the user exists.
      const storedKey = stored?.storedKey ?? new Uint8Array(hashLength(mechanism));
      const clientSignature = await hmac(mechanism, storedKey, authMessage);
      const proofMatches = constantTimeEqual(await hash(mechanism, xor(proof, clientSignature)), storedKey);
      if (!stored || !found) {
        return { kind: 'failure', failure: 'unknown-user', username: first.username, detail: `no ${mechanism} credential for username ${JSON.stringify(first.username)}` };
      }
      if (!proofMatches) {
        return { kind: 'failure', failure: 'invalid-proof', username: first.username, detail: `wrong password for username ${JSON.stringify(first.username)}` };
      }
      const serverSignature = await hmac(mechanism, stored.serverKey, authMessage);
      return { kind: 'success', data: encoder.encode(`v=${toBase64(serverSignature)}`), username: first.username, credential: found.record };
    },
  };
}

function decodeStored(c: Pick<ScramCredential, 'salt' | 'iterations' | 'storedKey' | 'serverKey'>, mechanism: ScramMechanism) {
  const salt = fromBase64(c.salt);
  const storedKey = fromBase64(c.storedKey);
  const serverKey = fromBase64(c.serverKey);
  const n = hashLength(mechanism);
  if (!salt || !storedKey || !serverKey || storedKey.length !== n || serverKey.length !== n || !(c.iterations > 0)) {
    // A damaged row must not become a way in: treat it like a missing user.
    console.error('SCRAM credential has malformed keys; refusing it');
    return null;
  }
  return { salt, iterations: c.iterations, storedKey, serverKey };
}

function protocolFailure<T>(err: unknown, username: string | null): ScramStep<T> {
  if (err instanceof ScramSyntaxError) return { kind: 'failure', failure: 'protocol', username, detail: err.message };
  throw err;
}
