import { readFile } from 'node:fs/promises';
import { CliError, type CliIo } from './command';

async function readStdin(io: CliIo): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

/**
 * A text file the user named (`-` is standard input), refused with a message
 * that names it when it is missing, unreadable or not UTF-8: the admin API
 * takes text, and a mangled decode would import the wrong passwords.
 */
export async function readTextInput(file: string, what: string, io: CliIo): Promise<string> {
  let bytes: Buffer;
  try {
    bytes = file === '-' ? await readStdin(io) : await readFile(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'ENOENT' ? 'it does not exist' : e.code === 'EISDIR' ? 'it is a directory' : e.code === 'EACCES' ? 'permission denied' : e.message;
    throw new CliError(`cannot read ${what} ${file}: ${reason}.`);
  }
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new CliError(`${what} ${file} is not UTF-8 text.`);
  }
}
