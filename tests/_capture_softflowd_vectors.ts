/**
 * Captures the test vectors `testdata/softflowd_ipfix_*.hex`: IPFIX messages that softflowd 1.1.0
 * sends for the known traffic of `_traffic.ts`, one message per file as one hex string. `-a` takes
 * times from the capture, so everything but the metering process ID (softflowd's PID) is the same
 * on every run. Note that nfdump 1.7's nfreplay sends only NetFlow v5 and v9, not IPFIX, so
 * nfdump provides no IPFIX vectors. Run from the repository root:
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-run --allow-env --allow-net --unstable-net \
 *   tests/_capture_softflowd_vectors.ts
 * ```
 *
 * @module
 */

import { toHex } from "../src/ipfix/mod.ts";
import { pcapOfPackets } from "./_pcap.ts";
import { knownTraffic } from "./_traffic.ts";
import { DatagramSink, run, tempDir, tool } from "./_tools.ts";

/** Vector name → softflowd arguments besides `-r`, `-v 10` and `-n`. */
export const VECTOR_RUNS: Record<string, string[]> = {
  uptime: ["-a"],
  sec: ["-a", "-A", "sec"],
  milli: ["-a", "-A", "milli"],
  bidir_micro_ether: ["-a", "-b", "-A", "micro", "-T", "ether"],
  nano: ["-a", "-A", "nano"],
};

if (import.meta.main) {
  await using dir = await tempDir("flowvis-vectors-");
  const traffic = `${dir.path}/traffic.pcap`;
  await Deno.writeFile(traffic, pcapOfPackets(knownTraffic()));
  for (const [name, args] of Object.entries(VECTOR_RUNS)) {
    await using sink = new DatagramSink();
    // softflowd puts the capture's path (cut to 16 octets) in interfaceName: a relative one.
    const out = await run(tool("softflowd"), [
      "-r",
      "traffic.pcap",
      "-v",
      "10",
      ...args,
      "-n",
      `127.0.0.1:${sink.port}`,
    ], { cwd: dir.path });
    const m = /in (\d+) packets \((\d+) failures\)/.exec(out.stdout + out.stderr);
    if (!m || m[2] !== "0") throw new Error(`softflowd ${args.join(" ")}:\n${out.stdout}`);
    await sink.waitFor(Number(m[1]));
    sink.datagrams.forEach((d, i) => {
      const file = `testdata/softflowd_ipfix_${name}${
        sink.datagrams.length > 1 ? `_${i + 1}` : ""
      }.hex`;
      Deno.writeTextFileSync(file, toHex(d.payload) + "\n");
      console.log(`${file}: ${d.payload.length} octets`);
    });
  }
}
