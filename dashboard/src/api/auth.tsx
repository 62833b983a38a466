import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { configureClient, request } from './client';
import type { LoginResponse, Role } from './types';
import { toMillis } from '../lib/format';

/**
 * The signed-in operator: token, role and expiry. The token lives in
 * sessionStorage so a reload keeps the tab signed in while closing the tab
 * signs out; it is refreshed shortly before it expires.
 */
export interface AuthSession {
  token: string;
  role: Role;
  username: string;
  expiresAt: number;
}

interface AuthState {
  session: AuthSession | null;
  /** Why the operator was sent back to the login page, if not by choice. */
  notice: string | null;
  login(username: string, password: string): Promise<void>;
  logout(): void;
  canWrite: boolean;
}

const STORAGE_KEY = 'edgemq.session';
const REFRESH_BEFORE_MS = 60_000;

const AuthContext = createContext<AuthState | null>(null);

function readStored(): AuthSession | null {
  try {
    const raw = sessionStorage.getItem(STORAGE_KEY);
    if (!raw) return null;
    const parsed = JSON.parse(raw) as AuthSession;
    if (typeof parsed.token !== 'string' || !(parsed.expiresAt > Date.now())) return null;
    return parsed;
  } catch {
    return null;
  }
}

function sessionFrom(response: LoginResponse, username: string): AuthSession {
  const expiresAt = toMillis(response.expiresAt) ?? Date.now() + 15 * 60_000;
  return { token: response.token, role: response.role, username: response.username ?? username, expiresAt };
}

export function AuthProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<AuthSession | null>(readStored);
  const [notice, setNotice] = useState<string | null>(null);
  const sessionRef = useRef(session);
  sessionRef.current = session;

  const store = useCallback((next: AuthSession | null) => {
    sessionRef.current = next;
    if (next) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(next));
    else sessionStorage.removeItem(STORAGE_KEY);
    setSession(next);
  }, []);

  // During render, not in an effect: children's effects (their first requests) run before their parent's.
  configureClient({
    token: () => sessionRef.current?.token ?? null,
    unauthorized: () => {
      if (!sessionRef.current) return;
      store(null);
      setNotice('Your session has ended. Sign in again.');
    },
  });

  useEffect(() => {
    if (!session) return;
    const delay = Math.max(1_000, session.expiresAt - Date.now() - REFRESH_BEFORE_MS);
    const timer = setTimeout(async () => {
      try {
        const refreshed = await request<LoginResponse>('/auth/refresh', { method: 'POST', skipAuthHandling: true });
        store(sessionFrom(refreshed, session.username));
      } catch {
        store(null);
        setNotice('Your session has ended. Sign in again.');
      }
    }, delay);
    return () => clearTimeout(timer);
  }, [session, store]);

  const login = useCallback(
    async (username: string, password: string) => {
      const response = await request<LoginResponse>('/auth/login', {
        method: 'POST',
        body: { username, password },
        skipAuthHandling: true,
      });
      setNotice(null);
      store(sessionFrom(response, username));
    },
    [store],
  );

  const logout = useCallback(() => {
    setNotice(null);
    store(null);
  }, [store]);

  const value = useMemo<AuthState>(
    () => ({ session, notice, login, logout, canWrite: session?.role === 'admin' }),
    [session, notice, login, logout],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthState {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth outside AuthProvider');
  return value;
}
