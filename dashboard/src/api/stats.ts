import { toMillis } from '../lib/format';

/**
 * Broker statistics (GET /stats and /stats/history). Counters such as
 * publishIn are cumulative since `startedAt`; the charts show their rate
 * between two samples.
 */
export interface StatsCounters {
  /** Clients connected now. */
  connections: number;
  connectionsTotal: number;
  /** MQTT packets of every type. */
  messagesIn: number;
  messagesOut: number;
  /** PUBLISH packets: what operators mean by messages. */
  publishIn: number;
  publishOut: number;
  bytesIn: number;
  bytesOut: number;
  dropped: number;
  authFailures: number;
  sessions: number;
  subscriptions: number;
  retained: number;
}

export interface StatsSnapshot extends StatsCounters {
  at: string;
  startedAt: string;
  uptimeSeconds: number;
}

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
