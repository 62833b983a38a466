/**
 * `edgemq <command> [args]`: looks the command up in COMMANDS and runs it.
 * A new command is one file in cli/commands/ whose default export is a
 * CliCommand, plus one line in COMMANDS. Names may have two words
 * (`admin create`); the longest match wins. Commands load on demand, so one
 * command's dependencies never slow down or break another.
 */
import { CliError, processIo, type CliCommand, type CliIo } from './command';

interface CommandEntry {
  summary: string;
  load: () => Promise<{ default: CliCommand }>;
}

const COMMANDS: Record<string, CommandEntry> = {
  passwd: { summary: 'manage a mosquitto-compatible password file (like mosquitto_passwd)', load: () => import('./commands/passwd') },
  'admin create': { summary: 'create an admin or viewer account for the dashboard and the admin API', load: () => import('./commands/admin-create') },
  'import-mosquitto': { summary: 'import a mosquitto password file and/or acl_file', load: () => import('./commands/import-mosquitto') },
  export: { summary: 'write the whole security configuration as JSON', load: () => import('./commands/export') },
  import: { summary: 'load a configuration document written by export', load: () => import('./commands/import') },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  const lines = Object.entries(COMMANDS)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `Usage: edgemq <command> [arguments]\n\nCommands:\n${lines.join('\n')}\n\nRun 'edgemq <command> --help' for a command's own options.\n`;
}

function findCommand(argv: string[]): { name: string; entry: CommandEntry; args: string[] } | null {
  for (const words of [2, 1]) {
    if (argv.length < words) continue;
    const name = argv.slice(0, words).join(' ');
    const entry = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (entry) return { name, entry, args: argv.slice(words) };
  }
  return null;
}

/** Runs one command line and resolves to the exit code: 0 on success, non-zero on any error. */
export async function main(argv: string[], io: CliIo = processIo()): Promise<number> {
  const [first] = argv;
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    (first === undefined ? io.stderr : io.stdout).write(usage());
    return first === undefined ? 1 : 0;
  }
  const found = findCommand(argv);
  if (!found) {
    io.stderr.write(`edgemq: unknown command "${argv.slice(0, 2).join(' ')}"\n\n${usage()}`);
    return 1;
  }
  try {
    const command = (await found.entry.load()).default;
    return await command.run(found.args, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr.write(`Error: ${err.message}\n`);
      return err.exitCode;
    }
    io.stderr.write(`edgemq ${found.name}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
