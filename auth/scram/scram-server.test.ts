import { describe, expect, it } from 'vitest';
import { scramCredential, ScramClient } from '../../test/support/scram-client';
import { deriveScramCredential } from './scram-credentials';
import { fromBase64 } from './scram-crypto';
import { startScram, type ScramStep } from './scram-server';

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);
const secret = bytes('fake salt secret');

function challenge<T>(step: ScramStep<T>) {
  if (step.kind !== 'challenge') throw new Error(`expected a challenge, got ${step.kind}`);
  return step;
}

describe('SCRAM server (RFC 5802 / RFC 7677)', () => {
  it('reproduces the RFC 7677 SCRAM-SHA-256 example byte for byte', async () => {
    // RFC 7677 §3: user "user", password "pencil".
    const stored = await deriveScramCredential('pencil', 'SCRAM-SHA-256', 4096, fromBase64('W22ZaJ0SNY7soEsUEjb6gQ==')!);
    const first = challenge(
      await startScram(bytes('n,,n=user,r=rOprNGfwEbeRWgbNEkqO'), {
        mechanism: 'SCRAM-SHA-256',
        fakeSaltSecret: secret,
        serverNonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
        lookup: async (u) => (u === 'user' ? { ...stored, record: 'row-1' } : null),
      }),
    );
    expect(text(first.data)).toBe('r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096');
    const done = await first.next(bytes('c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ='));
    expect(done).toMatchObject({ kind: 'success', username: 'user', credential: 'row-1' });
    expect(text((done as { data: Uint8Array }).data)).toBe('v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  it('derives the same keys as an independent node:crypto implementation, for both mechanisms', async () => {
    for (const mechanism of ['SCRAM-SHA-256', 'SCRAM-SHA-512'] as const) {
      const salt = Buffer.from('0123456789abcdef');
      const ours = await deriveScramCredential('correct horse', mechanism, 4096, salt);
      const theirs = scramCredential(mechanism, 'correct horse', 4096, salt);
      expect({ salt: ours.salt, storedKey: ours.storedKey, serverKey: ours.serverKey }).toEqual({ salt: theirs.salt, storedKey: theirs.storedKey, serverKey: theirs.serverKey });
    }
  });

  it('refuses iteration counts the platform cannot run or that are too weak', async () => {
    await expect(deriveScramCredential('x', 'SCRAM-SHA-256', 100_001)).rejects.toThrow(RangeError);
    await expect(deriveScramCredential('x', 'SCRAM-SHA-256', 1000)).rejects.toThrow(RangeError);
  });

  it('completes a SHA-512 exchange with an independent client, which verifies the server signature', async () => {
    const stored = await deriveScramCredential('s3cret,=', 'SCRAM-SHA-512');
    const client = new ScramClient('SCRAM-SHA-512', 'we,ird=name', 's3cret,=');
    const step = challenge(await startScram(client.first(), { mechanism: 'SCRAM-SHA-512', fakeSaltSecret: secret, lookup: async (u) => (u === 'we,ird=name' ? { ...stored, record: 7 } : null) }));
    const done = await step.next(client.final(Buffer.from(step.data)));
    expect(done.kind).toBe('success');
    expect(client.verifyServer(Buffer.from((done as { data: Uint8Array }).data))).toBe(true);
  });

  it('fails a wrong password at the proof, and an unknown user the same way with a stable fake salt', async () => {
    const stored = await deriveScramCredential('pencil', 'SCRAM-SHA-256');
    const lookup = async (u: string) => (u === 'carol' ? { ...stored, record: null } : null);
    const wrong = new ScramClient('SCRAM-SHA-256', 'carol', 'pen');
    const s1 = challenge(await startScram(wrong.first(), { mechanism: 'SCRAM-SHA-256', fakeSaltSecret: secret, lookup }));
    expect(await s1.next(wrong.final(Buffer.from(s1.data)))).toMatchObject({ kind: 'failure', failure: 'invalid-proof', username: 'carol' });

    const salts: string[] = [];
    for (let i = 0; i < 2; i++) {
      const nobody = new ScramClient('SCRAM-SHA-256', 'nobody', 'x');
      const s = challenge(await startScram(nobody.first(), { mechanism: 'SCRAM-SHA-256', fakeSaltSecret: secret, lookup }));
      expect(text(s.data)).toMatch(/^r=[^,]+,s=[A-Za-z0-9+/=]{24},i=4096$/);
      salts.push(text(s.data).split(',')[1]!);
      expect(await s.next(nobody.final(Buffer.from(s.data)))).toMatchObject({ kind: 'failure', failure: 'unknown-user', username: 'nobody' });
    }
    expect(salts[0]).toBe(salts[1]);
  });

  it('rejects malformed and out-of-protocol messages as protocol failures', async () => {
    const lookup = async () => null;
    const opts = { mechanism: 'SCRAM-SHA-256' as const, fakeSaltSecret: secret, lookup };
    for (const bad of ['', 'p=tls-unique,,n=carol,r=abc', 'n,,m=ext,n=carol,r=abc', 'n,,r=abc,n=carol', 'n,,n=ca=rol,r=abc', 'x,,n=carol,r=abc', 'n,a=mallory,n=carol,r=abc', 'n,,n=carol,r=a,bc']) {
      expect(await startScram(bytes(bad), opts), bad).toMatchObject({ kind: 'failure', failure: 'protocol' });
    }
    expect(await startScram(new Uint8Array([0x6e, 0x2c, 0x2c, 0xff]), opts)).toMatchObject({ kind: 'failure', failure: 'protocol' });
    expect(await startScram(new Uint8Array(5000).fill(0x61), opts)).toMatchObject({ kind: 'failure', failure: 'protocol' });

    const stored = await deriveScramCredential('pencil', 'SCRAM-SHA-256');
    const withUser = { ...opts, lookup: async () => ({ ...stored, record: null }) };
    const client = new ScramClient('SCRAM-SHA-256', 'carol', 'pencil');
    const s = challenge(await startScram(client.first(), withUser));
    const good = text(client.final(Buffer.from(s.data)));
    const cases = [
      good.replace('c=biws', 'c=eSws'), // channel binding flag changed between messages
      good.replace(/r=[^,]+/, 'r=someoneelse'), // nonce not the server's
      good.replace(/p=.*/, 'p=AAAA'), // proof of the wrong length
      good.replace(/,p=.*/, ''), // no proof
    ];
    for (const c of cases) expect(await s.next(bytes(c)), c).toMatchObject({ kind: 'failure', failure: 'protocol' });
    expect(await s.next(null)).toMatchObject({ kind: 'failure', failure: 'protocol' });
  });

  it('treats a damaged stored credential as no credential rather than a way in', async () => {
    const client = new ScramClient('SCRAM-SHA-256', 'carol', 'pencil');
    const s = challenge(
      await startScram(client.first(), {
        mechanism: 'SCRAM-SHA-256',
        fakeSaltSecret: secret,
        lookup: async () => ({ salt: '!!', iterations: 4096, storedKey: '', serverKey: '', record: null }),
      }),
    );
    expect(await s.next(client.final(Buffer.from(s.data)))).toMatchObject({ kind: 'failure', failure: 'unknown-user' });
  });
});
