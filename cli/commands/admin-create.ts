/**
 * `edgemq admin create`: a dashboard / admin API account, through
 * POST /admin-users. With --local it needs no token: whoever can open the
 * local database may add an account, even before any exists.
 */
import { MIN_ADMIN_PASSWORD_LENGTH } from '../../worker/admin/bootstrap';
import { parseCommandLine } from '../args';
import { withAdminApi } from '../api/client';
import { parseTarget, TARGET_OPTIONS, TARGET_USAGE, type Target } from '../api/target';
import { CliError, type CliCommand, type CliIo } from '../command';
import { passwordReader } from '../prompt';

const ROLES = ['admin', 'viewer'] as const;
type Role = (typeof ROLES)[number];

const USAGE = `edgemq admin create makes an account for the dashboard and the admin API.

Usage: edgemq admin create [--username] NAME [--role admin|viewer] [--password PASSWORD]
                           (--local | --url URL [--token TOKEN])
  --username NAME     the account name (no spaces or colons)
  --role ROLE         admin (reads and changes everything, the default) or viewer (reads only)
  --password PASSWORD the password (at least ${MIN_ADMIN_PASSWORD_LENGTH} characters); without it, it is
                      asked for twice on a terminal, or read as one line from standard input

${TARGET_USAGE}
`;

export interface AdminCreateOptions {
  username: string;
  role: Role;
  password: string | null;
  target: Target;
}

export function parseAdminCreate(args: string[], env: NodeJS.ProcessEnv): AdminCreateOptions | 'help' {
  const { values, positionals } = parseCommandLine(
    {
      args,
      allowPositionals: true,
      options: {
        ...TARGET_OPTIONS,
        username: { type: 'string' },
        role: { type: 'string' },
        password: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (values.help) return 'help';
  if (values.username !== undefined && positionals.length > 0) throw new CliError(`give the username once: --username ${values.username} or ${positionals[0]}, not both.`);
  if (positionals.length > 1) throw new CliError(`unexpected arguments after the username: ${positionals.slice(1).join(' ')}\n\n${USAGE}`);
  const username = values.username ?? positionals[0];
  if (username === undefined || username === '') throw new CliError(`which account? Give a username.\n\n${USAGE}`);
  const role = values.role ?? 'admin';
  if (!(ROLES as readonly string[]).includes(role)) throw new CliError(`--role must be admin or viewer, got "${role}".`);
  if (values.password === '') throw new CliError('--password is empty.');
  return { username, role: role as Role, password: values.password ?? null, target: parseTarget(values, env) };
}

/** Hidden and asked twice on a terminal; one line from a pipe, so scripts can feed it without putting it on the command line. */
async function askPassword(io: CliIo): Promise<string> {
  const reader = passwordReader(io);
  try {
    const password = await reader.read('Password: ');
    if (password === '') throw new CliError('Empty password.');
    const terminal = io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function';
    if (terminal && (await reader.read('Reenter password: ')) !== password) throw new CliError('Passwords do not match.');
    return password;
  } finally {
    reader.close();
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseAdminCreate(args, process.env);
  if (options === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  // Asked before connecting, so a typo costs nothing and the local database is not held open meanwhile.
  const password = options.password ?? (await askPassword(io));
  const created = await withAdminApi(options.target, (api) =>
    api.call<{ id: string; username: string; role: Role }>('POST', '/admin-users', { username: options.username, password, role: options.role }),
  );
  io.stdout.write(`Created ${created.role} account "${created.username}" (id ${created.id}).\n`);
  return 0;
}

const adminCreate: CliCommand = { run };
export default adminCreate;
