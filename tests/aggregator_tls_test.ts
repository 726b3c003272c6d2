/**
 * Integration tests of the aggregator's PKI with the real transports: a collecting process with
 * mutual TLS from `ensurePki`, exporters with client certificates from `issueClientCertificate`
 * (accepted) and from another CA or none (refused), all on the loopback interface.
 *
 * @module
 */

import {
  ensurePki,
  issueClientCertificate,
  writeClientCertificate,
} from "../src/aggregator/pki.ts";
import {
  CollectingProcess,
  type DataRecord,
  ExportingProcess,
  templateOf,
  type TlsClientOptions,
} from "../src/ipfix/mod.ts";
import { createLogger, type Logger, silentLogger } from "../src/log/mod.ts";
import { assert, assertEquals } from "./_assert.ts";
import { tempDir, waitFor } from "./_tools.ts";

/** Set FLOWVIS_TEST_LOG=1 to see the processes' logs. */
const logger: Logger = Deno.env.get("FLOWVIS_TEST_LOG")
  ? createLogger("test", "debug")
  : silentLogger;

const WAIT_MS = 20_000;
const TEMPLATE = templateOf(256, ["sourceIPv4Address", "octetDeltaCount", "sourcePodName"]);

function record(i: number, tag: string): DataRecord {
  return {
    sourceIPv4Address: `10.0.0.${i % 250 + 1}`,
    octetDeltaCount: i,
    sourcePodName: `${tag}-${i}`,
  };
}

/** A collecting process with mutual TLS, keeping what it decodes. */
async function collector(tls: { cert: string; key: string; ca: string }) {
  const records: DataRecord[] = [];
  const process = new CollectingProcess({
    address: "127.0.0.1:0:tls",
    logger,
    tls,
    onMessage: (msg) => {
      for (const set of msg.dataSets) records.push(...set.records);
    },
  });
  await process.listen();
  return { process, records };
}

function exporter(port: number, tls: TlsClientOptions, domain: number): ExportingProcess {
  return new ExportingProcess({
    address: `localhost:${port}:tls`,
    observationDomainId: domain,
    templates: [TEMPLATE],
    tls,
    logger,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
  });
}

Deno.test("aggregator tls: agents with client certificates of the PKI are served, others refused", async () => {
  await using tmp = await tempDir("flowvis-agg-tls-");
  const pki = await ensurePki({ dir: `${tmp.path}/pki`, serverNames: ["localhost", "127.0.0.1"] });
  const other = await ensurePki({ dir: `${tmp.path}/other`, serverNames: ["localhost"] });
  const c = await collector({ cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert });
  const good = await issueClientCertificate(pki, "node-1");
  // The files an agent reads, written as the CLI writes them.
  const files = await writeClientCertificate(pki, "node-2", `${tmp.path}/agent-2`);
  const fromFiles: TlsClientOptions = {
    caCerts: [await Deno.readTextFile(files.caFile)],
    cert: await Deno.readTextFile(files.certFile),
    key: await Deno.readTextFile(files.keyFile),
  };
  const rogue = await issueClientCertificate(other, "node-1");
  const agents = [
    exporter(c.process.port, { caCerts: [pki.caCert], ...good }, 1),
    exporter(c.process.port, fromFiles, 2),
  ];
  const refused: ExportingProcess[] = [];
  try {
    for (const [i, ex] of agents.entries()) {
      ex.start();
      for (let n = 0; n < 100; n++) ex.send(256, record(n, `agent${i + 1}`));
    }
    await waitFor("200 records", () => c.records.length >= 200 ? true : undefined, WAIT_MS);
    for (const [i, ex] of agents.entries()) {
      const mine = c.records.filter((r) =>
        (r.sourcePodName as string).startsWith(`agent${i + 1}-`)
      );
      assertEquals(mine, Array.from({ length: 100 }, (_, n) => record(n, `agent${i + 1}`)));
      assert(await ex.flush(WAIT_MS), "the exporter drains its queue");
      assertEquals(ex.stats.recordsSent, 100);
    }
    assertEquals(c.process.stats.tlsErrors, 0);
    assertEquals(c.process.stats.sessionsOpened, 2);

    for (
      const [name, tls] of [
        ["a certificate of another CA", { caCerts: [pki.caCert], ...rogue }],
        ["no certificate", { caCerts: [pki.caCert] }],
      ] as [string, TlsClientOptions][]
    ) {
      const errors = c.process.stats.tlsErrors;
      const ex = exporter(c.process.port, tls, 9);
      refused.push(ex);
      ex.start();
      for (let n = 0; n < 10; n++) ex.send(256, record(n, "rogue"));
      await waitFor(
        `${name}: refused twice`,
        () => c.process.stats.tlsErrors >= errors + 2 ? true : undefined,
        WAIT_MS,
      );
      await ex.close(100);
    }
    // An exporter that trusts another CA does not accept the aggregator's server certificate.
    const distrustful = exporter(c.process.port, { caCerts: [other.caCert], ...rogue }, 10);
    refused.push(distrustful);
    distrustful.start();
    distrustful.send(256, record(1, "rogue"));
    await waitFor(
      "the distrustful exporter to fail twice",
      () => distrustful.stats.connectFailures >= 2 ? true : undefined,
      WAIT_MS,
    );
    assertEquals(distrustful.stats.recordsSent, 0);

    assertEquals(c.process.stats.sessionsOpened, 2, "only the two agents got a session");
    assertEquals(c.records.length, 200);
    assert(
      c.records.every((r) => !(r.sourcePodName as string).startsWith("rogue")),
      "no record of a refused exporter",
    );
  } finally {
    for (const ex of [...agents, ...refused]) await ex.close(100);
    await c.process.close();
  }
});

Deno.test("aggregator tls: a second ensurePki on the same directory serves with the same CA", async () => {
  await using tmp = await tempDir("flowvis-agg-tls-");
  const dir = `${tmp.path}/pki`;
  const first = await ensurePki({ dir, serverNames: ["localhost"] });
  const client = await issueClientCertificate(first, "node-1");
  // As after a restart of the aggregator.
  const second = await ensurePki({ dir, serverNames: ["localhost"] });
  assertEquals(second, first);
  const c = await collector({ cert: second.serverCert, key: second.serverKey, ca: second.caCert });
  const ex = exporter(c.process.port, { caCerts: [first.caCert], ...client }, 1);
  try {
    ex.start();
    for (let n = 0; n < 10; n++) ex.send(256, record(n, "restart"));
    await waitFor("10 records", () => c.records.length >= 10 ? true : undefined, WAIT_MS);
    assertEquals(c.records, Array.from({ length: 10 }, (_, n) => record(n, "restart")));
  } finally {
    await ex.close(100);
    await c.process.close();
  }
});

Deno.test("aggregator tls: the server certificate is verified by DNS name, IPv4 and IPv6 address", async () => {
  await using tmp = await tempDir("flowvis-agg-tls-");
  const pki = await ensurePki({
    dir: `${tmp.path}/pki`,
    serverNames: ["localhost", "127.0.0.1", "::1"],
  });
  const client = await issueClientCertificate(pki, "node-1");
  const tls = { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert };
  for (
    const [listen, connect] of [
      ["127.0.0.1", "localhost"],
      ["127.0.0.1", "127.0.0.1"],
      ["[::1]", "[::1]"],
    ] as [string, string][]
  ) {
    const records: DataRecord[] = [];
    const c = new CollectingProcess({
      address: `${listen}:0:tls`,
      logger,
      tls,
      onMessage: (msg) => msg.dataSets.forEach((s) => records.push(...s.records)),
    });
    await c.listen();
    const ex = new ExportingProcess({
      address: `${connect}:${c.port}:tls`,
      observationDomainId: 1,
      templates: [TEMPLATE],
      tls: { caCerts: [pki.caCert], ...client },
      logger,
      initialBackoffMs: 50,
      maxBackoffMs: 200,
    });
    try {
      ex.start();
      ex.send(256, record(1, connect));
      await waitFor(
        `a record through ${connect}`,
        () => records.length >= 1 ? true : undefined,
        WAIT_MS,
      );
      assertEquals(records, [record(1, connect)]);
    } finally {
      await ex.close(100);
      await c.close();
    }
  }
  // A name the certificate does not cover is refused by the exporter.
  const narrow = await ensurePki({ dir: `${tmp.path}/narrow`, serverNames: ["127.0.0.1"] });
  const c = new CollectingProcess({
    address: "127.0.0.1:0:tls",
    logger,
    tls: { cert: narrow.serverCert, key: narrow.serverKey, ca: narrow.caCert },
    onMessage: () => {},
  });
  await c.listen();
  const ex = new ExportingProcess({
    address: `localhost:${c.port}:tls`,
    observationDomainId: 1,
    templates: [TEMPLATE],
    tls: { caCerts: [narrow.caCert], ...(await issueClientCertificate(narrow, "n")) },
    logger,
    initialBackoffMs: 50,
    maxBackoffMs: 200,
  });
  try {
    ex.start();
    ex.send(256, record(1, "narrow"));
    await waitFor(
      "two failed connects",
      () => ex.stats.connectFailures >= 2 ? true : undefined,
      WAIT_MS,
    );
    assertEquals(ex.stats.recordsSent, 0);
    assertEquals(c.stats.records, 0);
  } finally {
    await ex.close(100);
    await c.close();
  }
});
