import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import {
  assert,
  assertEquals,
  assertNotEquals,
  assertRejects,
  assertStringIncludes,
} from "../../tests/_assert.ts";
import { tempDir } from "../../tests/_tools.ts";
import {
  CA_VALIDITY_DAYS,
  createPki,
  ensurePki,
  issueClientCertificate,
  parseCertificate,
  type Pki,
  PKI_FILES,
  SERVER_VALIDITY_DAYS,
  writeClientCertificate,
} from "./pki.ts";

const DAY = 24 * 3600_000;
const NAMES = ["flow-aggregator.flow-aggregator.svc", "localhost", "127.0.0.1", "fd00::10"];

function mode(path: string): number {
  return Deno.statSync(path).mode! & 0o777;
}

function sans(pem: string): x509.JsonGeneralName[] {
  return parseCertificate(pem).getExtension(x509.SubjectAlternativeNameExtension)?.names
    .toJSON() ?? [];
}

function eku(pem: string): string[] {
  const usages = parseCertificate(pem).getExtension(x509.ExtendedKeyUsageExtension)?.usages;
  return Array.from(usages ?? [], (u) => String(u));
}

async function signedBy(pem: string, caPem: string): Promise<boolean> {
  return await parseCertificate(pem).verify(
    { publicKey: parseCertificate(caPem).publicKey, signatureOnly: true },
    crypto,
  );
}

async function files(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of Object.values(PKI_FILES)) out[f] = await Deno.readTextFile(`${dir}/${f}`);
  return out;
}

Deno.test("ensurePki: creates a CA and a server certificate for DNS names and IP addresses", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  const dir = `${tmp.path}/nested/pki`;
  const now = Date.UTC(2030, 0, 1);
  const pki = await ensurePki({ dir, serverNames: NAMES, clock: () => now });
  const onDisk = await files(dir);
  assertEquals(onDisk, {
    "ca.crt": pki.caCert,
    "ca.key": pki.caKey,
    "server.crt": pki.serverCert,
    "server.key": pki.serverKey,
  });
  assertEquals(mode(`${dir}/ca.key`), 0o600);
  assertEquals(mode(`${dir}/server.key`), 0o600);
  assertEquals(mode(`${dir}/ca.crt`), 0o644);
  assertEquals(mode(`${dir}/server.crt`), 0o644);
  assertEquals([...Deno.readDirSync(dir)].length, 4, "no temporary files left");

  const ca = parseCertificate(pki.caCert);
  assertEquals(ca.getExtension(x509.BasicConstraintsExtension)?.ca, true);
  assert(await ca.isSelfSigned(crypto), "the CA is self-signed");
  assertEquals(ca.notAfter.getTime(), now + CA_VALIDITY_DAYS * DAY);
  assert(ca.notBefore.getTime() < now, "backdated a little");

  const server = parseCertificate(pki.serverCert);
  assertEquals(server.getExtension(x509.BasicConstraintsExtension)?.ca, false);
  assertEquals(server.notAfter.getTime(), now + SERVER_VALIDITY_DAYS * DAY);
  assertEquals(sans(pki.serverCert), [
    { type: "dns", value: "flow-aggregator.flow-aggregator.svc" },
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
    { type: "ip", value: "fd00::10" },
  ]);
  assertEquals(eku(pki.serverCert), [x509.ExtendedKeyUsage.serverAuth]);
  assert(await signedBy(pki.serverCert, pki.caCert), "the server certificate is the CA's");
  assertStringIncludes(pki.caKey, "-----BEGIN PRIVATE KEY-----");
});

Deno.test("ensurePki: a second run loads the same files; new names renew only the server certificate", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  const first = await ensurePki({ dir: tmp.path, serverNames: ["agg.example", "10.0.0.1"] });
  const second = await ensurePki({ dir: tmp.path, serverNames: ["10.0.0.1", "AGG.example."] });
  assertEquals(second, first, "names already covered (any order, case) keep the certificate");
  const third = await ensurePki({ dir: tmp.path, serverNames: ["agg.example", "10.0.0.2"] });
  assertEquals([third.caCert, third.caKey], [first.caCert, first.caKey]);
  assertNotEquals(third.serverCert, first.serverCert);
  assertNotEquals(third.serverKey, first.serverKey);
  assertEquals(sans(third.serverCert).map((n) => n.value), ["agg.example", "10.0.0.2"]);
  assertEquals(await files(tmp.path), {
    "ca.crt": third.caCert,
    "ca.key": third.caKey,
    "server.crt": third.serverCert,
    "server.key": third.serverKey,
  });
  // A missing server key: a new server certificate, same CA.
  await Deno.remove(`${tmp.path}/server.key`);
  const fourth = await ensurePki({ dir: tmp.path, serverNames: ["agg.example"] });
  assertEquals(fourth.caCert, first.caCert);
  assertNotEquals(fourth.serverCert, third.serverCert);
});

Deno.test("ensurePki: the server certificate is renewed before it expires, the CA when it expired (injected clock)", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  let now = Date.UTC(2030, 0, 1);
  const clock = () => now;
  const first = await ensurePki({ dir: tmp.path, serverNames: ["agg"], clock });
  now += 300 * DAY;
  assertEquals(await ensurePki({ dir: tmp.path, serverNames: ["agg"], clock }), first);
  now += 40 * DAY; // 25 days left
  const renewed = await ensurePki({ dir: tmp.path, serverNames: ["agg"], clock });
  assertEquals(renewed.caCert, first.caCert);
  assertNotEquals(renewed.serverCert, first.serverCert);
  assertEquals(parseCertificate(renewed.serverCert).notAfter.getTime(), now + 365 * DAY);
  // Near the CA's end a server certificate does not outlive it.
  now = Date.UTC(2030, 0, 1) + (CA_VALIDITY_DAYS - 100) * DAY;
  const late = await ensurePki({ dir: tmp.path, serverNames: ["agg"], clock });
  assertEquals(late.caCert, first.caCert);
  assertEquals(
    parseCertificate(late.serverCert).notAfter.getTime(),
    parseCertificate(first.caCert).notAfter.getTime(),
  );
  now = Date.UTC(2030, 0, 1) + (CA_VALIDITY_DAYS + 1) * DAY;
  const logged: string[] = [];
  const logger = {
    debug() {},
    info() {},
    warn: (m: string) => void logged.push(m),
    error() {},
  };
  const fresh = await ensurePki({ dir: tmp.path, serverNames: ["agg"], clock, logger });
  assertNotEquals(fresh.caCert, first.caCert);
  assert(
    await signedBy(fresh.serverCert, fresh.caCert),
    "the new server certificate is the new CA's",
  );
  assertEquals(logged.length, 1);
  assertStringIncludes(logged[0]!, "expired");
});

Deno.test("ensurePki: garbage, truncated or mismatched files are an error naming the file, left as they are", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  const good = await ensurePki({ dir: tmp.path, serverNames: ["agg"] });
  const other = await ensurePki({ dir: `${tmp.path}/other`, serverNames: ["agg"] });
  const leaf = await issueClientCertificate(good, "node-1");
  const cases: [string, string, string][] = [
    ["ca.crt", "garbage\n", "ca.crt"],
    ["ca.crt", "", "ca.crt"],
    ["ca.crt", good.caCert.slice(0, good.caCert.length / 2), "ca.crt"],
    ["ca.crt", good.caCert.replace(/[A-Za-z0-9+/]{20}\n/, "\n"), "ca.crt"],
    ["ca.crt", good.caKey, "ca.crt"],
    ["ca.crt", leaf.cert, "ca.crt"],
    ["ca.crt", "\u0000\u0001".repeat(1000), "ca.crt"],
    ["ca.key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "ca.key"],
    ["ca.key", good.caKey.slice(0, 100), "ca.key"],
    ["ca.key", good.caCert, "ca.key"],
    ["ca.key", other.caKey, "ca.key"],
    [
      "ca.key",
      "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
      "openssl pkcs8",
    ],
    ["server.crt", good.serverCert.slice(0, 300), "server.crt"],
    ["server.crt", "not a certificate", "server.crt"],
    ["server.key", "nonsense", "server.key"],
  ];
  for (const [file, content, expected] of cases) {
    const dir = `${tmp.path}/case`;
    await Deno.mkdir(dir, { recursive: true });
    for (const [f, text] of Object.entries(await files(tmp.path))) {
      await Deno.writeTextFile(`${dir}/${f}`, text);
    }
    await Deno.writeTextFile(`${dir}/${file}`, content);
    const e = await assertRejects(
      () => ensurePki({ dir, serverNames: ["agg"] }),
      Error,
      expected,
      `${file}: ${JSON.stringify(content.slice(0, 40))}`,
    );
    assertStringIncludes(e.message, `${dir}/${file}`);
    assertEquals(await Deno.readTextFile(`${dir}/${file}`), content, "left as it was");
    await Deno.remove(dir, { recursive: true });
  }
  // Half a CA.
  for (const missing of ["ca.crt", "ca.key"]) {
    const dir = `${tmp.path}/half`;
    await Deno.mkdir(dir);
    const present = missing === "ca.crt" ? "ca.key" : "ca.crt";
    await Deno.writeTextFile(`${dir}/${present}`, present === "ca.crt" ? good.caCert : good.caKey);
    const e = await assertRejects(() => ensurePki({ dir, serverNames: ["agg"] }), Error, missing);
    assertStringIncludes(e.message, `${dir}/${present} exists`);
    assertEquals([...Deno.readDirSync(dir)].map((f) => f.name), [present]);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ensurePki: a server certificate of another CA is replaced", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  const a = await ensurePki({ dir: `${tmp.path}/a`, serverNames: ["agg"] });
  const b = await ensurePki({ dir: `${tmp.path}/b`, serverNames: ["agg"] });
  await Deno.writeTextFile(`${tmp.path}/a/server.crt`, b.serverCert);
  await Deno.writeTextFile(`${tmp.path}/a/server.key`, b.serverKey);
  const again = await ensurePki({ dir: `${tmp.path}/a`, serverNames: ["agg"] });
  assertEquals(again.caCert, a.caCert);
  assert(await signedBy(again.serverCert, a.caCert), "signed by the directory's CA");
  // A server key that does not belong to the certificate: replaced too.
  await Deno.writeTextFile(`${tmp.path}/a/server.key`, b.serverKey);
  const fixed = await ensurePki({ dir: `${tmp.path}/a`, serverNames: ["agg"] });
  assertNotEquals(fixed.serverKey, b.serverKey);
});

Deno.test("ensurePki: a user's CA with an RSA key signs the server certificate", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  const alg = {
    name: "RSASSA-PKCS1-v1_5",
    hash: "SHA-256",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
  };
  const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]) as CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: "CN=user CA",
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 1000 * DAY),
    signingAlgorithm: alg,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
  }, crypto);
  const caKey = x509.PemConverter.encode(
    await crypto.subtle.exportKey("pkcs8", keys.privateKey),
    "PRIVATE KEY",
  );
  await Deno.writeTextFile(`${tmp.path}/ca.crt`, ca.toString("pem"));
  await Deno.writeTextFile(`${tmp.path}/ca.key`, caKey);
  const pki = await ensurePki({ dir: tmp.path, serverNames: ["agg"] });
  assertEquals([pki.caCert, pki.caKey], [ca.toString("pem"), caKey]);
  assert(await signedBy(pki.serverCert, pki.caCert), "signed by the user's CA");
  const client = await issueClientCertificate(pki, "node-1");
  assert(await signedBy(client.cert, pki.caCert), "client signed by the user's CA");
  // Not a CA: refused.
  const notCa = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "02",
    name: "CN=leaf",
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 1000 * DAY),
    signingAlgorithm: alg,
    keys,
  }, crypto);
  await Deno.writeTextFile(`${tmp.path}/ca.crt`, notCa.toString("pem"));
  await assertRejects(
    () => ensurePki({ dir: tmp.path, serverNames: ["agg"] }),
    SyntaxError,
    "not a CA certificate",
  );
});

Deno.test("ensurePki: argument errors", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  for (const names of [[], [""], ["bad name"], ["a..b"], ["-x.svc"]]) {
    await assertRejects(() => ensurePki({ dir: tmp.path, serverNames: names }), TypeError);
  }
  await assertRejects(() => ensurePki({ dir: "", serverNames: ["a"] }), TypeError);
  // Brackets around an IPv6 address are accepted.
  const pki = await ensurePki({ dir: tmp.path, serverNames: ["[::1]"] });
  assertEquals(sans(pki.serverCert), [{ type: "ip", value: "::1" }]);
});

Deno.test("issueClientCertificate and writeClientCertificate: clientAuth certificates of the CA", async () => {
  await using tmp = await tempDir("flowvis-pki-");
  const now = Date.UTC(2031, 5, 1);
  const pki: Pki = await ensurePki({ dir: tmp.path, serverNames: ["agg"], clock: () => now });
  const c = await issueClientCertificate(pki, "node-1, O=evil", { days: 30, clock: () => now });
  const cert = parseCertificate(c.cert);
  assertEquals(cert.subjectName.getField("CN"), ["node-1, O=evil"], "no DN injection");
  assertEquals(cert.subjectName.getField("O"), []);
  assertEquals(eku(c.cert), [x509.ExtendedKeyUsage.clientAuth]);
  assertEquals(cert.notAfter.getTime(), now + 30 * DAY);
  assert(await signedBy(c.cert, pki.caCert), "signed by the CA");
  assertEquals(cert.issuer, parseCertificate(pki.caCert).subject);

  const out = `${tmp.path}/agent-1`;
  const written = await writeClientCertificate(pki, "node-2", out);
  assertEquals(written, {
    certFile: `${out}/client.crt`,
    keyFile: `${out}/client.key`,
    caFile: `${out}/ca.crt`,
  });
  assertEquals(await Deno.readTextFile(written.caFile), pki.caCert);
  assertEquals(mode(written.keyFile), 0o600);
  assertEquals(mode(written.certFile), 0o644);
  assertEquals(mode(written.caFile), 0o644);
  const written2 = parseCertificate(await Deno.readTextFile(written.certFile));
  assertEquals(written2.subjectName.getField("CN"), ["node-2"]);
  assertStringIncludes(await Deno.readTextFile(written.keyFile), "BEGIN PRIVATE KEY");
  // Written again: replaced in place, same modes.
  await writeClientCertificate(pki, "node-2", out);
  assertEquals(mode(written.keyFile), 0o600);
  assertEquals([...Deno.readDirSync(out)].length, 3);

  await assertRejects(() => issueClientCertificate(pki, ""), TypeError);
  await assertRejects(() => issueClientCertificate(pki, "x".repeat(65)), TypeError);
  await assertRejects(() => issueClientCertificate(pki, "n", { days: 0 }), RangeError);
  await assertRejects(
    () => issueClientCertificate({ caCert: pki.caCert, caKey: "garbage" }, "n"),
    SyntaxError,
    "the CA key",
  );
});

Deno.test("createPki: a CA and server certificate in memory, as ensurePki makes them", async () => {
  const now = Date.UTC(2032, 2, 3);
  const pki = await createPki({ serverNames: ["localhost", "::1"], clock: () => now });
  assert(await signedBy(pki.serverCert, pki.caCert), "the server certificate is the CA's");
  assertEquals(sans(pki.serverCert), [
    { type: "dns", value: "localhost" },
    { type: "ip", value: "::1" },
  ]);
  assertEquals(parseCertificate(pki.caCert).notAfter.getTime(), now + CA_VALIDITY_DAYS * DAY);
  // The same PKI written into a directory is loaded as it is.
  await using tmp = await tempDir("flowvis-pki-");
  for (const [k, f] of Object.entries(PKI_FILES)) {
    await Deno.writeTextFile(`${tmp.path}/${f}`, pki[k as keyof Pki]);
  }
  assertEquals(await ensurePki({ dir: tmp.path, serverNames: ["::1"], clock: () => now }), pki);
  await assertRejects(() => createPki({ serverNames: [] }), TypeError);
});
