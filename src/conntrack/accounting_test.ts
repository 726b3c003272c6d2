import { assert, assertEquals, assertStringIncludes } from "../../tests/_assert.ts";
import { enableAccounting, type SysctlIo } from "./accounting.ts";

// Files in a temporary directory stand for /proc/sys/net/netfilter.
const io: SysctlIo = {
  read: (path) => Deno.readTextFileSync(path),
  write: (path, text) => Deno.writeTextFileSync(path, text),
};

Deno.test("enableAccounting turns both sysctls on and reports what it did", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flowvis-acct-" });
  try {
    await Deno.writeTextFile(`${dir}/nf_conntrack_acct`, "0\n");
    await Deno.writeTextFile(`${dir}/nf_conntrack_timestamp`, "1\n");
    const r = enableAccounting({ dir, io });
    assertEquals(r.acct, {
      name: "net.netfilter.nf_conntrack_acct",
      before: false,
      on: true,
      error: undefined,
    });
    assertEquals(r.timestamp.before, true);
    assertEquals(r.timestamp.on, true);
    assertEquals(r.missing, []);
    assertEquals((await Deno.readTextFile(`${dir}/nf_conntrack_acct`)).trim(), "1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("enableAccounting says what is missing when it cannot read the sysctls", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flowvis-acct-" });
  try {
    const r = enableAccounting({ dir: `${dir}/absent`, io });
    assert(!r.acct.on && !r.timestamp.on);
    assertEquals(r.missing.length, 2);
    assertStringIncludes(r.missing[0]!, "net.netfilter.nf_conntrack_acct is unknown");
    assertStringIncludes(r.missing[0]!, "packet and byte counters");
    assertStringIncludes(r.missing[0]!, "sysctl -w net.netfilter.nf_conntrack_acct=1");
    assertStringIncludes(r.missing[1]!, "flow start and end timestamps");
    assertStringIncludes(r.acct.error!, "is the nf_conntrack module loaded?");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
