/**
 * A real OpenTelemetry SDK meter provider whose metrics the tests read: a PeriodicExportingMetricReader
 * (with an interval no test reaches) exporting into the SDK's InMemoryMetricExporter, flushed on demand.
 */
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';

/** One data point of an exported metric: a counter's sum, or a histogram's count and sum. */
export interface Point {
  attributes: Record<string, unknown>;
  value: number;
  /** Histograms: the number of recorded values. */
  count?: number;
  unit: string;
}

export interface Recorded {
  provider: MeterProvider;
  /** Flushes and returns every data point, by instrument name. */
  collect(): Promise<Map<string, Point[]>>;
  shutdown(): Promise<void>;
}

export function recorded(): Recorded {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  return {
    provider,
    async collect() {
      exporter.reset();
      await reader.forceFlush();
      const out = new Map<string, Point[]>();
      const last = exporter.getMetrics().at(-1);
      for (const scope of last?.scopeMetrics ?? []) {
        for (const metric of scope.metrics) {
          const points = out.get(metric.descriptor.name) ?? [];
          for (const point of metric.dataPoints as Array<{ attributes: Record<string, unknown>; value: unknown }>) {
            if (metric.dataPointType === DataPointType.HISTOGRAM) {
              const h = point.value as { count: number; sum: number };
              points.push({ attributes: point.attributes, value: h.sum, count: h.count, unit: metric.descriptor.unit });
            } else {
              points.push({ attributes: point.attributes, value: point.value as number, unit: metric.descriptor.unit });
            }
          }
          out.set(metric.descriptor.name, points);
        }
      }
      return out;
    },
    shutdown: () => provider.shutdown(),
  };
}

/** A stable text for an attribute set, keys sorted: `decision=allow,guard=rateLimit`. */
export function label(attributes: Record<string, unknown>): string {
  return Object.keys(attributes)
    .sort()
    .map((key) => `${key}=${String(attributes[key])}`)
    .join(',');
}

/** An instrument's points as `{ [label]: value }` (a histogram's value is its count). */
export function counts(points: Map<string, Point[]>, name: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const point of points.get(name) ?? []) {
    out[label(point.attributes)] = point.count ?? point.value;
  }
  return out;
}
