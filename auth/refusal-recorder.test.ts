import { describe, expect, it } from 'vitest';
import { LIMITS, RefusalRecorder, type RefusalBatch } from './refusal-recorder';

const entry = (clientId: string, at = 1) => ({
  clientId,
  username: 'u',
  passwordProvided: true,
  tlsUsed: false,
  ip: '198.51.100.1',
  reasonCode: 'PASSWORD_DOES_NOT_MATCH' as const,
  reason: 'basic: Password Does Not Match',
  at,
});

describe('refusal recorder', () => {
  it('coalesces attempts per client id while a write is in flight', async () => {
    const batches: RefusalBatch[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const recorder = new RefusalRecorder(async (b) => {
      batches.push(b);
      if (batches.length === 1) await gate;
    });
    recorder.record(entry('a', 1));
    for (let i = 0; i < 5; i++) recorder.record(entry('b', 10 + i));
    recorder.record(entry('a', 20));
    release();
    await recorder.drain();
    expect(batches[0].refusals.map((r) => [r.clientId, r.attempts])).toEqual([['a', 1]]);
    expect(batches[1].refusals.map((r) => [r.clientId, r.attempts, r.at])).toEqual([
      ['b', 5, 14],
      ['a', 1, 20],
    ]);
  });

  it('bounds pending ids and cuts attacker-supplied strings', async () => {
    const batches: RefusalBatch[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const recorder = new RefusalRecorder(async (b) => {
      batches.push(b);
      await gate;
    });
    recorder.record(entry('first'));
    for (let i = 0; i < LIMITS.pendingIds + 50; i++) recorder.record({ ...entry(`flood-${i}`), username: 'x'.repeat(10_000) });
    expect(recorder.dropped).toBe(50);
    release();
    await recorder.drain();
    const flood = batches[1].refusals;
    expect(flood).toHaveLength(LIMITS.pendingIds);
    expect(flood[0].username).toHaveLength(LIMITS.username);
  });

  it('a success removes the pending refusal and clears the row', async () => {
    const batches: RefusalBatch[] = [];
    const recorder = new RefusalRecorder(async (b) => void batches.push(b));
    recorder.record(entry('a'));
    await recorder.drain();
    recorder.succeeded('a');
    await recorder.drain();
    expect(batches.at(-1)).toEqual({ refusals: [], cleared: ['a'] });
  });

  it('keeps working after the sink fails', async () => {
    let fail = true;
    const written: string[] = [];
    const recorder = new RefusalRecorder(async (b) => {
      if (fail) throw new Error('D1 down');
      written.push(...b.refusals.map((r) => r.clientId));
    });
    recorder.record(entry('lost'));
    await recorder.drain();
    fail = false;
    recorder.record(entry('kept'));
    await recorder.drain();
    expect(written).toEqual(['kept']);
  });
});
