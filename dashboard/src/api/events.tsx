import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import { API_BASE } from './client';
import type { LiveEvent } from './types';

/**
 * The live events WebSocket (/api/v1/events): connects, disconnects and
 * refused connections as they happen. One socket serves every page. While it
 * is down, `status` says so and pages fall back to polling, and the socket
 * is retried with backoff.
 */
export type EventsStatus = 'connecting' | 'live' | 'offline';

type Listener = (event: LiveEvent) => void;

interface EventsState {
  status: EventsStatus;
  subscribe(listener: Listener): () => void;
  recent: LiveEvent[];
}

const EventsContext = createContext<EventsState | null>(null);

const RECENT_LIMIT = 50;
const MAX_BACKOFF_MS = 30_000;
/** How often pages poll while the socket is down. */
export const FALLBACK_POLL_MS = 5_000;

export function eventsUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${API_BASE}/events`;
}

export function EventsProvider({ token, children }: { token: string | null; children: ReactNode }) {
  const [status, setStatus] = useState<EventsStatus>('connecting');
  const [recent, setRecent] = useState<LiveEvent[]>([]);
  const listeners = useRef(new Set<Listener>());

  useEffect(() => {
    if (!token) {
      setStatus('offline');
      return;
    }
    let socket: WebSocket | null = null;
    let retryTimer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let closed = false;

    const connect = () => {
      setStatus('connecting');
      // The token travels as a subprotocol because browsers cannot set headers on a WebSocket.
      socket = new WebSocket(eventsUrl(), [`bearer.${token}`]);
      socket.onopen = () => {
        attempt = 0;
        setStatus('live');
      };
      socket.onmessage = (message) => {
        let event: LiveEvent;
        try {
          event = JSON.parse(String(message.data)) as LiveEvent;
        } catch {
          return;
        }
        if (!event || typeof event.type !== 'string') return;
        setRecent((list) => [event, ...list].slice(0, RECENT_LIMIT));
        for (const listener of listeners.current) listener(event);
      };
      socket.onclose = () => {
        socket = null;
        if (closed) return;
        setStatus('offline');
        const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** attempt);
        attempt++;
        retryTimer = setTimeout(connect, delay);
      };
    };
    connect();
    return () => {
      closed = true;
      clearTimeout(retryTimer);
      socket?.close(1000);
    };
  }, [token]);

  const subscribe = useCallback((listener: Listener) => {
    listeners.current.add(listener);
    return () => {
      listeners.current.delete(listener);
    };
  }, []);
  const value = useMemo<EventsState>(() => ({ status, recent, subscribe }), [status, recent, subscribe]);
  return <EventsContext.Provider value={value}>{children}</EventsContext.Provider>;
}

export function useEvents(): EventsState {
  const value = useContext(EventsContext);
  if (!value) throw new Error('useEvents outside EventsProvider');
  return value;
}

/** Calls handler for every live event; the latest handler is used without resubscribing. */
export function useLiveEvents(handler: Listener): void {
  const { subscribe } = useEvents();
  const latest = useRef(handler);
  latest.current = handler;
  useEffect(() => subscribe((event) => latest.current(event)), [subscribe]);
}

/** Polling interval for queries that live events keep fresh: none while the socket is up. */
export function usePollWhileOffline(ms = FALLBACK_POLL_MS): number | false {
  return useEvents().status === 'live' ? false : ms;
}
