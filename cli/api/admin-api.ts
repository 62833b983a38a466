/**
 * What both sides of the admin API share: the interface the commands call,
 * its error, and how an HTTP answer is read. Its own module, so the local and
 * remote sides need not import the module that loads them.
 */
import { CliError } from '../command';

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
