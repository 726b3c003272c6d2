/**
 * Human-readable rendering of decoded messages, for `deno task collector --format text`.
 *
 * @module
 */

import type { DecodedMessage } from "./decoder.ts";
import { toJsonValue } from "./json.ts";

/**
 * Renders a message and its records as indented text.
 *
 * @example
 * ```ts
 * // formatMessageText(msg, "10.0.0.1:40000") →
 * // IPFIX message from 10.0.0.1:40000: domain 1, sequence 0, exported 2026-11-26T12:00:00Z, 1 record
 * //   template 256 record 1
 * //     octetDeltaCount: 1500
 * ```
 */
export function formatMessageText(msg: DecodedMessage, exporter: string): string {
  const when = new Date(msg.exportTime * 1000).toISOString().replace(".000Z", "Z");
  const lines = [
    `IPFIX message from ${exporter}: domain ${msg.observationDomainId}, sequence ${msg.sequenceNumber}, exported ${when}, ${msg.recordCount} record${
      msg.recordCount === 1 ? "" : "s"
    }`,
  ];
  for (const t of msg.templates) {
    lines.push(
      `  ${t.scopeFieldCount > 0 ? "options template" : "template"} ${t.id}: ${
        t.fields.map((f) => `${f.element.name}(${f.length === 65535 ? "var" : f.length})`).join(" ")
      }`,
    );
  }
  for (const id of msg.withdrawals) lines.push(`  withdrawal of template ${id}`);
  for (const u of msg.unknownSets) {
    lines.push(`  data set of unknown template ${u.templateId} skipped (${u.length} octets)`);
  }
  let n = 0;
  for (const set of msg.dataSets) {
    for (const r of set.records) {
      lines.push(`  template ${set.templateId} record ${++n}`);
      for (const k in r) lines.push(`    ${k}: ${JSON.stringify(toJsonValue(r[k]!))}`);
    }
  }
  return lines.join("\n") + "\n";
}
