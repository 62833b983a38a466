import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ITERATIONS, hashPassword, parsePasswordHash, verifyPassword } from './password-hash';

function mosquittoPasswd(password: string): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'edgemq-pw-')), 'passwd');
  execFileSync('/usr/bin/mosquitto_passwd', ['-c', '-b', file, 'someone', password]);
  return readFileSync(file, 'utf8').trim().split(':')[1];
}

describe('password hashes', () => {
  it('verifies hashes made by the real mosquitto_passwd and refuses wrong passwords', async () => {
    for (const pw of ['s3cret', 'pässwörd ☃', '']) {
      const hash = mosquittoPasswd(pw);
      expect(hash.startsWith('$7$101$')).toBe(true);
      expect(await verifyPassword(pw, hash)).toBe(true);
      expect(await verifyPassword(`${pw}x`, hash)).toBe(false);
    }
  });

  it('writes $7$ hashes at the default strength with a fresh salt each time', async () => {
    const a = await hashPassword('pw');
    const b = await hashPassword('pw');
    expect(a).toMatch(new RegExp(`^\\$7\\$${DEFAULT_ITERATIONS}\\$[A-Za-z0-9+/]{16}\\$[A-Za-z0-9+/]{86}==$`));
    expect(a).not.toBe(b);
    expect(await verifyPassword('pw', a)).toBe(true);
    expect(await verifyPassword('pW', a)).toBe(false);
  });

  it('accepts mosquitto 1.x $6$ hashes', async () => {
    const salt = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const input = new Uint8Array([...new TextEncoder().encode('legacy'), ...salt]);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-512', input));
    const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');
    const hash = `$6$${b64(salt)}$${b64(digest)}`;
    expect(await verifyPassword('legacy', hash)).toBe(true);
    expect(await verifyPassword('other', hash)).toBe(false);
  });

  it('refuses malformed and abusive hashes without throwing', async () => {
    for (const bad of ['', 'plain', '$7$', '$7$abc$x$y', '$7$101$!!!$AAAA', '$7$99999999$AAAA$AAAA', '$5$a$b', `$7$101$${'A'.repeat(600)}$AA`]) {
      expect(parsePasswordHash(bad), bad).toBeNull();
      expect(await verifyPassword('x', bad)).toBe(false);
    }
  });
});
