/** What every `edgemq` subcommand gets and returns; a test passes its own streams. */
export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (mode: boolean) => unknown };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface CliCommand {
  /** Runs with the arguments after the command name; resolves to the process exit code. */
  run(args: string[], io: CliIo): Promise<number>;
}

/**
 * A failure to report to the user as one line on stderr, without a stack:
 * bad arguments, a missing file, passwords that do not match.
 */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr };
}
