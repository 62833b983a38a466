import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  color: string;
  /** One value per timestamp; null leaves a gap. */
  values: (number | null)[];
}

/**
 * A live time-series chart on uPlot. The plot is created once per set of
 * series and then only fed new data, so a chart that updates every few
 * seconds does not flicker or leak canvases. Sizes follow the container.
 */
export function TimeChart({
  title,
  times,
  series,
  format = (v) => String(v),
  height = 200,
  integer = false,
}: {
  title: string;
  /** Epoch milliseconds. */
  times: number[];
  series: ChartSeries[];
  format?: (value: number) => string;
  height?: number;
  /** Counts of things (clients): no fractional ticks on the axis. */
  integer?: boolean;
}) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const formatRef = useRef(format);
  formatRef.current = format;
  const shape = series.map((s) => `${s.label}:${s.color}`).join('|');

  useEffect(() => {
    const el = container.current;
    if (!el) return;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] },
      },
      axes: [
        { stroke: '#5b6475', grid: { stroke: '#eef1f6' } },
        {
          stroke: '#5b6475',
          grid: { stroke: '#eef1f6' },
          size: 60,
          values: (_u, splits) => splits.map((v) => formatRef.current(v)),
          ...(integer ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 50_000, 100_000, 1_000_000] } : {}),
        },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: `${s.color}22`,
          width: 2,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? '—' : formatRef.current(v)),
        })),
      ],
    };
    const instance = new uPlot(opts, toData(times, series), el);
    plot.current = instance;
    showRecent(instance, times);
    const observer = new ResizeObserver(() => {
      instance.setSize({ width: Math.max(200, el.clientWidth), height });
    });
    observer.observe(el);
    return () => {
      observer.disconnect();
      instance.destroy();
      plot.current = null;
    };
    // Data updates go through setData below; only a new set of series rebuilds the plot.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, height, integer]);

  useEffect(() => {
    if (!plot.current) return;
    plot.current.setData(toData(times, series));
    showRecent(plot.current, times);
  }, [times, series]);

  const latest = series.map((s) => `${s.label} ${lastValue(s.values, formatRef.current)}`).join(', ');
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      <div ref={container} className="chart-canvas" role="img" aria-label={`${title}. Latest: ${latest}`} data-points={times.length} />
    </figure>
  );
}

/** Until a few minutes of samples exist, the chart shows the last five minutes rather than a meaningless span. */
const MIN_SPAN_S = 300;

function showRecent(plot: uPlot, times: number[]): void {
  const first = times.length ? times[0] / 1000 : null;
  const last = times.length ? times[times.length - 1] / 1000 : Date.now() / 1000;
  if (first === null || last - first < MIN_SPAN_S) plot.setScale('x', { min: last - MIN_SPAN_S, max: last });
}

function toData(times: number[], series: ChartSeries[]): uPlot.AlignedData {
  return [times.map((t) => t / 1000), ...series.map((s) => s.values)] as uPlot.AlignedData;
}

function lastValue(values: (number | null)[], format: (v: number) => string): string {
  for (let i = values.length - 1; i >= 0; i--) {
    const v = values[i];
    if (v !== null && v !== undefined) return format(v);
  }
  return 'none';
}

/** A ranked list drawn as horizontal bars: readable on a phone and by a screen reader. */
export function BarList({ title, items, empty }: { title: string; items: { label: string; value: number; hint?: string }[]; empty: string }) {
  const max = Math.max(1, ...items.map((i) => i.value));
  return (
    <figure className="barlist">
      <figcaption>{title}</figcaption>
      {items.length === 0 ? (
        <p className="muted">{empty}</p>
      ) : (
        <ol>
          {items.map((item) => (
            <li key={item.label} title={item.hint}>
              <span className="barlist-label">{item.label}</span>
              <span className="barlist-bar" style={{ width: `${(item.value / max) * 100}%` }} aria-hidden="true" />
              <span className="barlist-value">{item.value.toLocaleString()}</span>
            </li>
          ))}
        </ol>
      )}
    </figure>
  );
}
