import { CliError, type CliIo } from './command';

/** Longest line accepted on standard input; a password is far shorter. */
const MAX_LINE = 64 * 1024;

export interface PasswordReader {
  /** Reads one password: hidden from a terminal, or one line from a pipe. Rejects with CliError on end of input or Ctrl-C. */
  read(prompt: string): Promise<string>;
  close(): void;
}

/**
 * Reads passwords the way mosquitto_passwd does: from a terminal without
 * echo (raw mode, so nothing typed ever appears), otherwise one line at a
 * time from standard input, which lets scripts pipe them in.
 */
export function passwordReader(io: CliIo): PasswordReader {
  const stdin = io.stdin;
  const tty = stdin.isTTY === true && typeof stdin.setRawMode === 'function';
  let pending = '';
  let ended = false;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const onData = (chunk: string | Buffer) => {
    pending += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onError = (err: Error) => {
    failure = err;
    wake?.();
  };
  stdin.setEncoding('utf8');
  stdin.on('data', onData);
  stdin.on('end', onEnd);
  stdin.on('error', onError);
  stdin.pause();

  function waitForInput(): Promise<void> {
    return new Promise((resolve) => {
      wake = () => {
        wake = null;
        resolve();
      };
      stdin.resume();
    });
  }

  async function readLine(): Promise<string> {
    for (;;) {
      const nl = pending.indexOf('\n');
      if (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        stdin.pause();
        return line.endsWith('\r') ? line.slice(0, -1) : line;
      }
      if (pending.length > MAX_LINE) throw new CliError('the line on standard input is too long');
      if (failure) throw new CliError(`cannot read standard input: ${(failure as Error).message}`);
      if (ended) {
        if (pending === '') throw new CliError('no password on standard input');
        const line = pending;
        pending = '';
        return line;
      }
      await waitForInput();
    }
  }

  async function readHidden(prompt: string): Promise<string> {
    // Raw mode first: a prompt on screen must mean that echo is already off, or quick typing could show.
    stdin.setRawMode!(true);
    try {
      io.stderr.write(prompt);
      let value = '';
      for (;;) {
        while (pending.length > 0) {
          const ch = String.fromCodePoint(pending.codePointAt(0)!);
          pending = pending.slice(ch.length);
          if (ch === '\r' || ch === '\n') return value;
          if (ch === '\u0003') throw new CliError('interrupted', 130);
          if (ch === '\u0004') {
            if (value === '') throw new CliError('no password given');
            continue;
          }
          if (ch === '\u007f' || ch === '\b') value = Array.from(value).slice(0, -1).join('');
          else if (ch === '\u0015') value = '';
          // An escape sequence (arrow keys and the like) arrives whole; none of it belongs in a password.
          else if (ch === '\u001b') pending = '';
          else if (ch >= ' ') value += ch;
          if (value.length > MAX_LINE) throw new CliError('the password is too long');
        }
        if (ended || failure) throw new CliError('no password given');
        await waitForInput();
      }
    } finally {
      stdin.setRawMode!(false);
      stdin.pause();
      io.stderr.write('\n');
    }
  }

  return {
    read: (prompt) => (tty ? readHidden(prompt) : readLine()),
    close() {
      stdin.removeListener('data', onData);
      stdin.removeListener('end', onEnd);
      stdin.removeListener('error', onError);
      stdin.pause();
    },
  };
}
