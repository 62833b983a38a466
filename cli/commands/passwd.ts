/**
 * `edgemq passwd`: mosquitto_passwd's command line, writing mosquitto 2 `$7$`
 * hashes that both mosquitto and EdgeMQ accept. Unlike mosquitto_passwd it
 * keeps comments and blank lines, refuses a file it cannot read back, `-U`
 * leaves entries that are already hashed alone (mosquitto_passwd would hash
 * the hash), and the file is replaced atomically.
 */
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { looksHashed, parsePasswdFile, passwdUsernameProblem } from '../../auth/mosquitto/passwd-file';
import { formatFileError, splitLines } from '../../auth/mosquitto/file-errors';
import { DEFAULT_ITERATIONS, MAX_ITERATIONS, MAX_PASSWORD_BYTES, hashPassword } from '../../auth/passwords/password-hash';
import { CliError, type CliCommand, type CliIo } from '../command';
import { passwordReader } from '../prompt';

const USAGE = `edgemq passwd manages password files for mosquitto and EdgeMQ.

Usage: edgemq passwd [-H sha512-pbkdf2] [-I iterations] [-c | -D] passwordfile username
       edgemq passwd [-H sha512-pbkdf2] [-I iterations] [-c] -b passwordfile username password
       edgemq passwd [-I iterations] -U passwordfile
 -b : take the password from the command line instead of asking for it.
 -c : create a new password file, replacing any existing one.
 -D : delete the username rather than adding or updating its password.
 -H : the hash; only sha512-pbkdf2 (mosquitto 2's $7$) is written.
 -I : PBKDF2 iterations, 1 to ${MAX_ITERATIONS} (default ${DEFAULT_ITERATIONS}, the most the edge can verify).
 -U : hash the plain-text passwords of a file; entries already hashed stay as they are.

Without -b the password is asked for twice, without echo; from a pipe, it is
read as two lines.
`;

/** New files are readable by their owner only, as mosquitto_passwd makes them. */
const NEW_FILE_MODE = 0o600;

type Mode = 'create' | 'update' | 'delete' | 'upgrade';

interface Options {
  mode: Mode;
  batch: boolean;
  iterations: number;
  file: string;
  username: string;
  password: string | null;
}

function usageError(message: string): CliError {
  return new CliError(`${message}\n\n${USAGE}`);
}

export function parseArgs(args: string[]): Options | 'help' {
  let batch = false;
  let create = false;
  let del = false;
  let upgrade = false;
  let iterations = DEFAULT_ITERATIONS;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === '--') {
      i++;
      break;
    }
    if (a === '-h' || a === '--help') return 'help';
    if (a === '-b') batch = true;
    else if (a === '-c') create = true;
    else if (a === '-D') del = true;
    else if (a === '-U') upgrade = true;
    else if (a === '-H') {
      const v = args[++i];
      if (v === undefined) throw usageError('-H needs a hash type.');
      if (v !== 'sha512-pbkdf2') throw new CliError(`unknown hash type '${v}'; only sha512-pbkdf2 is supported.`);
    } else if (a === '-I') {
      const v = args[++i];
      if (v === undefined || !/^\d{1,9}$/.test(v) || Number(v) < 1 || Number(v) > MAX_ITERATIONS) throw new CliError(`-I needs a number of iterations from 1 to ${MAX_ITERATIONS}.`);
      iterations = Number(v);
    } else if (a.startsWith('-') && a !== '-') throw usageError(`unknown option '${a}'.`);
    else break;
  }
  const rest = args.slice(i);

  if (create && del) throw new CliError('-c and -D cannot be used together.');
  if (create && upgrade) throw new CliError('-c and -U cannot be used together.');
  if (del && upgrade) throw new CliError('-D and -U cannot be used together.');
  if (del && batch) throw new CliError('-b and -D cannot be used together.');
  if (upgrade && batch) throw new CliError('-b and -U cannot be used together.');

  const mode: Mode = create ? 'create' : del ? 'delete' : upgrade ? 'upgrade' : 'update';
  if (mode === 'upgrade') {
    if (rest.length !== 1) throw usageError('-U takes exactly one argument, the password file.');
    return { mode, batch, iterations, file: rest[0], username: '', password: null };
  }
  const expected = batch ? 3 : 2;
  if (rest.length !== expected) {
    throw usageError(batch ? 'expected a password file, a username and a password.' : 'expected a password file and a username.');
  }
  const [file, username, password = null] = rest;
  const problem = passwdUsernameProblem(username);
  if (problem) throw new CliError(`${problem}.`);
  if (password !== null) checkPassword(password);
  return { mode, batch, iterations, file, username, password };
}

function checkPassword(password: string): void {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) throw new CliError(`the password must be at most ${MAX_PASSWORD_BYTES} bytes long.`);
}

async function askPassword(io: CliIo): Promise<string> {
  const reader = passwordReader(io);
  try {
    const first = await reader.read('Password: ');
    const second = await reader.read('Reenter password: ');
    if (first !== second) throw new CliError('Passwords do not match.');
    if (first === '') throw new CliError('Empty password.');
    checkPassword(first);
    return first;
  } finally {
    reader.close();
  }
}

/** The lines of the existing file and its parsed entries; any error in the file stops the command before anything is asked or written. */
async function readPasswordFile(file: string): Promise<{ lines: string[]; entries: ReturnType<typeof parsePasswdFile>['entries']; mode: number }> {
  let bytes: Buffer;
  let mode: number;
  try {
    bytes = await readFile(file);
    mode = (await stat(file)).mode & 0o777;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new CliError(`Unable to open password file ${file}: it does not exist (use -c to create it).`);
    throw new CliError(`Unable to open password file ${file}: ${(err as Error).message}.`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new CliError(`password file ${file} is not UTF-8 text.`);
  }
  const parsed = parsePasswdFile(text, { passwords: 'any' });
  if (parsed.errors.length > 0) {
    const shown = parsed.errors.slice(0, 10).map((e) => `  ${formatFileError(file, e)}`);
    if (parsed.errors.length > shown.length) shown.push(`  … and ${parsed.errors.length - shown.length} more`);
    throw new CliError(`Corrupt password file ${file}; nothing was changed:\n${shown.join('\n')}`);
  }
  // The same split the parser used, so entry.line indexes these lines.
  return { lines: splitLines(text), entries: parsed.entries, mode };
}

/** Writes beside the target and renames over it, so a crash never leaves a half-written password file. */
async function replaceFile(file: string, lines: string[], mode: number): Promise<void> {
  const text = lines.length > 0 ? `${lines.join('\n')}\n` : '';
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(tmp, text, { mode, flag: 'wx' });
    await chmod(tmp, mode);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new CliError(`Unable to write password file ${file}: ${(err as Error).message}.`);
  }
}

async function existingMode(file: string): Promise<number> {
  try {
    return (await stat(file)).mode & 0o777;
  } catch {
    return NEW_FILE_MODE;
  }
}

async function run(args: string[], io: CliIo): Promise<number> {
  const options = parseArgs(args);
  if (options === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  const { mode, file, username, iterations } = options;

  if (mode === 'create') {
    const password = options.password ?? (await askPassword(io));
    await replaceFile(file, [`${username}:${await hashPassword(password, { iterations })}`], await existingMode(file));
    return 0;
  }

  const current = await readPasswordFile(file);
  const lines = [...current.lines];

  if (mode === 'upgrade') {
    for (const entry of current.entries) {
      if (looksHashed(entry.hash)) continue;
      if (Buffer.byteLength(entry.hash, 'utf8') > MAX_PASSWORD_BYTES) throw new CliError(`line ${entry.line}: the password of user "${entry.username}" is longer than ${MAX_PASSWORD_BYTES} bytes; nothing was changed.`);
      lines[entry.line - 1] = `${entry.username}:${await hashPassword(entry.hash, { iterations })}`;
    }
  } else {
    const entry = current.entries.find((e) => e.username === username);
    if (mode === 'delete') {
      if (!entry) throw new CliError(`User ${username} not found in password file ${file}.`);
      lines.splice(entry.line - 1, 1);
    } else {
      const password = options.password ?? (await askPassword(io));
      const line = `${username}:${await hashPassword(password, { iterations })}`;
      if (entry) lines[entry.line - 1] = line;
      else lines.push(line);
    }
  }
  await replaceFile(file, lines, current.mode);
  return 0;
}

const passwd: CliCommand = { run };
export default passwd;
