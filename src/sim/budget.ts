/**
 * A shared budget of data records, and an exporting process that sends only what the budget
 * allows: how the simulator sends exactly N records in total across its agents.
 *
 * @module
 */

import {
  type CompiledTemplate,
  type DataRecord,
  ExportingProcess,
  type ExportingProcessOptions,
} from "../ipfix/mod.ts";

/**
 * A count of records that may still be sent, shared by several exporters.
 *
 * @example
 * ```ts
 * const budget = new RecordBudget(2);
 * budget.take(); // true
 * budget.take(); // true
 * budget.take(); // false
 * budget.exhausted; // true
 * ```
 */
export class RecordBudget {
  readonly total: number;
  #left: number;

  constructor(total: number) {
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new RangeError(`Invalid record budget ${total}: expected a whole number`);
    }
    this.total = total;
    this.#left = total;
  }

  /** Takes one record from the budget; false when none is left. */
  take(): boolean {
    if (this.#left === 0) return false;
    this.#left--;
    return true;
  }

  /** Gives back a record taken for a send that failed. */
  refund(): void {
    if (this.#left < this.total) this.#left++;
  }

  /** Records left. */
  get left(): number {
    return this.#left;
  }

  get exhausted(): boolean {
    return this.#left === 0;
  }
}

/** A flow's identity in its records: 5-tuple and start. */
function flowKey(r: DataRecord): string {
  return `${r.sourceIPv4Address ?? r.sourceIPv6Address}|${r.sourceTransportPort}|${
    r.destinationIPv4Address ?? r.destinationIPv6Address
  }|${r.destinationTransportPort}|${r.protocolIdentifier}|${r.flowStartSeconds}`;
}

/**
 * An {@link ExportingProcess} that sends a record only while `budget` has some left, and counts
 * the records it turned away in `skipped`; while `paused`, it drops every record (see
 * {@link BudgetedExportingProcess.paused}). Without a budget, and never paused, it is an
 * ordinary exporting process.
 *
 * @example
 * ```ts
 * import { antreaFlowTemplate } from "../ipfix/mod.ts";
 * const exporter = new BudgetedExportingProcess({
 *   address: "127.0.0.1:4739:tcp",
 *   observationDomainId: 1,
 *   templates: [antreaFlowTemplate(4)],
 * }, new RecordBudget(1));
 * exporter.send(256, { octetDeltaCount: 1 }); // queued
 * exporter.send(256, { octetDeltaCount: 2 }); // skipped
 * exporter.skipped; // 1
 * ```
 */
export class BudgetedExportingProcess extends ExportingProcess {
  readonly budget: RecordBudget | undefined;
  /** Records not sent because the budget was spent. */
  skipped = 0;
  /** Records taken for sending (queued); those not in `stats.recordsSent` after close were lost. */
  accepted = 0;
  /**
   * While true, records are dropped without touching the budget (a warm-up). The next record of
   * a flow dropped that way goes out with its deltas equal to its totals, as an agent started
   * when the pause ended would send it: at the collector every flow's deltas add up to its
   * totals.
   */
  paused = false;
  readonly #muted = new Set<string>();

  constructor(options: ExportingProcessOptions, budget?: RecordBudget) {
    super(options);
    this.budget = budget;
  }

  override send(template: number | CompiledTemplate, record: DataRecord): void {
    if (this.paused) {
      // An ended flow sends nothing more: only flows still going need remembering.
      if (record.flowEndReason !== 3) this.#muted.add(flowKey(record));
      return;
    }
    if (this.#muted.size > 0 && this.#muted.delete(flowKey(record))) {
      record = {
        ...record,
        packetDeltaCount: record.packetTotalCount!,
        octetDeltaCount: record.octetTotalCount!,
        reversePacketDeltaCount: record.reversePacketTotalCount!,
        reverseOctetDeltaCount: record.reverseOctetTotalCount!,
      };
    }
    if (this.budget !== undefined && !this.budget.take()) {
      this.skipped++;
      return;
    }
    try {
      super.send(template, record);
      this.accepted++;
    } catch (e) {
      this.budget?.refund();
      throw e;
    }
  }
}
