import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../passwords/password-hash';
import { formatFileError } from './file-errors';
import { looksHashed, parsePasswdFile, passwdUsernameProblem, serializePasswdFile } from './passwd-file';

// mosquitto's own example password file (examples/pwfile.example); every password is "password".
const PWFILE_EXAMPLE = `roger:$6$clQ4Ocu312S0qWgl$Cv2wUxgEN73c6C6jlBkswqR4AkHsvDLWvtEXZZ8NpsBLgP1WAo/qA+WXcmEN/mjDNgdUwcxRAveqNMs2xUVQYA==
sub_client:$6$U+qg0/32F0g2Fh+n$fBPSkq/rfNyEQ/TkEjRgwGTTVBpvNhKSyGShovH9KHewsvJ731tD5Zx26IHhR5RYCICt0L9qBW0/KK31UkCliw==
pub_client:$6$vxQ89y+7WrsnL2yn$fSPMmEZn9TSrC8s/jaPmxJ9NijWpkP2e7bMJLz78JXR1vW2x8+T3FZ23byJA6xs5Mt+LeOybAHwcUv0OCl40rA==
`;

const H = '$7$101$9G4Vb+Bb/8yx5ffW$cKSeOMXE96mBsVRcS5pM1tkrsLpYmfxVUD8eKsOBJgMSSHJIa5SbhJ+FmkfsyO0U0XQRsDVG8uMHKDPt8rCcKA==';

describe('parsePasswdFile', () => {
  it("reads mosquitto's example file, and its hashes verify", async () => {
    const { entries, errors } = parsePasswdFile(PWFILE_EXAMPLE);
    expect(errors).toEqual([]);
    expect(entries.map((e) => [e.username, e.line])).toEqual([
      ['roger', 1],
      ['sub_client', 2],
      ['pub_client', 3],
    ]);
    for (const e of entries) expect(await verifyPassword('password', e.hash)).toBe(true);
  });

  it('reads a file written by the real mosquitto_passwd', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'edgemq-pwfile-')), 'passwd');
    execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', file, 'alice', 'a-pass']);
    execFileSync('/usr/bin/mosquitto_passwd', ['-b', file, 'bob', 'b-pass']);
    execFileSync('/usr/bin/mosquitto_passwd', ['-H', 'sha512', '-b', file, 'carol', 'c-pass']);
    const { entries, errors } = parsePasswdFile(readFileSync(file, 'utf8'));
    expect(errors).toEqual([]);
    expect(entries.map((e) => e.username)).toEqual(['alice', 'bob', 'carol']);
    expect(await verifyPassword('a-pass', entries[0].hash)).toBe(true);
    expect(await verifyPassword('b-pass', entries[1].hash)).toBe(true);
    expect(await verifyPassword('c-pass', entries[2].hash)).toBe(true);
    expect(await verifyPassword('a-pass', entries[1].hash)).toBe(false);
  });

  it('skips comments and blank lines, trims blanks, takes CRLF and a byte order mark', () => {
    const text = `\uFEFF# users\r\n\r\n  alice  :  ${H}  \r\n\t\n#bob:${H}\r\nbob:${H}`;
    const { entries, errors } = parsePasswdFile(text);
    expect(errors).toEqual([]);
    expect(entries).toEqual([
      { username: 'alice', hash: H, line: 3 },
      { username: 'bob', hash: H, line: 6 },
    ]);
  });

  it('reports each bad line with its number and keeps the good ones', () => {
    const text = [
      `good:${H}`, // 1
      'no colon here', // 2
      `:${H}`, // 3
      'nopass:', // 4
      'plain:secret', // 5
      `good:${H}`, // 6
      `two:${H}:more`, // 7
      `ctl\u0001:${H}`, // 8
      `  # not a comment:${H}`, // 9
      '$7$101$abc', // 10
    ].join('\n');
    const { entries, errors } = parsePasswdFile(text);
    expect(entries.map((e) => e.username)).toEqual(['good']);
    expect(errors).toEqual([
      { line: 2, message: "expected 'username:password hash' but there is no ':'" },
      { line: 3, message: 'the username is empty' },
      { line: 4, message: 'user "nopass" has no password' },
      { line: 5, message: 'user "plain": not a mosquitto password hash ($6$ or $7$)' },
      { line: 6, message: 'user "good" is already defined on line 1' },
      { line: 7, message: `user "two": the password contains ':'` },
      { line: 8, message: 'the username contains a control character' },
      { line: 9, message: "the username starts with '#', which mosquitto reads as a comment" },
      { line: 10, message: "expected 'username:password hash' but there is no ':'" },
    ]);
    expect(formatFileError('pw.txt', errors[0])).toBe("pw.txt:2: expected 'username:password hash' but there is no ':'");
  });

  it('says why a hash cannot be used', () => {
    const { errors } = parsePasswdFile(`a:$7$1000000${H.slice(6)}\nb:$argon2id$v=19$m=1,t=1,p=1$x$y\n`);
    expect(errors).toEqual([
      { line: 1, message: 'user "a": 1000000 iterations is above the supported maximum of 100000' },
      { line: 2, message: 'user "b": argon2id hashes (mosquitto 2.1) are not supported; set the password again' },
    ]);
  });

  it("accepts plain-text passwords with passwords: 'any'", () => {
    const { entries, errors } = parsePasswdFile('alice:secret\nbob:$7$anything\n', { passwords: 'any' });
    expect(errors).toEqual([]);
    expect(entries.map((e) => [e.username, e.hash])).toEqual([
      ['alice', 'secret'],
      ['bob', '$7$anything'],
    ]);
  });

  it('bounds the file size and the number of users', () => {
    expect(parsePasswdFile(`a:${H}\n`.repeat(10), { maxBytes: 100 })).toEqual({ entries: [], errors: [{ line: 0, message: 'the file is larger than 100 bytes' }] });
    // Multi-byte text over the limit in bytes though not in characters.
    expect(parsePasswdFile(`é:${H}\n`, { maxBytes: H.length + 3 }).errors).toEqual([{ line: 0, message: `the file is larger than ${H.length + 3} bytes` }]);
    const many = Array.from({ length: 5 }, (_, i) => `u${i}:${H}`).join('\n');
    const { entries, errors } = parsePasswdFile(many, { maxEntries: 3 });
    expect(entries).toHaveLength(3);
    expect(errors).toEqual([{ line: 4, message: 'more than 3 users' }]);
  });

  it('stops after 100 errors', () => {
    const { errors } = parsePasswdFile('bad\n'.repeat(500));
    expect(errors).toHaveLength(101);
    expect(errors[100]).toEqual({ line: 101, message: 'stopped after 100 errors' });
  });
});

describe('serializePasswdFile', () => {
  it('writes username:hash lines that read back the same', async () => {
    const entries = [
      { username: 'alice', hash: await hashPassword('a', { iterations: 1 }) },
      { username: 'bob smith', hash: H },
      { username: 'ünï', hash: H },
    ];
    const text = serializePasswdFile(entries);
    expect(text).toBe(entries.map((e) => `${e.username}:${e.hash}\n`).join(''));
    const back = parsePasswdFile(text);
    expect(back.errors).toEqual([]);
    expect(back.entries.map(({ username, hash }) => ({ username, hash }))).toEqual(entries);
    expect(serializePasswdFile(back.entries)).toBe(text);
    expect(serializePasswdFile([])).toBe('');
  });

  it('round-trips the example file', () => {
    expect(serializePasswdFile(parsePasswdFile(PWFILE_EXAMPLE).entries)).toBe(PWFILE_EXAMPLE);
  });

  it('refuses entries that would not read back the same', () => {
    for (const username of ['', 'a:b', ' a', 'a ', '#a', 'a\nb', 'a\u0000', 'x'.repeat(65_536)]) {
      expect(() => serializePasswdFile([{ username, hash: H }]), JSON.stringify(username).slice(0, 20)).toThrow(TypeError);
    }
    for (const hash of ['', 'a:b', ' x', 'x\n']) {
      expect(() => serializePasswdFile([{ username: 'u', hash }])).toThrow(TypeError);
    }
    expect(() => serializePasswdFile([{ username: 'u', hash: H }, { username: 'u', hash: H }])).toThrow(/twice/);
  });
});

describe('helpers', () => {
  it('passwdUsernameProblem follows mosquitto_passwd and what reads back', () => {
    expect(passwdUsernameProblem('sensor-01')).toBeNull();
    expect(passwdUsernameProblem('a b')).toBeNull();
    expect(passwdUsernameProblem('x'.repeat(65_535))).toBeNull();
    expect(passwdUsernameProblem('é'.repeat(32_768))).toBe('the username is longer than 65535 bytes');
    expect(passwdUsernameProblem('a:b')).toBe("the username contains ':'");
    expect(passwdUsernameProblem('a\tb')).toBe('the username contains a control character');
  });

  it('looksHashed recognises the prefixes mosquitto decodes', () => {
    expect(['$6$x', '$7$x', '$argon2id$x'].map(looksHashed)).toEqual([true, true, true]);
    expect(['secret', '$5$x', '$7', '7$x'].map(looksHashed)).toEqual([false, false, false, false]);
  });
});
