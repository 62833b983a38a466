import { describe, expect, it } from 'vitest';
import { createHashBudget, TokenBucket, UNLIMITED_HASHES } from './hash-budget';

/** A clock the test moves by hand. */
const manualClock = (start = 1_000_000) => {
  const clock = { t: start, now: () => clock.t };
  return clock;
};

/** How many verifications of `cost` the budget allows right now, taking them. */
const drain = (bucket: { tryTake(cost: number): boolean }, cost = 1) => {
  let n = 0;
  while (n < 10_000 && bucket.tryTake(cost)) n++;
  return n;
};

describe('password hash budget (token bucket)', () => {
  it('allows a full burst at once, then nothing until time passes', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ perSecond: 5, burst: 20 }, clock);
    expect(drain(bucket)).toBe(20);
    expect(bucket.tryTake(1)).toBe(false);
  });

  it('refills at the configured rate, in fractions of a token too', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ perSecond: 5, burst: 20 }, clock);
    drain(bucket);
    clock.t += 100; // half a token
    expect(bucket.tryTake(1)).toBe(false);
    clock.t += 100; // the other half: one token now
    expect(bucket.tryTake(1)).toBe(true);
    expect(bucket.tryTake(1)).toBe(false);
    clock.t += 1_000;
    expect(drain(bucket)).toBe(5);
  });

  it('never holds more than one burst, however long it was idle', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ perSecond: 5, burst: 20 }, clock);
    drain(bucket);
    clock.t += 3_600_000;
    expect(drain(bucket)).toBe(20);
  });

  it('charges weaker hashes their share of a token, and takes nothing when it refuses', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ perSecond: 1, burst: 1 }, clock);
    // A mosquitto_passwd default hash (101 iterations) costs about a thousandth of one at 100,000.
    expect(drain(bucket, 101 / 100_000)).toBe(990);
    clock.t += 10; // a hundredth of a token: enough for a cheap check, not for a full-strength one
    expect(bucket.tryTake(1)).toBe(false);
    expect(bucket.tryTake(101 / 100_000)).toBe(true);
  });

  it('does not take tokens away when the clock steps back', () => {
    const clock = manualClock();
    const bucket = new TokenBucket({ perSecond: 5, burst: 2 }, clock);
    expect(bucket.tryTake(1)).toBe(true);
    clock.t -= 60_000;
    expect(bucket.tryTake(1)).toBe(true);
    expect(bucket.tryTake(1)).toBe(false);
  });

  it('is no budget at all when the rate is 0', () => {
    const budget = createHashBudget({ perSecond: 0, burst: 20 }, manualClock());
    expect(budget).toBe(UNLIMITED_HASHES);
    expect(drain(budget)).toBe(10_000);
    expect(createHashBudget({ perSecond: 5, burst: 20 }, manualClock()).description).toBe('5 per second, bursts of 20');
  });
});
