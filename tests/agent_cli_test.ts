import { assert, assertEquals, assertStringIncludes } from "./_assert.ts";
import { run, tempDir } from "./_tools.ts";

const AGENT = new URL("../tasks/agent.ts", import.meta.url).pathname;

Deno.test("agent task: a TLS file that cannot be read is a configuration error naming the key", async () => {
  await using dir = await tempDir("flowvis-agent-cli-");
  const inventory = `${dir.path}/inventory.yaml`;
  await Deno.writeTextFile(
    inventory,
    "apiVersion: v1\nkind: Node\nmetadata: { name: n1 }\nspec: { podCIDRs: [10.244.1.0/24] }\n",
  );
  for (const key of ["caFile", "certFile"]) {
    const config = `${dir.path}/agent-${key}.conf`;
    const tls = key === "caFile"
      ? `{ caFile: ${dir.path}/missing.pem }`
      : `{ certFile: ${dir.path}/missing.pem, keyFile: ${dir.path}/missing.key }`;
    await Deno.writeTextFile(
      config,
      `nodeName: n1\ninventoryFile: ${inventory}\nflowCollectorAddr: 127.0.0.1:1:tls\n` +
        `metricsAddress: 127.0.0.1:0\ntls: ${tls}\n`,
    );
    const r = await run(Deno.execPath(), ["run", "-A", AGENT, "--config", config], {
      allowFailure: true,
    });
    assertEquals(r.code, 2, r.stderr);
    assertStringIncludes(r.stderr, `tls.${key}`);
    assertStringIncludes(r.stderr, "missing.pem");
    assert(!r.stderr.includes("Uncaught"), r.stderr);
  }
});
