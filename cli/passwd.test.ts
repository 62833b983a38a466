/**
 * `edgemq passwd` as a real process: `node bin/edgemq.mjs ...` with the
 * project's Node 22 and, when the system's `node` is Node 20, with that too.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ITERATIONS, verifyPassword } from '../auth/passwords/password-hash';
import { runProcess, type ProcessResult } from '../test/support/run-process';

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin', 'edgemq.mjs');

interface Runner {
  name: string;
  command: string;
  prefix: string[];
  env: NodeJS.ProcessEnv;
}

/** PATH without any node_modules/.bin, so `/usr/bin/env node` finds the system's node rather than the project's. */
const systemPath = (process.env.PATH ?? '')
  .split(path.delimiter)
  .filter((p) => !p.includes(`node_modules${path.sep}.bin`))
  .join(path.delimiter);

function runners(): Runner[] {
  const list: Runner[] = [{ name: 'project node', command: path.join(ROOT, 'node_modules', '.bin', 'node'), prefix: [BIN], env: { ...process.env } }];
  const env = { ...process.env, PATH: systemPath };
  let version = '';
  try {
    version = execFileSync('/usr/bin/env', ['node', '-p', 'process.versions.node'], { env, encoding: 'utf8' }).trim();
  } catch {
    // No node on the system PATH: only the project's runs.
  }
  if (version.startsWith('20.')) list.push({ name: `system node ${version}`, command: '/usr/bin/env', prefix: ['node', BIN], env });
  return list;
}

function run(runner: Runner, args: string[], input = ''): Promise<ProcessResult> {
  return runProcess(runner.command, [...runner.prefix, ...args], { cwd: ROOT, env: runner.env, input });
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const ALL = runners();
let fileCount = 0;
const newFile = () => path.join(dir, `passwd-${++fileCount}`);

function entries(text: string): Array<[string, string]> {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i), l.slice(i + 1)];
    });
}

describe.each(ALL)('edgemq passwd with $name', (runner) => {
  it('-c -b creates a private file with one $7$ hash at the default strength', { timeout: 60_000 }, async () => {
    const file = newFile();
    const r = await run(runner, ['passwd', '-c', '-b', file, 'alice', 's3cret']);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const text = await readFile(file, 'utf8');
    expect(text).toMatch(new RegExp(`^alice:\\$7\\$${DEFAULT_ITERATIONS}\\$[A-Za-z0-9+/]{16}\\$[A-Za-z0-9+/]{86}==\\n$`));
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const [[, hash]] = entries(text);
    expect(await verifyPassword('s3cret', hash)).toBe(true);
    expect(await verifyPassword('s3creT', hash)).toBe(false);
  });

  it('-b adds a user, updates an existing one and keeps the other lines', { timeout: 60_000 }, async () => {
    const file = newFile();
    expect((await run(runner, ['passwd', '-c', '-b', '-I', '1000', file, 'alice', 'a1'])).code).toBe(0);
    const aliceLine = (await readFile(file, 'utf8')).trim();
    await writeFile(file, `# devices\n${aliceLine}\n\n`);
    expect((await run(runner, ['passwd', '-b', '-I', '1000', file, 'bob', 'b1'])).code).toBe(0);
    expect((await run(runner, ['passwd', '-b', '-I', '1000', file, 'alice', 'a2'])).code).toBe(0);
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    expect(lines[0]).toBe('# devices');
    expect(lines[2]).toBe('');
    const users = entries(text);
    expect(users.map(([u]) => u)).toEqual(['alice', 'bob']);
    expect(await verifyPassword('a2', users[0][1])).toBe(true);
    expect(await verifyPassword('a1', users[0][1])).toBe(false);
    expect(await verifyPassword('b1', users[1][1])).toBe(true);
  });

  it('-D deletes a user and fails for an unknown one', { timeout: 60_000 }, async () => {
    const file = newFile();
    await run(runner, ['passwd', '-c', '-b', '-I', '1000', file, 'alice', 'a']);
    await run(runner, ['passwd', '-b', '-I', '1000', file, 'bob', 'b']);
    expect((await run(runner, ['passwd', '-D', file, 'alice'])).code).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(entries(text).map(([u]) => u)).toEqual(['bob']);
    const missing = await run(runner, ['passwd', '-D', file, 'carol']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`Error: User carol not found in password file ${file}.\n`);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('refuses bad input with a message and a non-zero exit, changing nothing', { timeout: 60_000 }, async () => {
    const absent = newFile();
    const noFile = await run(runner, ['passwd', '-b', absent, 'u', 'p']);
    expect(noFile.code).toBe(1);
    expect(noFile.stderr).toBe(`Error: Unable to open password file ${absent}: it does not exist (use -c to create it).\n`);
    expect(existsSync(absent)).toBe(false);

    const both = await run(runner, ['passwd', '-c', '-D', absent, 'u']);
    expect(both).toMatchObject({ code: 1, stderr: 'Error: -c and -D cannot be used together.\n' });

    const colon = await run(runner, ['passwd', '-c', '-b', absent, 'a:b', 'p']);
    expect(colon).toMatchObject({ code: 1, stderr: "Error: the username contains ':'.\n" });
    expect(existsSync(absent)).toBe(false);

    const mismatch = await run(runner, ['passwd', '-c', absent, 'u'], 'one\ntwo\n');
    expect(mismatch).toMatchObject({ code: 1, stderr: 'Error: Passwords do not match.\n' });
    expect(existsSync(absent)).toBe(false);
  });
});

describe('edgemq passwd, more cases (project node)', () => {
  const runner = ALL[0];

  it('reads the password twice from a pipe when -b is not given', { timeout: 60_000 }, async () => {
    const file = newFile();
    const r = await run(runner, ['passwd', '-c', '-I', '1000', file, 'u'], 'pässwörd\r\npässwörd\r\n');
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(await verifyPassword('pässwörd', entries(await readFile(file, 'utf8'))[0][1])).toBe(true);

    const empty = await run(runner, ['passwd', '-c', '-I', '1000', newFile(), 'u'], '\n\n');
    expect(empty).toMatchObject({ code: 1, stderr: 'Error: Empty password.\n' });
    const short = await run(runner, ['passwd', '-c', '-I', '1000', newFile(), 'u'], 'only-once\n');
    expect(short).toMatchObject({ code: 1, stderr: 'Error: no password on standard input\n' });
  });

  it('asks on a terminal without echoing what is typed', { timeout: 60_000 }, async () => {
    const file = newFile();
    // script(1) gives the command a pseudo-terminal; what it prints is what a user would see.
    const cmd = [runner.command, ...runner.prefix, 'passwd', '-c', '-I', '1000', file, 'tty-user'].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, env: runner.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    const waitFor = (text: string, from: number) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (screen.indexOf(text, from) >= 0) {
            child.stdout.off('data', check);
            resolve();
          }
        };
        child.stdout.on('data', check);
        child.once('close', () => reject(new Error(`ended before "${text}":\n${screen}`)));
        check();
      });
    child.stdout.on('data', (d) => (screen += d));
    const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
    await waitFor('Password: ', 0);
    child.stdin.write('hunter3\x7f2\r');
    await waitFor('Reenter password: ', 0);
    child.stdin.write('hunter2\r');
    expect(await closed).toBe(0);
    expect(screen).not.toContain('hunter');
    expect(screen.replace(/\r/g, '')).toBe('Password: \nReenter password: \n');
    expect(await verifyPassword('hunter2', entries(await readFile(file, 'utf8'))[0][1])).toBe(true);
  });

  it('-U hashes plain-text passwords and leaves existing hashes alone', { timeout: 60_000 }, async () => {
    const file = newFile();
    const hashed = '$7$101$9G4Vb+Bb/8yx5ffW$cKSeOMXE96mBsVRcS5pM1tkrsLpYmfxVUD8eKsOBJgMSSHJIa5SbhJ+FmkfsyO0U0XQRsDVG8uMHKDPt8rCcKA==';
    await writeFile(file, `# plain\nalice:wonderland\nbob:${hashed}\ncarol : c pass \n`);
    expect((await run(runner, ['passwd', '-U', '-I', '1000', file])).code).toBe(0);
    const text = await readFile(file, 'utf8');
    const users = entries(text);
    expect(text.startsWith('# plain\n')).toBe(true);
    expect(users.map(([u]) => u)).toEqual(['alice', 'bob', 'carol']);
    expect(await verifyPassword('wonderland', users[0][1])).toBe(true);
    expect(users[1][1]).toBe(hashed);
    expect(await verifyPassword('c pass', users[2][1])).toBe(true);
  });

  it('refuses a corrupt file, naming the line', { timeout: 60_000 }, async () => {
    const file = newFile();
    const text = 'alice:x\nthis line has no colon\n';
    await writeFile(file, text);
    const r = await run(runner, ['passwd', '-b', file, 'bob', 'b']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: Corrupt password file ${file}; nothing was changed:\n  ${file}:2: expected 'username:password hash' but there is no ':'\n`);
    expect(await readFile(file, 'utf8')).toBe(text);
  });

  it('checks its arguments like mosquitto_passwd', { timeout: 60_000 }, async () => {
    const f = newFile();
    const usage = await run(runner, ['passwd', f]);
    expect(usage.code).toBe(1);
    expect(usage.stderr).toMatch(/^Error: expected a password file and a username\.\n\nedgemq passwd manages/);
    expect(await run(runner, ['passwd', '-b', f, 'u'])).toMatchObject({ code: 1 });
    expect(await run(runner, ['passwd', '-c', f, 'u', 'extra'])).toMatchObject({ code: 1 });
    expect(await run(runner, ['passwd', '-I', '0', '-c', '-b', f, 'u', 'p'])).toMatchObject({ code: 1, stderr: 'Error: -I needs a number of iterations from 1 to 100000.\n' });
    expect(await run(runner, ['passwd', '-H', 'sha512', '-c', '-b', f, 'u', 'p'])).toMatchObject({ code: 1 });
    expect(await run(runner, ['passwd', '-x', f, 'u'])).toMatchObject({ code: 1 });
    expect(await run(runner, ['passwd', '-b', '-D', f, 'u'])).toMatchObject({ code: 1, stderr: 'Error: -b and -D cannot be used together.\n' });
    expect(existsSync(f)).toBe(false);
    const help = await run(runner, ['passwd', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: edgemq passwd');
  });

  it('dispatches commands and refuses unknown ones', { timeout: 60_000 }, async () => {
    const none = await run(runner, []);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('Usage: edgemq <command>');
    expect(none.stderr).toContain('passwd');
    const unknown = await run(runner, ['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.split('\n')[0]).toBe('edgemq: unknown command "frobnicate"');
    const help = await run(runner, ['--help']);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toContain('passwd');
  });
});
