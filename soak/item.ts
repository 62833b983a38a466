/** One soak item: what it measured, as rows for docs/reliability.md. */
export interface ItemResult {
  title: string;
  /** [what, value] pairs, in report order. */
  figures: [string, string][];
  /** Whether the item's pass condition held (for the exit code). */
  passed: boolean;
  notes: string[];
}

export interface ItemContext {
  /** Fraction of the full counts (1 = the request's numbers). */
  scale: number;
  /** Broker vars from the command line, applied over each item's own. */
  vars: Record<string, string>;
  log(message: string): void;
}

export const scaled = (ctx: ItemContext, full: number, min = 1) => Math.max(min, Math.round(full * ctx.scale));

/** NaN stands for a figure that could not be taken (the runtime was gone when it was read). */
export const kib = (bytes: number) => (Number.isFinite(bytes) ? `${(bytes / 1024).toFixed(1)} KiB` : 'not measured');
/** CPU per event from a cpuSecondsSince figure; NaN (the sampled workerd was gone at the end) is said as such. */
export const cpuPer = (cpuSeconds: number, events: number, unit: 'ms' | 'µs') =>
  Number.isFinite(cpuSeconds)
    ? `${(((unit === 'ms' ? 1e3 : 1e6) * cpuSeconds) / Math.max(1, events)).toFixed(unit === 'ms' ? 2 : 0)} ${unit}`
    : 'not measured: the workerd process sampled at the start was gone at the end';
export const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
export const secs = (s: number) => `${s.toFixed(1)} s`;
