/**
 * Parsing of the client's SCRAM messages (RFC 5802 §7). Anything the RFC does
 * not allow is an error with a short reason: the client is refused, never
 * guessed at.
 */
export const MAX_SCRAM_MESSAGE_BYTES = 4096;
const MAX_NONCE_LENGTH = 256;
const MAX_USERNAME_LENGTH = 256;

export class ScramSyntaxError extends Error {}

export interface ClientFirst {
  /** The gs2 header exactly as sent ("n,," or "y,,"), echoed back base64-encoded in client-final. */
  gs2Header: string;
  username: string;
  nonce: string;
  /** client-first-message-bare, part of AuthMessage. */
  bare: string;
}

export interface ClientFinal {
  channelBinding: string;
  nonce: string;
  proof: string;
  /** client-final-message-without-proof, part of AuthMessage. */
  withoutProof: string;
}

export function decodeText(data: Uint8Array | null): string {
  if (data === null || data.byteLength === 0) throw new ScramSyntaxError('no authentication data');
  if (data.byteLength > MAX_SCRAM_MESSAGE_BYTES) throw new ScramSyntaxError(`message longer than ${MAX_SCRAM_MESSAGE_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(data);
  } catch {
    throw new ScramSyntaxError('message is not valid UTF-8');
  }
}

export function parseClientFirst(text: string): ClientFirst {
  const first = text.indexOf(',');
  const second = first < 0 ? -1 : text.indexOf(',', first + 1);
  if (second < 0) throw new ScramSyntaxError('missing gs2 header');
  const cbind = text.slice(0, first);
  const authzid = text.slice(first + 1, second);
  if (cbind.startsWith('p=')) throw new ScramSyntaxError('channel binding is not available over WebSockets');
  if (cbind !== 'n' && cbind !== 'y') throw new ScramSyntaxError('invalid gs2 channel binding flag');
  const bare = text.slice(second + 1);
  const attrs = attributes(bare);
  if (attrs[0]?.[0] === 'm') throw new ScramSyntaxError('mandatory extension not supported');
  if (attrs[0]?.[0] !== 'n' || attrs[1]?.[0] !== 'r') throw new ScramSyntaxError('client-first must start with n= and r=');
  const username = saslName(attrs[0][1]);
  if (username.length === 0 || username.length > MAX_USERNAME_LENGTH) throw new ScramSyntaxError('invalid username length');
  if (authzid !== '' && (!authzid.startsWith('a=') || saslName(authzid.slice(2)) !== username)) {
    throw new ScramSyntaxError('authorization identity differs from the username');
  }
  return { gs2Header: text.slice(0, second + 1), username, nonce: nonce(attrs[1][1]), bare };
}

export function parseClientFinal(text: string): ClientFinal {
  const at = text.lastIndexOf(',p=');
  if (at < 0) throw new ScramSyntaxError('client-final has no proof');
  const withoutProof = text.slice(0, at);
  const attrs = attributes(withoutProof);
  if (attrs[0]?.[0] !== 'c' || attrs[1]?.[0] !== 'r') throw new ScramSyntaxError('client-final must start with c= and r=');
  return { channelBinding: attrs[0][1], nonce: nonce(attrs[1][1]), proof: text.slice(at + 3), withoutProof };
}

function attributes(text: string): Array<[string, string]> {
  return text.split(',').map((part) => {
    if (!/^[A-Za-z]=/.test(part)) throw new ScramSyntaxError('malformed attribute');
    return [part[0]!, part.slice(2)];
  });
}

/** saslname: "=2C" and "=3D" are the only escapes; a bare "=" is invalid. */
function saslName(value: string): string {
  if (/=(?!2C|3D)/.test(value)) throw new ScramSyntaxError('invalid escape in username');
  return value.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

function nonce(value: string): string {
  if (value.length === 0 || value.length > MAX_NONCE_LENGTH * 2 || !/^[\x21-\x2b\x2d-\x7e]+$/.test(value)) {
    throw new ScramSyntaxError('invalid nonce');
  }
  return value;
}
