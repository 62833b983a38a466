import { toMillis } from '../lib/format';
import type { StatsCounters } from './types';

/**
 * Broker statistics (GET /stats and /stats/history). Counters such as
 * publishIn are cumulative since `startedAt`; the charts show their rate
 * between two samples.
 */
export type { StatsCounters, StatsSnapshot } from './types';

/** A sample with its time as epoch milliseconds, as the charts plot it. */
export interface StatsSample extends StatsCounters {
  at: number;
}

export function toSample(raw: StatsCounters & { at: string | number }, fallbackAt = Date.now()): StatsSample {
  return { ...raw, at: toMillis(raw.at) ?? fallbackAt };
}

type Cumulative = 'publishIn' | 'publishOut' | 'bytesIn' | 'bytesOut' | 'authFailures';

/**
 * Rate per `perMs` between consecutive samples of a cumulative counter. A
 * counter that went down (the broker restarted) shows as a gap, not as a
 * negative rate.
 */
export function rates(samples: StatsSample[], key: Cumulative, perMs = 1000): (number | null)[] {
  return samples.map((s, i) => {
    if (i === 0) return null;
    const prev = samples[i - 1];
    const dt = s.at - prev.at;
    const delta = s[key] - prev[key];
    if (dt <= 0 || delta < 0) return null;
    return (delta / dt) * perMs;
  });
}
