/**
 * Where an admin command acts: the local D1 database that `npm start` uses
 * (`--local`), or a running EdgeMQ's admin API (`--url` and a token). Always
 * exactly one, so a command never writes somewhere the user did not name.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CliError } from '../command';

export type Target = { kind: 'local'; persistDir: string } | { kind: 'remote'; origin: string; baseUrl: string; token: string };

/** The options every admin command takes, for parseArgs. */
export const TARGET_OPTIONS = {
  local: { type: 'boolean' },
  'persist-to': { type: 'string' },
  url: { type: 'string' },
  token: { type: 'string' },
} as const;

export interface TargetValues {
  local?: boolean;
  'persist-to'?: string;
  url?: string;
  token?: string;
}

/** The checkout this CLI belongs to: its wrangler.toml, migrations and `npm start` state. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Where `npm start` keeps its state (scripts/start.mjs). */
export const DEFAULT_PERSIST_DIR = path.join(PROJECT_ROOT, '.wrangler', 'state');
/** Where the Worker mounts the admin API (worker/admin/app.ts). */
const API_PATH = '/api/v1';

export const TARGET_USAGE = `Target (exactly one):
  --local             the local database of this checkout, the one \`npm start\` uses
    --persist-to DIR  its state directory (default: .wrangler/state in the checkout)
  --url URL           a running EdgeMQ, e.g. https://edgemq.example.workers.dev
    --token TOKEN     an admin API key (emq_...) or a sign-in token from
                      POST /api/v1/auth/login; default: $EDGEMQ_TOKEN`;

function targetError(message: string): CliError {
  return new CliError(`${message}\n\n${TARGET_USAGE}`);
}

/** The admin API's base URL for what the user typed: the bare origin, or one already ending in /api/v1. */
export function apiBaseUrl(input: string): { origin: string; baseUrl: string } {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CliError(`--url must be an http:// or https:// URL, got "${input}".`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliError(`--url must be an http:// or https:// URL, got "${input}".`);
  if (url.username || url.password) throw new CliError('--url must not contain a user name or password; pass a token with --token or EDGEMQ_TOKEN.');
  const pathname = url.pathname.replace(/\/+$/, '');
  return { origin: url.origin, baseUrl: `${url.origin}${pathname.endsWith(API_PATH) ? pathname : `${pathname}${API_PATH}`}` };
}

/** Resolves the target options; `env` supplies EDGEMQ_TOKEN. */
export function parseTarget(values: TargetValues, env: NodeJS.ProcessEnv): Target {
  const remote = values.url !== undefined || values.token !== undefined;
  if (values.local && remote) throw targetError(`--local cannot be combined with ${values.url !== undefined ? '--url' : '--token'}: choose one target.`);
  if (values.local) return { kind: 'local', persistDir: path.resolve(values['persist-to'] ?? DEFAULT_PERSIST_DIR) };
  if (values['persist-to'] !== undefined) throw targetError('--persist-to only goes with --local.');
  if (values.url === undefined) {
    throw targetError(values.token !== undefined ? '--token needs --url: which EdgeMQ should it go to?' : 'no target: give --local or --url URL.');
  }
  const { origin, baseUrl } = apiBaseUrl(values.url);
  const token = values.token ?? env.EDGEMQ_TOKEN ?? '';
  if (token.trim() === '') throw targetError('--url needs a token: --token TOKEN or the EDGEMQ_TOKEN environment variable.');
  if (/\s/.test(token.trim())) throw new CliError('the token must not contain spaces; give the token itself, without "Bearer".');
  return { kind: 'remote', origin, baseUrl, token: token.trim() };
}
