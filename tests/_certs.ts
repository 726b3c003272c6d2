/**
 * Test certificates, generated once per test run with crypto.subtle (ECDSA P-256): a CA, a server
 * certificate for `localhost` and 127.0.0.1, client certificates signed by that CA, and a client
 * certificate signed by another CA. Everything is PEM.
 *
 * @module
 */

// tsyringe, a dependency of @peculiar/x509, needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

/** A certificate and its private key, PEM. */
export interface CertifiedKey {
  cert: string;
  key: string;
}

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

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

interface Authority {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

function keyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(ALG, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function validity(): { notBefore: Date; notAfter: Date } {
  const now = Date.now();
  return {
    notBefore: new Date(now - 3600_000),
    notAfter: new Date(now + 7 * 24 * 3600_000),
  };
}

function serial(): string {
  const b = crypto.getRandomValues(new Uint8Array(8));
  b[0] = b[0]! & 0x7f | 0x01;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

async function authority(name: string): Promise<Authority> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${name}`,
    ...validity(),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, keys };
}

async function leaf(
  ca: Authority,
  name: string,
  usage: x509.ExtendedKeyUsage,
  san: { type: "dns" | "ip"; value: string }[],
): Promise<CertifiedKey> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${name}`,
    issuer: ca.cert.subject,
    ...validity(),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([usage]),
      new x509.SubjectAlternativeNameExtension(san),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

async function generate(): Promise<TestCerts> {
  const ca = await authority("flowvis test CA");
  const other = await authority("flowvis rogue CA");
  const server = await leaf(ca, "localhost", x509.ExtendedKeyUsage.serverAuth, [
    { type: "dns", value: "localhost" },
    { type: "ip", value: "127.0.0.1" },
  ]);
  const client = await leaf(ca, "exporter-1", x509.ExtendedKeyUsage.clientAuth, [
    { type: "dns", value: "exporter-1.flowvis.test" },
  ]);
  const client2 = await leaf(ca, "exporter-2", x509.ExtendedKeyUsage.clientAuth, [
    { type: "dns", value: "exporter-2.flowvis.test" },
  ]);
  const rogueClient = await leaf(other, "rogue", x509.ExtendedKeyUsage.clientAuth, [
    { type: "dns", value: "rogue.flowvis.test" },
  ]);
  return {
    ca: ca.cert.toString("pem"),
    server,
    client,
    client2,
    otherCa: other.cert.toString("pem"),
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
