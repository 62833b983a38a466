import { useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense, useEffect, useRef, useState, type ReactNode } from 'react';
import { Link, Redirect, Route, Switch, useLocation } from 'wouter';
import { useAuth } from './api/auth';
import { EventsProvider, useEvents } from './api/events';
import { AclRulesPage } from './pages/AclRules';
import { AuthProvidersPage } from './pages/AuthProviders';
import { BlockedClientsPage } from './pages/BlockedClients';
import { CredentialsPage } from './pages/Credentials';
import { LoginPage } from './pages/Login';
import { NotFoundPage } from './pages/NotFound';
import { OverviewPage } from './pages/Overview';
import { RetainedPage } from './pages/Retained';
import { SessionsPage } from './pages/Sessions';
import { ShardsPage } from './pages/Shards';
import { Loading } from './components/States';
import { SubscriptionsPage } from './pages/Subscriptions';
import { UnauthorizedClientsPage } from './pages/UnauthorizedClients';

// MQTT.js is most of the bundle; only the MQTT client page needs it.
const MqttClientPage = lazy(() => import('./pages/MqttClient').then((m) => ({ default: m.MqttClientPage })));

export const NAV = [
  { path: '/', label: 'Overview', page: OverviewPage },
  { path: '/unauthorized-clients', label: 'Unauthorized clients', page: UnauthorizedClientsPage },
  { path: '/sessions', label: 'Sessions', page: SessionsPage },
  { path: '/subscriptions', label: 'Subscriptions', page: SubscriptionsPage },
  { path: '/retained', label: 'Retained messages', page: RetainedPage },
  { path: '/shards', label: 'Shards', page: ShardsPage },
  { path: '/credentials', label: 'Credentials', page: CredentialsPage },
  { path: '/acl-rules', label: 'ACL rules', page: AclRulesPage },
  { path: '/blocked-clients', label: 'Blocked clients', page: BlockedClientsPage },
  { path: '/auth-providers', label: 'Authentication providers', page: AuthProvidersPage },
  { path: '/mqtt-client', label: 'MQTT client', page: MqttClientPage },
] as const;

export function App() {
  const { session } = useAuth();
  const queryClient = useQueryClient();
  const previousUser = useRef(session?.username);

  // Another account must never see the previous one's cached data.
  useEffect(() => {
    if (previousUser.current !== session?.username) queryClient.clear();
    previousUser.current = session?.username;
  }, [session?.username, queryClient]);

  return (
    <Switch>
      <Route path="/login">{session ? <Redirect to={afterLogin()} replace /> : <LoginPage />}</Route>
      <Route>
        {session ? (
          <EventsProvider token={session.token}>
            <Shell>
              <Switch>
                {NAV.map(({ path, page: Page }) => (
                  <Route key={path} path={path}>
                    <Page />
                  </Route>
                ))}
                <Route>
                  <NotFoundPage />
                </Route>
              </Switch>
            </Shell>
          </EventsProvider>
        ) : (
          <RedirectToLogin />
        )}
      </Route>
    </Switch>
  );
}

function afterLogin(): string {
  const next = new URLSearchParams(location.search).get('next');
  // Only paths inside the dashboard, never another origin.
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
}

function RedirectToLogin() {
  const [location] = useLocation();
  const next = location === '/' ? '' : `?next=${encodeURIComponent(location + window.location.search)}`;
  return <Redirect to={`/login${next}`} replace />;
}

function Shell({ children }: { children: ReactNode }) {
  const { session, logout } = useAuth();
  const { status } = useEvents();
  const [location] = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    setMenuOpen(false);
    const current = NAV.find((n) => n.path === location);
    document.title = current ? `${current.label} · EdgeMQ` : 'EdgeMQ';
  }, [location]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main" onClick={(e) => (e.preventDefault(), main.current?.focus())}>
        Skip to content
      </a>
      <header className="topbar">
        <button
          type="button"
          className="btn btn-icon menu-toggle"
          aria-expanded={menuOpen}
          aria-controls="site-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          <span aria-hidden="true">☰</span>
          <span className="visually-hidden">Menu</span>
        </button>
        <Link href="/" className="brand">
          EdgeMQ
        </Link>
        <span className={`live-status live-${status}`} title="Live events connection">
          <span className="dot" aria-hidden="true" />
          {status === 'live' ? 'Live' : status === 'connecting' ? 'Connecting…' : 'Polling'}
        </span>
        <span className="user">
          <span className="user-name">{session?.username}</span>
          <span className={`role role-${session?.role}`}>{session?.role}</span>
        </span>
        <button type="button" className="btn" onClick={logout}>
          Sign out
        </button>
      </header>
      <nav id="site-nav" className={menuOpen ? 'sidenav open' : 'sidenav'} aria-label="Main">
        <ul>
          {NAV.map((item) => (
            <li key={item.path}>
              <Link href={item.path} aria-current={location === item.path ? 'page' : undefined} onClick={() => setMenuOpen(false)}>
                {item.label}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={main} tabIndex={-1}>
        <Suspense fallback={<Loading />}>{children}</Suspense>
      </main>
    </div>
  );
}
