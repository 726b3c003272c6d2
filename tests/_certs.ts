/**
 * Test certificates, generated once per test run by the aggregator's PKI (src/aggregator/pki.ts,
 * ECDSA P-256): a CA, a server certificate for `localhost` and 127.0.0.1, client certificates
 * signed by that CA, and a client certificate signed by another CA. Everything is PEM.
 *
 * @module
 */

import { type CertifiedKey, createPki, issueClientCertificate } from "../src/aggregator/pki.ts";

export type { CertifiedKey };

/** Every certificate the tests use. */
export interface TestCerts {
  /** The CA that signs the server and good client certificates. */
  ca: string;
  /** Server certificate (SAN: DNS localhost, IP 127.0.0.1), signed by `ca`. */
  server: CertifiedKey;
  /** Client certificates signed by `ca`. */
  client: CertifiedKey;
  client2: CertifiedKey;
  /** Another CA, unknown to the collector. */
  otherCa: string;
  /** A client certificate signed by `otherCa`. */
  rogueClient: CertifiedKey;
}

async function generate(): Promise<TestCerts> {
  const serverNames = ["localhost", "127.0.0.1"];
  const [pki, other] = await Promise.all([createPki({ serverNames }), createPki({ serverNames })]);
  const [client, client2, rogueClient] = await Promise.all([
    issueClientCertificate(pki, "exporter-1"),
    issueClientCertificate(pki, "exporter-2"),
    issueClientCertificate(other, "rogue"),
  ]);
  return {
    ca: pki.caCert,
    server: { cert: pki.serverCert, key: pki.serverKey },
    client,
    client2,
    otherCa: other.caCert,
    rogueClient,
  };
}

let cached: Promise<TestCerts> | undefined;

/**
 * The test certificates, generated on first use and shared by every test of the run.
 *
 * @example
 * ```ts
 * const { ca, server } = await testCerts();
 * // new CollectingProcess({ address: "127.0.0.1:0:tls", tls: { ...server, ca }, ... })
 * ```
 */
export function testCerts(): Promise<TestCerts> {
  cached ??= generate();
  return cached;
}

/**
 * Writes the test certificates as PEM files into a new temporary directory (for the CLI tools);
 * the caller removes it.
 */
export async function writeTestCerts(): Promise<{ dir: string; path: (name: string) => string }> {
  const c = await testCerts();
  const dir = await Deno.makeTempDir({ prefix: "flowvis-certs-" });
  const path = (name: string) => `${dir}/${name}`;
  const files: Record<string, string> = {
    "ca.pem": c.ca,
    "other-ca.pem": c.otherCa,
    "server.pem": c.server.cert,
    "server-key.pem": c.server.key,
    "client.pem": c.client.cert,
    "client-key.pem": c.client.key,
    "rogue.pem": c.rogueClient.cert,
    "rogue-key.pem": c.rogueClient.key,
  };
  for (const [name, text] of Object.entries(files)) await Deno.writeTextFile(path(name), text);
  return { dir, path };
}
