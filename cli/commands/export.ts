/**
 * `edgemq export`: the whole security configuration as JSON (GET /export),
 * the document `edgemq import` and POST /import take back.
 */
import { writeFile } from 'node:fs/promises';
import { parseCommandLine } from '../args';
import { withAdminApi } from '../api/client';
import { parseTarget, TARGET_OPTIONS, TARGET_USAGE, type Target } from '../api/target';
import { CliError, type CliCommand, type CliIo } from '../command';

const USAGE = `edgemq export writes the whole security configuration as JSON: credentials with
their password hashes and SCRAM keys, ACL rules, blocked clients, certificate
revocations, authentication providers with their secrets, and settings. Admin
accounts and API keys are never included. Keep the file safe.

Usage: edgemq export [--out FILE] (--local | --url URL [--token TOKEN])
  --out FILE   write to FILE (created readable by its owner only) instead of standard output

${TARGET_USAGE}
`;

/** The export holds password hashes and provider secrets: a new file is private, as mosquitto_passwd makes password files. */
const FILE_MODE = 0o600;

export interface ExportOptions {
  out: string | null;
  target: Target;
}

export function parseExport(args: string[], env: NodeJS.ProcessEnv): ExportOptions | 'help' {
  const { values } = parseCommandLine({ args, options: { ...TARGET_OPTIONS, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }, USAGE);
  if (values.help) return 'help';
  if (values.out === '') throw new CliError('--out needs a file name.');
  return { out: values.out ?? null, target: parseTarget(values, env) };
}

const count = (doc: Record<string, unknown>, key: string) => (Array.isArray(doc[key]) ? (doc[key] as unknown[]).length : 0);

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseExport(args, process.env);
  if (options === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  const doc = await withAdminApi(options.target, (api) => api.call<Record<string, unknown>>('GET', '/export'));
  const text = `${JSON.stringify(doc, null, 2)}\n`;
  if (options.out === null) {
    io.stdout.write(text);
    return 0;
  }
  try {
    await writeFile(options.out, text, { mode: FILE_MODE });
  } catch (err) {
    throw new CliError(`cannot write ${options.out}: ${(err as Error).message}`);
  }
  io.stdout.write(
    `Exported ${count(doc, 'credentials')} credentials, ${count(doc, 'aclRules')} ACL rules, ${count(doc, 'blockedClients')} blocked clients, ` +
      `${count(doc, 'certificateRevocations')} certificate revocations and ${count(doc, 'authProviders')} authentication providers to ${options.out}.\n`,
  );
  return 0;
}

const exportCommand: CliCommand = { run };
export default exportCommand;
