import type { TrustedContext } from '../protocol/ports';

/** Header carrying the Worker-built context to the Durable Object. Never copied from a client. */
export const TRUSTED_CONTEXT_HEADER = 'x-edgemq-trusted-context';

const TLS_CLIENT_AUTH_MAX_FIELD = 16_384;

/**
 * Builds what the edge vouches for from platform fields only. CF-Connecting-IP
 * is set by the platform and overwrites anything a client sent; every
 * tlsClientAuth value is a string ("0" is truthy), so they are copied as-is
 * and interpreted only by the authentication providers.
 *
 * TLS: on Cloudflare a wss:// connection arrives as an https:// request and
 * `cf.tlsVersion` names the version ("" or "NONE" without TLS); either says
 * TLS. The local runtime (scripts/local-runtime.mjs) gives every request a cf
 * object without a TLS claim and serves wss:// through a TLS front whose
 * requests arrive as https://, so the same rule is truthful there too.
 */
export function buildTrustedContext(request: Request, subprotocol: string): TrustedContext {
  const cf = (request as { cf?: IncomingRequestCfProperties }).cf;
  const tlsVersion = cf?.tlsVersion;
  const tls = usedTls(request.url, tlsVersion);
  let tlsClientAuth: Record<string, string> | null = null;
  const raw = cf?.tlsClientAuth as unknown;
  if (raw && typeof raw === 'object') {
    tlsClientAuth = {};
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof value === 'string') tlsClientAuth[key] = value.slice(0, TLS_CLIENT_AUTH_MAX_FIELD);
    }
  }
  const forwardedCert = request.headers.get('client-cert');
  return {
    ip: request.headers.get('cf-connecting-ip') ?? 'unknown',
    tls,
    tlsClientAuth,
    subprotocol,
    forwardedClientCert: forwardedCert
      ? { cert: forwardedCert.slice(0, TLS_CLIENT_AUTH_MAX_FIELD), chain: request.headers.get('client-cert-chain')?.slice(0, TLS_CLIENT_AUTH_MAX_FIELD) ?? null }
      : null,
  };
}

/** `url` as the runtime serializes a request's URL: its scheme is lower case. */
function usedTls(url: string, tlsVersion: unknown): boolean {
  if (url.startsWith('https:')) return true;
  return typeof tlsVersion === 'string' && tlsVersion !== '' && tlsVersion !== 'NONE';
}

export function encodeTrustedContext(context: TrustedContext): string {
  return encodeURIComponent(JSON.stringify(context));
}

export function decodeTrustedContext(header: string | null): TrustedContext | null {
  if (!header) return null;
  try {
    const value = JSON.parse(decodeURIComponent(header)) as TrustedContext;
    if (typeof value.ip !== 'string' || typeof value.tls !== 'boolean' || typeof value.subprotocol !== 'string') return null;
    return value;
  } catch {
    return null;
  }
}
