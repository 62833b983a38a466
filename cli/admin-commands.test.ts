/**
 * The admin commands' command lines and the failures that need no running
 * broker: target selection, argument errors, unreadable input, an
 * unreachable URL, a missing local database, and how the admin API's answers
 * become messages. Commands run in-process through main() with real files
 * and real sockets; test/e2e/36-cli.test.ts runs them against a broker.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AdminApiError, readAnswer } from './api/client';
import { apiBaseUrl, DEFAULT_PERSIST_DIR, parseTarget, PROJECT_ROOT } from './api/target';
import { CliError } from './command';
import { parseAdminCreate } from './commands/admin-create';
import { parseExport } from './commands/export';
import { parseDocument, parseImport } from './commands/import';
import { parseImportMosquitto } from './commands/import-mosquitto';
import { main } from './main';

async function cli(args: string[], input = ''): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => (out += d));
  stderr.on('data', (d) => (err += d));
  const code = await main(args, { stdin: Readable.from([input]), stdout, stderr });
  return { code, stdout: out, stderr: err };
}

/** A port nothing listens on: bound once, then closed. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CliError);
    return (err as Error).message;
  }
  throw new Error('expected a CliError');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'edgemq-cli-admin-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('target: exactly one of --local and --url', () => {
  it('takes --local, with the state directory of npm start unless --persist-to says otherwise', () => {
    expect(parseTarget({ local: true }, {})).toEqual({ kind: 'local', persistDir: path.join(PROJECT_ROOT, '.wrangler', 'state') });
    expect(DEFAULT_PERSIST_DIR).toBe(path.join(PROJECT_ROOT, '.wrangler', 'state'));
    expect(parseTarget({ local: true, 'persist-to': 'some/dir' }, {})).toEqual({ kind: 'local', persistDir: path.resolve('some/dir') });
    // A token in the environment does not make --local ambiguous.
    expect(parseTarget({ local: true }, { EDGEMQ_TOKEN: 'emq_x' }).kind).toBe('local');
  });

  it('takes --url with --token, or with EDGEMQ_TOKEN when --token is absent', () => {
    expect(parseTarget({ url: 'https://mq.example.com', token: 'emq_abc' }, {})).toEqual({
      kind: 'remote',
      origin: 'https://mq.example.com',
      baseUrl: 'https://mq.example.com/api/v1',
      token: 'emq_abc',
    });
    expect(parseTarget({ url: 'https://mq.example.com' }, { EDGEMQ_TOKEN: 'from-env' })).toMatchObject({ token: 'from-env' });
    expect(parseTarget({ url: 'https://mq.example.com', token: 'flag' }, { EDGEMQ_TOKEN: 'from-env' })).toMatchObject({ token: 'flag' });
  });

  it('finds the API below the origin or where the URL already points', () => {
    expect(apiBaseUrl('http://127.0.0.1:8787').baseUrl).toBe('http://127.0.0.1:8787/api/v1');
    expect(apiBaseUrl('http://127.0.0.1:8787/').baseUrl).toBe('http://127.0.0.1:8787/api/v1');
    expect(apiBaseUrl('https://mq.example.com/api/v1/').baseUrl).toBe('https://mq.example.com/api/v1');
    expect(apiBaseUrl('https://mq.example.com/api/v1?x=1#y')).toEqual({ origin: 'https://mq.example.com', baseUrl: 'https://mq.example.com/api/v1' });
  });

  it('refuses both targets, neither, and options that belong to the other one', () => {
    expect(failure(() => parseTarget({}, {}))).toMatch(/^no target: give --local or --url URL\.\n\nTarget \(exactly one\):/);
    expect(failure(() => parseTarget({ local: true, url: 'https://a.example' }, {}))).toMatch(/^--local cannot be combined with --url: choose one target\./);
    expect(failure(() => parseTarget({ local: true, token: 't' }, {}))).toMatch(/^--local cannot be combined with --token/);
    expect(failure(() => parseTarget({ 'persist-to': 'x' }, {}))).toMatch(/^--persist-to only goes with --local\./);
    expect(failure(() => parseTarget({ token: 't' }, {}))).toMatch(/^--token needs --url/);
  });

  it('refuses a URL without a token, a URL that is not http(s), and a token with spaces', () => {
    expect(failure(() => parseTarget({ url: 'https://a.example' }, {}))).toMatch(/^--url needs a token: --token TOKEN or the EDGEMQ_TOKEN environment variable\./);
    expect(failure(() => parseTarget({ url: 'https://a.example' }, { EDGEMQ_TOKEN: '  ' }))).toMatch(/^--url needs a token/);
    expect(failure(() => parseTarget({ url: 'a.example', token: 't' }, {}))).toBe('--url must be an http:// or https:// URL, got "a.example".');
    expect(failure(() => parseTarget({ url: 'ftp://a.example', token: 't' }, {}))).toBe('--url must be an http:// or https:// URL, got "ftp://a.example".');
    expect(failure(() => parseTarget({ url: 'https://u:p@a.example', token: 't' }, {}))).toMatch(/must not contain a user name or password/);
    expect(failure(() => parseTarget({ url: 'https://a.example', token: 'Bearer abc' }, {}))).toMatch(/without "Bearer"/);
  });
});

describe('command lines', () => {
  const local = ['--local', '--persist-to', '/srv/edgemq'];

  it('admin create: the username as an argument or --username, role admin unless told', () => {
    expect(parseAdminCreate(['ops', ...local], {})).toEqual({ username: 'ops', role: 'admin', password: null, target: { kind: 'local', persistDir: '/srv/edgemq' } });
    expect(parseAdminCreate(['--username', 'ro', '--role', 'viewer', '--password', 'pw-long-enough', ...local], {})).toMatchObject({ username: 'ro', role: 'viewer', password: 'pw-long-enough' });
    expect(parseAdminCreate(['--help'], {})).toBe('help');
    expect(failure(() => parseAdminCreate([...local], {}))).toMatch(/^which account\? Give a username\./);
    expect(failure(() => parseAdminCreate(['a', '--username', 'b', ...local], {}))).toMatch(/^give the username once/);
    expect(failure(() => parseAdminCreate(['a', 'b', ...local], {}))).toMatch(/^unexpected arguments after the username: b/);
    expect(failure(() => parseAdminCreate(['a', '--role', 'root', ...local], {}))).toBe('--role must be admin or viewer, got "root".');
    expect(failure(() => parseAdminCreate(['a', '--password', '', ...local], {}))).toBe('--password is empty.');
    expect(failure(() => parseAdminCreate(['a', '--bogus', ...local], {}))).toMatch(/^Unknown option '--bogus'\.\n\nedgemq admin create makes/);
    expect(failure(() => parseAdminCreate(['a', '--url'], {}))).toMatch(/^Option '--url <value>' argument missing/);
  });

  it('import-mosquitto: --passwd and/or --acl, --replace-acl only with --acl', () => {
    expect(parseImportMosquitto(['--passwd', 'p', ...local], {})).toMatchObject({ passwd: 'p', acl: null, replaceAcl: false });
    expect(parseImportMosquitto(['--acl', 'a', '--replace-acl', ...local], {})).toMatchObject({ passwd: null, acl: 'a', replaceAcl: true });
    expect(failure(() => parseImportMosquitto([...local], {}))).toMatch(/^nothing to import: give --passwd FILE and\/or --acl FILE\./);
    expect(failure(() => parseImportMosquitto(['--passwd', 'p', '--replace-acl', ...local], {}))).toMatch(/^--replace-acl needs --acl FILE/);
    expect(failure(() => parseImportMosquitto(['extra', '--passwd', 'p', ...local], {}))).toMatch(/^Unexpected argument 'extra'\./);
    expect(failure(() => parseImportMosquitto(['--passwd', 'p'], {}))).toMatch(/^no target/);
  });

  it('export: standard output unless --out', () => {
    expect(parseExport([...local], {})).toMatchObject({ out: null });
    expect(parseExport(['--out', 'x.json', ...local], {})).toMatchObject({ out: 'x.json' });
    expect(failure(() => parseExport(['--out', '', ...local], {}))).toBe('--out needs a file name.');
  });

  it('import: exactly one file', () => {
    expect(parseImport(['cfg.json', ...local], {})).toMatchObject({ file: 'cfg.json' });
    expect(parseImport(['-', ...local], {})).toMatchObject({ file: '-' });
    expect(failure(() => parseImport([...local], {}))).toMatch(/^which file\?/);
    expect(failure(() => parseImport(['a.json', 'b.json', ...local], {}))).toMatch(/^one file at a time, got 2\./);
  });

  it('import: a file that is not a JSON object is refused with its name before anything is sent', () => {
    expect(parseDocument('{"format":"edgemq-config"}', 'f')).toEqual({ format: 'edgemq-config' });
    expect(failure(() => parseDocument('{"format":', 'cfg.json'))).toMatch(/^cfg\.json is not JSON: /);
    expect(failure(() => parseDocument('[1]', 'cfg.json'))).toMatch(/^cfg\.json is not a configuration document/);
  });
});

describe('running the commands', () => {
  it('lists the admin commands in the overview and prints each one\'s help', async () => {
    const overview = await cli(['--help']);
    expect(overview.code).toBe(0);
    for (const name of ['admin create', 'import-mosquitto', 'export', 'import']) expect(overview.stdout).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    for (const command of [['admin', 'create'], ['import-mosquitto'], ['export'], ['import']]) {
      const help = await cli([...command, '--help']);
      expect(help.code, command.join(' ')).toBe(0);
      expect(help.stdout).toContain(`Usage: edgemq ${command.join(' ')}`);
      expect(help.stdout).toContain('--url URL');
    }
  });

  it('refuses a missing, a non-UTF-8 and a malformed input file before contacting anything', async () => {
    // The port would refuse the connection; the file error must come first.
    const remote = ['--url', `http://127.0.0.1:${await closedPort()}`, '--token', 't'];
    const absent = path.join(dir, 'absent');
    expect(await cli(['import-mosquitto', '--passwd', absent, ...remote])).toEqual({ code: 1, stdout: '', stderr: `Error: cannot read password file ${absent}: it does not exist.\n` });
    expect(await cli(['import-mosquitto', '--passwd', dir, ...remote])).toMatchObject({ code: 1, stderr: `Error: cannot read password file ${dir}: it is a directory.\n` });

    const latin1 = path.join(dir, 'latin1.acl');
    await writeFile(latin1, Buffer.from('user j\xf6rg\ntopic a\n', 'latin1'));
    expect(await cli(['import-mosquitto', '--acl', latin1, ...remote])).toMatchObject({ code: 1, stderr: `Error: acl_file ${latin1} is not UTF-8 text.\n` });

    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{"format": "edgemq-config",');
    const r = await cli(['import', broken, ...remote]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^Error: ${broken.replaceAll('.', '\\.')} is not JSON: `));
  });

  it('says so when the URL cannot be reached, after reading the password from standard input', async () => {
    const port = await closedPort();
    const r = await cli(['admin', 'create', 'ops', '--url', `http://127.0.0.1:${port}`, '--token', 't'], 'a-password-of-some-length\n');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toMatch(new RegExp(`^Error: cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
  });

  it('refuses an empty or absent password on standard input', async () => {
    const remote = ['--url', `http://127.0.0.1:${await closedPort()}`, '--token', 't'];
    expect(await cli(['admin', 'create', 'ops', ...remote], '\n')).toEqual({ code: 1, stdout: '', stderr: 'Error: Empty password.\n' });
    expect(await cli(['admin', 'create', 'ops', ...remote], '')).toEqual({ code: 1, stdout: '', stderr: 'Error: no password on standard input\n' });
  });

  it('asks twice on a terminal without echoing the password, and refuses two that differ', { timeout: 60_000 }, async () => {
    const port = await closedPort();
    const root = path.resolve(import.meta.dirname, '..');
    const node = path.join(root, 'node_modules', '.bin', 'node');
    const bin = path.join(root, 'bin', 'edgemq.mjs');
    /** Types each answer after its prompt appears on the pseudo-terminal script(1) gives the command; resolves to the screen. */
    const session = (answers: string[]) =>
      new Promise<{ code: number | null; screen: string }>((resolve, reject) => {
        const cmd = [node, bin, 'admin', 'create', 'ops', '--url', `http://127.0.0.1:${port}`, '--token', 't'].map((a) => `'${a}'`).join(' ');
        const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
        let screen = '';
        let prompts = 0;
        child.stdout.on('data', (d) => {
          screen += d;
          const seen = (screen.match(/password: /gi) ?? []).length;
          while (prompts < seen && prompts < answers.length) child.stdin.write(answers[prompts++]);
        });
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, screen: screen.replace(/\r/g, '') }));
      });

    const same = await session(['hunter2-hunter2\r', 'hunter2-hunter2\r']);
    expect(same.screen).not.toContain('hunter2');
    expect(same.screen).toMatch(new RegExp(`^Password: \nReenter password: \nError: cannot reach http://127\\.0\\.0\\.1:${port}: `));
    expect(same.code).toBe(1);

    const differ = await session(['hunter2-hunter2\r', 'hunter3-hunter3\r']);
    expect(differ.screen).toBe('Password: \nReenter password: \nError: Passwords do not match.\n');
    expect(differ.code).toBe(1);
  });

  it('refuses --local where no local database exists, without creating one', async () => {
    const empty = path.join(dir, 'no-state');
    const r = await cli(['export', '--local', '--persist-to', empty]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`Error: no local database under ${empty} (${path.join(empty, 'v3', 'd1')} does not exist). Start the broker once with \`npm start\`, or give the right --persist-to.\n`);
    expect(existsSync(empty)).toBe(false);
  });

  it('exits non-zero with the target explained when none is given', async () => {
    const r = await cli(['export']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^Error: no target: give --local or --url URL\.\n\nTarget \(exactly one\):\n  --local /);
  });
});

describe('admin API answers', () => {
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

  it('gives the JSON of a success', async () => {
    expect(await readAnswer(json(200, { a: 1 }), 'https://x')).toEqual({ a: 1 });
    expect(await readAnswer(new Response(null, { status: 204 }), 'https://x')).toBeUndefined();
  });

  it("turns an error answer into the API's own message, with a hint for 401 and 403", async () => {
    const unauthorized = readAnswer(json(401, { error: { code: 'unauthorized', message: 'The API key is unknown or revoked' } }), 'https://mq.example.com');
    await expect(unauthorized).rejects.toThrow(
      'https://mq.example.com refused the request (401 unauthorized): The API key is unknown or revoked. Check --token or EDGEMQ_TOKEN: API keys can be revoked, sign-in tokens last 15 minutes.',
    );
    await expect(readAnswer(json(403, { error: { code: 'forbidden', message: 'The viewer role may only read' } }), 'h')).rejects.toThrow(/\(403 forbidden\): The viewer role may only read\. Use the token of an admin/);
    const invalid = await readAnswer(json(400, { error: { code: 'validation_error', message: 'acl: acl:2: bad', field: 'acl' } }), 'h').catch((e) => e);
    expect(invalid).toBeInstanceOf(AdminApiError);
    expect(invalid).toMatchObject({ status: 400, code: 'validation_error', field: 'acl', message: 'h refused the request (400 validation_error): acl: acl:2: bad' });
  });

  it('says the URL is probably wrong when the answer is not JSON', async () => {
    const html = new Response('<!doctype html><title>x</title>', { status: 200, headers: { 'Content-Type': 'text/html' } });
    await expect(readAnswer(html, 'https://example.com')).rejects.toThrow('https://example.com answered HTTP 200 with text/html, not the admin API\'s JSON: is that an EdgeMQ URL?');
  });
});
