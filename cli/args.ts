import { parseArgs, type ParseArgsConfig } from 'node:util';
import { CliError } from './command';

/**
 * node:util's parseArgs (strict), with its errors turned into one short line
 * plus the command's usage: its own messages go on to explain `--` at length.
 */
export function parseCommandLine<T extends ParseArgsConfig>(config: T, usage: string): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs<T>({ strict: true, ...config });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (!code.startsWith('ERR_PARSE_ARGS')) throw err;
    const message = (err as Error).message;
    const end = message.indexOf('. ');
    throw new CliError(`${end >= 0 ? message.slice(0, end + 1) : message}\n\n${usage}`);
  }
}
