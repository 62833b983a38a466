/**
 * The admin API from Node, as an operator's script uses it: log in once, then
 * send JSON with the bearer token. Every answer keeps its status so tests can
 * assert refusals as well as successes.
 */

export interface AdminAccount {
  username: string;
  password: string;
}

export interface AdminResponse<T> {
  status: number;
  body: T;
}

export type AdminCall = <T = any>(method: string, path: string, body?: unknown) => Promise<AdminResponse<T>>;

async function send<T>(url: string, init: { method: string; token?: string; body?: unknown }): Promise<AdminResponse<T>> {
  const res = await fetch(url, {
    method: init.method,
    headers: {
      ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}),
      ...(init.body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** POST /auth/login as it answers, token or refusal. */
export function adminLogin(baseUrl: string, account: AdminAccount): Promise<AdminResponse<{ token: string; role: string; username: string }>> {
  return send(`${baseUrl}/api/v1/auth/login`, { method: 'POST', body: account });
}

/** Logs in (failing loudly when refused) and returns the token with a caller for `/api/v1` paths. */
export async function adminSession(baseUrl: string, account: AdminAccount): Promise<{ token: string; api: AdminCall }> {
  const login = await adminLogin(baseUrl, account);
  if (login.status !== 200) throw new Error(`login as ${account.username} failed: ${login.status} ${JSON.stringify(login.body)}`);
  return { token: login.body.token, api: callerWith(baseUrl, login.body.token) };
}

/** A caller for `/api/v1` paths with a token already in hand (an API key, a viewer's session). */
export function callerWith(baseUrl: string, token: string): AdminCall {
  return (method, path, body) => send(`${baseUrl}/api/v1${path}`, { method, token, body });
}
