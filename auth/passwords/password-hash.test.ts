import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  DEFAULT_ITERATIONS,
  DUMMY_VERIFICATION_COST,
  MAX_ITERATIONS,
  MAX_PASSWORD_BYTES,
  hashPassword,
  isPasswordHash,
  parsePasswordHash,
  passwordHashProblem,
  verifyAgainstDummy,
  verificationCost,
  verifyPassword,
} from './password-hash';

/** A hash written by the real mosquitto_passwd (Debian's mosquitto 2.0). */
function mosquittoPasswd(password: string, extraArgs: string[] = []): string {
  const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'edgemq-pw-')), 'passwd');
  execFileSync('/usr/bin/mosquitto_passwd', [...extraArgs, '-c', '-b', file, 'someone', password]);
  return readFileSync(file, 'utf8').trim().split(':')[1];
}

const b64 = (u: Uint8Array) => Buffer.from(u).toString('base64');

afterEach(() => {
  vi.restoreAllMocks();
});

describe('hashes made by mosquitto', () => {
  it('verifies mosquitto_passwd $7$ hashes and refuses wrong passwords', async () => {
    for (const pw of ['s3cret', 'pässwörd ☃', '', 'with:colon and spaces']) {
      const hash = mosquittoPasswd(pw);
      expect(hash).toMatch(/^\$7\$101\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
      expect(await verifyPassword(pw, hash)).toBe(true);
      expect(await verifyPassword(`${pw}x`, hash)).toBe(false);
      expect(await verifyPassword(pw.toUpperCase() === pw ? `${pw}y` : pw.toUpperCase(), hash)).toBe(false);
    }
  });

  it('verifies mosquitto_passwd hashes at other iteration counts, up to the bound', async () => {
    for (const iterations of [1, 1000, MAX_ITERATIONS]) {
      const hash = mosquittoPasswd('pw', ['-I', String(iterations)]);
      expect(hash.startsWith(`$7$${iterations}$`)).toBe(true);
      expect(await verifyPassword('pw', hash)).toBe(true);
      expect(await verifyPassword('pW', hash)).toBe(false);
    }
  });

  it('reads the iteration count as mosquitto does (atoi), leading zeros included', async () => {
    const hash = mosquittoPasswd('pw');
    const padded = hash.replace('$7$101$', '$7$000101$');
    expect(parsePasswordHash(padded)).toMatchObject({ kind: 7, iterations: 101 });
    expect(await verifyPassword('pw', padded)).toBe(true);
  });

  it('refuses mosquitto_passwd hashes above the iteration bound, with a reason', async () => {
    const hash = mosquittoPasswd('pw', ['-I', String(MAX_ITERATIONS + 1)]);
    expect(parsePasswordHash(hash)).toBeNull();
    expect(passwordHashProblem(hash)).toBe(`${MAX_ITERATIONS + 1} iterations is above the supported maximum of ${MAX_ITERATIONS}`);
    expect(await verifyPassword('pw', hash)).toBe(false);
  });

  it('verifies mosquitto_passwd -H sha512 ($6$) hashes', async () => {
    const hash = mosquittoPasswd('legacy', ['-H', 'sha512']);
    expect(hash).toMatch(/^\$6\$[A-Za-z0-9+/]{16}\$[A-Za-z0-9+/]{86}==$/);
    expect(await verifyPassword('legacy', hash)).toBe(true);
    expect(await verifyPassword('Legacy', hash)).toBe(false);
  });

  it("verifies the $6$ hashes of mosquitto's pwfile.example (password \"password\")", async () => {
    const roger = '$6$clQ4Ocu312S0qWgl$Cv2wUxgEN73c6C6jlBkswqR4AkHsvDLWvtEXZZ8NpsBLgP1WAo/qA+WXcmEN/mjDNgdUwcxRAveqNMs2xUVQYA==';
    expect(await verifyPassword('password', roger)).toBe(true);
    expect(await verifyPassword('password ', roger)).toBe(false);
  });

  it('accepts a $6$ hash built by hand as mosquitto 1.x did: SHA-512(password + salt)', async () => {
    const salt = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-512', new Uint8Array([...new TextEncoder().encode('legacy'), ...salt])));
    const hash = `$6$${b64(salt)}$${b64(digest)}`;
    expect(await verifyPassword('legacy', hash)).toBe(true);
    expect(await verifyPassword('other', hash)).toBe(false);
  });

  it("accepts mosquitto 2.1's 64-byte salts", async () => {
    const salt = new Uint8Array(64).fill(7);
    const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('pw'), 'PBKDF2', false, ['deriveBits']);
    const hash = new Uint8Array(await crypto.subtle.deriveBits({ name: 'PBKDF2', hash: 'SHA-512', salt, iterations: 10 }, key, 512));
    const encoded = `$7$10$${b64(salt)}$${b64(hash)}`;
    expect(await verifyPassword('pw', encoded)).toBe(true);
    expect(await verifyPassword('px', encoded)).toBe(false);
  });
});

describe('hashPassword', () => {
  it('writes $7$ hashes at the default strength with a fresh 12-byte salt and 64-byte hash', async () => {
    const a = await hashPassword('pw');
    const b = await hashPassword('pw');
    expect(a).toMatch(new RegExp(`^\\$7\\$${DEFAULT_ITERATIONS}\\$[A-Za-z0-9+/]{16}\\$[A-Za-z0-9+/]{86}==$`));
    expect(a).not.toBe(b);
    const parsed = parsePasswordHash(a);
    expect(parsed).toMatchObject({ kind: 7, iterations: DEFAULT_ITERATIONS });
    expect(parsed!.salt.byteLength).toBe(12);
    expect(parsed!.hash.byteLength).toBe(64);
    expect(await verifyPassword('pw', a)).toBe(true);
    expect(await verifyPassword('pW', a)).toBe(false);
  });

  it('matches an independent PBKDF2-SHA512 computation of the same salt', async () => {
    const encoded = await hashPassword('påss', { iterations: 1234 });
    const [, , iterations, salt, hash] = encoded.split('$');
    const { pbkdf2Sync } = await import('node:crypto');
    const expected = pbkdf2Sync(Buffer.from('påss', 'utf8'), Buffer.from(salt, 'base64'), Number(iterations), 64, 'sha512');
    expect(iterations).toBe('1234');
    expect(hash).toBe(expected.toString('base64'));
  });

  it('refuses iteration counts outside 1..MAX_ITERATIONS and overlong passwords', async () => {
    for (const iterations of [0, -1, 1.5, MAX_ITERATIONS + 1, Number.NaN]) {
      await expect(hashPassword('pw', { iterations })).rejects.toThrow(RangeError);
    }
    await expect(hashPassword('x'.repeat(MAX_PASSWORD_BYTES + 1))).rejects.toThrow(RangeError);
    expect(await hashPassword('x'.repeat(MAX_PASSWORD_BYTES), { iterations: 1 })).toMatch(/^\$7\$1\$/);
  });
});

describe('verifyPassword on bad input', () => {
  it('refuses malformed and abusive hashes without throwing', async () => {
    const salt = b64(new Uint8Array(12));
    const hash = b64(new Uint8Array(64));
    const bad = [
      '',
      'plain',
      '$7$',
      `$7$abc$${salt}$${hash}`,
      `$7$0$${salt}$${hash}`,
      `$7$101$!!!$${hash}`,
      `$7$99999999$${salt}$${hash}`,
      `$7$101$${b64(new Uint8Array(16))}$${hash}`,
      `$7$101$${salt}$${b64(new Uint8Array(32))}`,
      `$7$101$${salt}$${hash}$extra`,
      `$6$${salt}`,
      `$6$${salt}$${b64(new Uint8Array(63))}`,
      `$5$${salt}$${hash}`,
      `$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA`,
      `$7$101$${'A'.repeat(600)}$AA`,
    ];
    for (const encoded of bad) {
      expect(parsePasswordHash(encoded), encoded).toBeNull();
      expect(isPasswordHash(encoded)).toBe(false);
      expect(typeof passwordHashProblem(encoded)).toBe('string');
      expect(await verifyPassword('x', encoded)).toBe(false);
    }
    expect(passwordHashProblem('$argon2id$v=19$x')).toMatch(/argon2id/);
    expect(passwordHashProblem(`$7$101$${salt}$${b64(new Uint8Array(32))}`)).toBe('the hash is 32 bytes; SHA-512 gives 64');
  });

  it('returns false rather than throwing for values that are not strings', async () => {
    const good = await hashPassword('pw', { iterations: 1 });
    expect(await verifyPassword(undefined as unknown as string, good)).toBe(false);
    expect(await verifyPassword('pw', null as unknown as string)).toBe(false);
    expect(await verifyPassword('pw', 42 as unknown as string)).toBe(false);
  });

  it('refuses passwords longer than MAX_PASSWORD_BYTES', async () => {
    const good = await hashPassword('pw', { iterations: 1 });
    expect(await verifyPassword('x'.repeat(MAX_PASSWORD_BYTES + 1), good)).toBe(false);
  });
});

describe('verifyAgainstDummy', () => {
  it('runs the same PBKDF2 as verifying a default-strength hash', async () => {
    const real = await hashPassword('pw');
    const spy = vi.spyOn(crypto.subtle, 'deriveBits');
    await verifyPassword('guess', real);
    await verifyAgainstDummy('guess');
    expect(spy).toHaveBeenCalledTimes(2);
    const [realCall, dummyCall] = spy.mock.calls;
    const params = (call: (typeof spy.mock.calls)[number]) => {
      const alg = call[0] as { name: string; hash: string; iterations: number; salt: Uint8Array };
      return { name: alg.name, hash: alg.hash, iterations: alg.iterations, salt: alg.salt.byteLength, bits: call[2] };
    };
    expect(params(dummyCall)).toEqual(params(realCall));
    expect(params(dummyCall)).toEqual({ name: 'PBKDF2', hash: 'SHA-512', iterations: DEFAULT_ITERATIONS, salt: 12, bits: 512 });
  });

  it('resolves without throwing for any input', async () => {
    await expect(verifyAgainstDummy('anything')).resolves.toBeUndefined();
    await expect(verifyAgainstDummy(undefined as unknown as string)).resolves.toBeUndefined();
  });
});

describe('verificationCost', () => {
  it('counts in verifications at the default strength, in proportion to the iterations', async () => {
    expect(verificationCost(await hashPassword('pw'))).toBe(1);
    expect(verificationCost(await hashPassword('pw', { iterations: 1000 }))).toBe(0.01);
    // mosquitto_passwd's own default is 101 iterations.
    expect(verificationCost(mosquittoPasswd('pw'))).toBeCloseTo(101 / DEFAULT_ITERATIONS);
    expect(DUMMY_VERIFICATION_COST).toBe(1);
  });

  it('counts a $6$ hash as one SHA-512 and a malformed hash as no work', () => {
    const salt = b64(new Uint8Array(12).fill(1));
    const hash = b64(new Uint8Array(64).fill(2));
    expect(verificationCost(`$6$${salt}$${hash}`)).toBe(1 / DEFAULT_ITERATIONS);
    expect(verificationCost('not a hash')).toBe(0);
  });
});
