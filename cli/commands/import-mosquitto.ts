/**
 * `edgemq import-mosquitto`: a mosquitto password_file and/or acl_file,
 * through POST /import/mosquitto. The files are sent as they are; the API
 * parses them and refuses a file with any error, naming each line.
 */
import { parseCommandLine } from '../args';
import { AdminApiError, withAdminApi } from '../api/client';
import { parseTarget, TARGET_OPTIONS, TARGET_USAGE, type Target } from '../api/target';
import { CliError, type CliCommand, type CliIo } from '../command';
import { readTextInput } from '../input-file';

const USAGE = `edgemq import-mosquitto imports a mosquitto password file and/or acl_file.

Usage: edgemq import-mosquitto [--passwd FILE] [--acl FILE] [--replace-acl]
                               (--local | --url URL [--token TOKEN])
  --passwd FILE   a password_file as mosquitto_passwd writes it (username:$7$... or $6$...);
                  each user updates the password of the basic credential with that
                  username, or becomes a new basic credential
  --acl FILE      an acl_file (topic, user and pattern lines); its rules are added
                  after the stored ones, in file order, and, as in mosquitto, whatever
                  they do not grant is denied from then on (aclDefaultPolicy = deny)
  --replace-acl   replace every stored ACL rule with the file's instead
At least one of --passwd and --acl. A file with any error imports nothing.

${TARGET_USAGE}
`;

export interface ImportMosquittoOptions {
  passwd: string | null;
  acl: string | null;
  replaceAcl: boolean;
  target: Target;
}

export function parseImportMosquitto(args: string[], env: NodeJS.ProcessEnv): ImportMosquittoOptions | 'help' {
  const { values } = parseCommandLine(
    {
      args,
      options: {
        ...TARGET_OPTIONS,
        passwd: { type: 'string' },
        acl: { type: 'string' },
        'replace-acl': { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    },
    USAGE,
  );
  if (values.help) return 'help';
  if (values.passwd === undefined && values.acl === undefined) throw new CliError(`nothing to import: give --passwd FILE and/or --acl FILE.\n\n${USAGE}`);
  if (values['replace-acl'] && values.acl === undefined) throw new CliError('--replace-acl needs --acl FILE: without it every stored ACL rule would just be removed.');
  return { passwd: values.passwd ?? null, acl: values.acl ?? null, replaceAcl: values['replace-acl'] ?? false, target: parseTarget(values, env) };
}

interface ImportResult {
  credentials: { created: number; updated: number };
  aclRules: { created: number; removed: number };
  aclDefaultPolicy: 'deny' | null;
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseImportMosquitto(args, process.env);
  if (options === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  // Both files are read before anything is sent, so a typo in the second path changes nothing.
  const passwd = options.passwd === null ? undefined : await readTextInput(options.passwd, 'password file', io);
  const acl = options.acl === null ? undefined : await readTextInput(options.acl, 'acl_file', io);
  let result: ImportResult;
  try {
    result = await withAdminApi(options.target, (api) => api.call<ImportResult>('POST', '/import/mosquitto', { passwd, acl, replaceAclRules: options.replaceAcl }));
  } catch (err) {
    // The API names the body field; the user knows the file by its path.
    const file = err instanceof AdminApiError ? (err.field === 'passwd' ? options.passwd : err.field === 'acl' ? options.acl : null) : null;
    if (file !== null) throw new CliError(`${(err as Error).message}\n(in ${file}; nothing was imported)`);
    throw err;
  }
  const { credentials: c, aclRules: r } = result;
  if (passwd !== undefined) io.stdout.write(`Users: ${c.created} created, ${c.updated} updated.\n`);
  if (acl !== undefined) io.stdout.write(`ACL rules: ${r.created} added${options.replaceAcl ? `, ${r.removed} removed` : ''}.\n`);
  if (result.aclDefaultPolicy === 'deny') io.stdout.write('ACL default policy: deny (as in mosquitto, what the acl_file does not grant is denied).\n');
  return 0;
}

const importMosquitto: CliCommand = { run };
export default importMosquitto;
