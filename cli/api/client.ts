/**
 * The admin API as the commands see it: one `call` per request, the same
 * paths and bodies whether the answer comes from a deployed Worker over
 * HTTPS or from the same route handlers run here against the local D1.
 */
import { CliError } from '../command';
import type { Target } from './target';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

export interface AdminApi {
  /** Sends one request (path below /api/v1) and resolves to the JSON answer; an error answer rejects with AdminApiError. */
  call<T>(method: Method, path: string, body?: unknown): Promise<T>;
  close(): Promise<void>;
}

/** An error answer of the admin API, with its `{error: {code, message, field}}` kept for callers that can say more. */
export class AdminApiError extends CliError {
  constructor(
    message: string,
    readonly status: number,
    readonly code: string,
    readonly field: string | undefined,
  ) {
    super(message);
    this.name = 'AdminApiError';
  }
}

const HINTS: Record<number, string> = {
  401: 'Check --token or EDGEMQ_TOKEN: API keys can be revoked, sign-in tokens last 15 minutes.',
  403: 'Use the token of an admin account or an admin API key.',
};

/** The JSON of a success, or the API's own error message with the status; anything else means the URL is not an EdgeMQ admin API. */
export async function readAnswer<T>(res: Response, where: string): Promise<T> {
  const text = await res.text();
  let body: unknown = undefined;
  if (text !== '') {
    try {
      body = JSON.parse(text);
    } catch {
      const type = res.headers.get('content-type') ?? 'no content type';
      throw new CliError(`${where} answered HTTP ${res.status} with ${type}, not the admin API's JSON: is that an EdgeMQ URL?`);
    }
  }
  if (res.ok) return body as T;
  const error = (body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)?.error;
  const code = typeof error?.code === 'string' ? error.code : `http_${res.status}`;
  const message = typeof error?.message === 'string' ? error.message : (text || res.statusText);
  const field = typeof error?.field === 'string' ? error.field : undefined;
  const hint = HINTS[res.status];
  const said = hint ? `${/[.!?]$/.test(message) ? message : `${message}.`} ${hint}` : message;
  throw new AdminApiError(`${where} refused the request (${res.status} ${code}): ${said}`, res.status, code, field);
}

export async function openAdminApi(target: Target): Promise<AdminApi> {
  // Loaded on demand: the local side starts workerd and pulls in the Worker's route modules.
  if (target.kind === 'remote') return (await import('./remote')).remoteApi(target);
  return (await import('./local')).localApi(target.persistDir);
}

/** Opens the target, runs `work` and always closes it again (the local side has a workerd process to stop). */
export async function withAdminApi<T>(target: Target, work: (api: AdminApi) => Promise<T>): Promise<T> {
  const api = await openAdminApi(target);
  try {
    return await work(api);
  } finally {
    await api.close();
  }
}
