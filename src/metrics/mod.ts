/**
 * Prometheus text exposition (version 0.0.4) of plain counters and gauges.
 *
 * @example
 * ```ts
 * formatPrometheus([{ name: "flowvis_agent_records_exported_total", help: "Records exported.", type: "counter", value: 3 }]);
 * // # HELP flowvis_agent_records_exported_total Records exported.
 * // # TYPE flowvis_agent_records_exported_total counter
 * // flowvis_agent_records_exported_total 3
 * ```
 *
 * @module
 */

/** One metric sample (or several, by label). */
export interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly value?: number;
  /** Samples by label set, instead of `value`. */
  readonly samples?: readonly { labels: Readonly<Record<string, string>>; value: number }[];
}

/** The content type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function num(v: number): string {
  return Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v);
}

/** Renders metrics in the Prometheus text format. */
export function formatPrometheus(metrics: readonly Metric[]): string {
  let out = "";
  for (const m of metrics) {
    out += `# HELP ${m.name} ${m.help.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}\n`;
    out += `# TYPE ${m.name} ${m.type}\n`;
    if (m.samples) {
      for (const s of m.samples) {
        const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(
          ",",
        );
        out += `${m.name}{${labels}} ${num(s.value)}\n`;
      }
    } else {
      out += `${m.name} ${num(m.value ?? 0)}\n`;
    }
  }
  return out;
}
