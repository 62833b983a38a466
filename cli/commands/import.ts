/**
 * `edgemq import`: a document written by `edgemq export` (or GET /export),
 * through POST /import. Each section the document holds replaces the stored
 * one in a single transaction; sections it leaves out stay as they are.
 */
import { parseCommandLine } from '../args';
import { withAdminApi } from '../api/client';
import { parseTarget, TARGET_OPTIONS, TARGET_USAGE, type Target } from '../api/target';
import { CliError, type CliCommand, type CliIo } from '../command';
import { readTextInput } from '../input-file';

const USAGE = `edgemq import loads a configuration document written by \`edgemq export\`.

Usage: edgemq import FILE (--local | --url URL [--token TOKEN])
  FILE   the JSON document, or - for standard input. Each section it holds
         (credentials, aclRules, blockedClients, certificateRevocations,
         authProviders, settings) replaces the stored one, all in one
         transaction; sections it leaves out are not touched.

${TARGET_USAGE}
`;

export interface ImportOptions {
  file: string;
  target: Target;
}

export function parseImport(args: string[], env: NodeJS.ProcessEnv): ImportOptions | 'help' {
  const { values, positionals } = parseCommandLine({ args, allowPositionals: true, options: { ...TARGET_OPTIONS, help: { type: 'boolean', short: 'h' } } }, USAGE);
  if (values.help) return 'help';
  if (positionals.length !== 1) throw new CliError(`${positionals.length === 0 ? 'which file? Give the exported JSON document.' : `one file at a time, got ${positionals.length}.`}\n\n${USAGE}`);
  return { file: positionals[0], target: parseTarget(values, env) };
}

/** Parsed here only to say early, and with the file's name, that it is not JSON at all; its contents are the API's to judge. */
export function parseDocument(text: string, file: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${file} is not JSON: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new CliError(`${file} is not a configuration document: expected a JSON object from \`edgemq export\`.`);
  return doc as Record<string, unknown>;
}

type Imported = Record<string, number | boolean | null>;

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseImport(args, process.env);
  if (options === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  const doc = parseDocument(await readTextInput(options.file, 'configuration document', io), options.file);
  const { imported } = await withAdminApi(options.target, (api) => api.call<{ imported: Imported }>('POST', '/import', doc));
  const replaced = Object.entries(imported).filter(([, v]) => v !== null && v !== false);
  const kept = Object.entries(imported).filter(([, v]) => v === null || v === false);
  io.stdout.write(`Replaced: ${replaced.map(([k, v]) => (typeof v === 'number' ? `${k} (${v})` : k)).join(', ') || 'nothing'}.\n`);
  if (kept.length > 0) io.stdout.write(`Not in the document, left as they were: ${kept.map(([k]) => k).join(', ')}.\n`);
  return 0;
}

const importCommand: CliCommand = { run };
export default importCommand;
