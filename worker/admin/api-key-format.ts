/** API keys look like `emq_<43 base64url characters>` (32 random bytes). */
export const API_KEY_PREFIX = 'emq_';
/** How much of a key is kept in clear so operators can tell keys apart. */
const SHOWN_CHARACTERS = 12;

function base64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function generateApiKey(): { key: string; prefix: string } {
  const key = API_KEY_PREFIX + base64url(crypto.getRandomValues(new Uint8Array(32)));
  return { key, prefix: key.slice(0, SHOWN_CHARACTERS) };
}

/**
 * Keys are random and long, so a fast hash is enough: only the SHA-256 is
 * stored, and a stolen table does not give working keys.
 */
export async function hashApiKey(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)));
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX) && /^emq_[A-Za-z0-9_-]{43}$/.test(token);
}
