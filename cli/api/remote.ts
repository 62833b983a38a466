import { CliError } from '../command';
import { readAnswer, type AdminApi } from './admin-api';
import type { Target } from './target';

/** Long enough for an import of a large passwd file; a hung connection still ends. */
const TIMEOUT_MS = 120_000;

/** The admin API of a running EdgeMQ over HTTP(S), with the token as a bearer token. */
export function remoteApi(target: Extract<Target, { kind: 'remote' }>): AdminApi {
  return {
    async call<T>(method: string, path: string, body?: unknown): Promise<T> {
      let res: Response;
      try {
        res = await fetch(`${target.baseUrl}${path}`, {
          method,
          headers: { Authorization: `Bearer ${target.token}`, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(TIMEOUT_MS),
        });
      } catch (err) {
        // fetch says only "fetch failed"; the reason (ECONNREFUSED, a DNS failure, a bad certificate) is in its cause.
        const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
        throw new CliError(`cannot reach ${target.origin}: ${cause}`);
      }
      return readAnswer<T>(res, target.origin);
    },
    async close() {},
  };
}
