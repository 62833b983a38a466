/**
 * The one way the dashboard talks to the broker: JSON over /api/v1 with a
 * bearer token. Errors arrive as `{error: {code, message, field?}}` and are
 * turned into ApiError so pages can show the message and mark the field.
 */

export const API_BASE = '/api/v1';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type QueryValue = string | number | boolean | null | undefined | readonly (string | number | boolean)[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** Login and refresh must not trigger the "session expired" handling. */
  skipAuthHandling?: boolean;
}

let tokenSource: () => string | null = () => null;
let onUnauthorized: () => void = () => {};

/** Wired once by the auth provider, so plain functions can call the API without React context. */
export function configureClient(options: { token: () => string | null; unauthorized: () => void }): void {
  tokenSource = options.token;
  onUnauthorized = options.unauthorized;
}


/** Empty filters are left out, so the API applies its own defaults. Arrays become comma lists. */
export function queryString(query: Query | undefined): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) {
      if (value.length > 0) params.set(key, value.join(','));
    } else {
      params.set(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

export async function request<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const token = tokenSource();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(options.body);
  }
  let response: Response;
  try {
    response = await fetch(`${API_BASE}${path}${queryString(options.query)}`, {
      method: options.method ?? 'GET',
      headers,
      body,
      signal: options.signal,
    });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiError(0, 'network', 'The broker could not be reached. Check the connection and try again.');
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!response.ok) {
    const error = errorFrom(response.status, parsed);
    if (response.status === 401 && !options.skipAuthHandling) onUnauthorized();
    throw error;
  }
  return parsed as T;
}

function errorFrom(status: number, body: unknown): ApiError {
  const detail = (body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | undefined)?.error;
  if (detail && typeof detail === 'object') {
    return new ApiError(
      status,
      typeof detail.code === 'string' ? detail.code : String(status),
      typeof detail.message === 'string' ? detail.message : `Request failed (${status})`,
      typeof detail.field === 'string' ? detail.field : undefined,
    );
  }
  const fallback: Record<number, string> = {
    401: 'You are not signed in.',
    403: 'Your role may not do this.',
    404: 'Not found.',
    429: 'Too many requests; wait a moment and try again.',
  };
  return new ApiError(status, String(status), fallback[status] ?? `Request failed (${status})`);
}

export function errorMessage(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export const api = {
  get: <T>(path: string, query?: Query, signal?: AbortSignal) => request<T>(path, { query, signal }),
  post: <T>(path: string, body?: unknown) => request<T>(path, { method: 'POST', body }),
  put: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PUT', body }),
  patch: <T>(path: string, body?: unknown) => request<T>(path, { method: 'PATCH', body }),
  delete: <T = void>(path: string, query?: Query) => request<T>(path, { method: 'DELETE', query }),
};

/** Path segments from user data (client ids may hold `/`, `#`, spaces). */
export function seg(value: string): string {
  return encodeURIComponent(value);
}
