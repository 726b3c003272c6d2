/**
 * The kernel's connection tracking table, read through libnetfilter_conntrack.so.3 over FFI
 * (the only `Deno.dlopen` of flowvis): IPv4 and IPv6 entries with their original and reply
 * tuples, packet and byte counters of both directions, start/stop timestamps, TCP state, status
 * bits, mark, zone and labels. Needs `--allow-ffi`, and root or CAP_NET_ADMIN; counters and
 * timestamps need `nf_conntrack_acct` and `nf_conntrack_timestamp`, which
 * {@link enableAccounting} turns on where it may.
 *
 * @example
 * ```ts
 * import { Conntrack, ConntrackError, enableAccounting } from "./mod.ts";
 * for (const line of enableAccounting().missing) console.warn(line);
 * using ct = new Conntrack();
 * try {
 *   for (const e of ct.dump({ zones: [0] })) {
 *     console.log(e.family, e.protocol, e.original.src, e.original.dstPort, e.tcpState);
 *   }
 * } catch (e) {
 *   if (!(e instanceof ConntrackError)) throw e;
 *   console.error(`poll failed (${e.code}): ${e.message}`); // and retry at the next poll
 * }
 * ```
 *
 * @module
 */

export { Conntrack, type ConntrackOptions, type ConnView, type DumpOptions } from "./conntrack.ts";
export { ConntrackError, type ConntrackErrorCode, errnoName } from "./errors.ts";
export {
  type AccountingReport,
  conntrackMax,
  enableAccounting,
  type EnableAccountingOptions,
  NETFILTER_SYSCTL_DIR,
  type SysctlIo,
  type SysctlOutcome,
} from "./accounting.ts";
export {
  type ConnEntry,
  ConnStatus,
  type ConnStatusName,
  type ConnTuple,
  type IcmpInfo,
  statusNames,
  TCP_STATES,
  type TcpState,
} from "./types.ts";
