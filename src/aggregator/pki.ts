/**
 * The aggregator's certificate authority: a CA and a server certificate kept in a directory
 * (created on first start, loaded afterwards), and client certificates for the agents, so that
 * the IPFIX collecting process runs mutual TLS without any outside tool.
 *
 * Files in the directory: `ca.crt` (0644: agents read it), `ca.key`, `server.crt` and
 * `server.key` (keys 0600). New keys are ECDSA P-256; a CA that the user put there may also
 * have a P-384 or RSA key (PKCS #8).
 *
 * @module
 */

// tsyringe, a dependency of @peculiar/x509, needs the Reflect metadata API.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { type Clock, systemClock } from "../ipfix/mod.ts";
import { type Logger, silentLogger } from "../log/mod.ts";
import { parseIP } from "../net/mod.ts";

x509.cryptoProvider.set(crypto);

/** The CA and the server certificate with their keys, PEM (keys in PKCS #8). */
export interface Pki {
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
}

/** A certificate and its private key, PEM. */
export interface CertifiedKey {
  cert: string;
  key: string;
}

/** Options of {@link ensurePki}. */
export interface EnsurePkiOptions {
  /** Directory of ca.crt, ca.key, server.crt and server.key; created when missing. */
  dir: string;
  /** DNS names and IP addresses the server certificate must cover (at least one). */
  serverNames: string[];
  clock?: Clock;
  logger?: Logger;
}

/** Options of {@link issueClientCertificate}. */
export interface ClientCertificateOptions {
  /** Validity in days (default 365). */
  days?: number;
  clock?: Clock;
}

/** File names inside the PKI directory. */
export const PKI_FILES = {
  caCert: "ca.crt",
  caKey: "ca.key",
  serverCert: "server.crt",
  serverKey: "server.key",
} as const;

const DAY_MS = 24 * 3600_000;
/** Validity of a new CA (about 10 years). */
export const CA_VALIDITY_DAYS = 3650;
/** Validity of a new server certificate. */
export const SERVER_VALIDITY_DAYS = 365;
/** A server certificate is renewed when it has less left than this. */
const RENEW_BEFORE_MS = 30 * DAY_MS;
/** notBefore is set this far in the past, for peers whose clocks lag a little. */
const BACKDATE_MS = 3600_000;

const EC_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** Key algorithms a CA key may have, tried in turn when importing PKCS #8. */
const CA_KEY_ALGORITHMS: {
  importAs: EcKeyImportParams | RsaHashedImportParams;
  sign: Algorithm;
}[] = [
  {
    importAs: { name: "ECDSA", namedCurve: "P-256" },
    sign: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
  },
  {
    importAs: { name: "ECDSA", namedCurve: "P-384" },
    sign: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
  },
  {
    importAs: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
    sign: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as RsaHashedImportParams,
  },
];

interface Authority {
  cert: x509.X509Certificate;
  key: CryptoKey;
  /** Signature algorithm for certificates the CA signs. */
  signing: Algorithm;
}

/** A 128-bit positive serial number, hex. RFC 5280 §4.1.2.2 */
function serialNumber(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0]! & 0x7f) | 0x01;
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function keyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_P256, true, ["sign", "verify"]) as Promise<CryptoKeyPair>;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/** Whether `s` is a DNS name (labels of letters, digits, inner hyphens; "*." allowed first). */
function isDnsName(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  const labels = s.replace(/^\*\./, "").replace(/\.$/, "").split(".");
  return labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** A server name as a SAN entry: an IP address (canonical text) or a lower-case DNS name. */
function sanOf(name: string): x509.JsonGeneralName {
  if (typeof name !== "string") throw new TypeError(`Invalid server name ${String(name)}`);
  const ip = parseIP(name.replace(/^\[(.*)\]$/, "$1"));
  if (ip) return { type: "ip", value: ip.text };
  if (!isDnsName(name)) {
    throw new TypeError(`Invalid server name "${name}": neither a DNS name nor an IP address`);
  }
  return { type: "dns", value: name.toLowerCase().replace(/\.$/, "") };
}

/** The SAN entries of a server certificate; a TypeError for no or bad names. */
function serverSans(serverNames: string[]): x509.JsonGeneralName[] {
  if (!Array.isArray(serverNames) || serverNames.length === 0) {
    throw new TypeError("At least one server name is needed for the server certificate");
  }
  return serverNames.map(sanOf);
}

/** Subject of a certificate: one common name (at most 64 characters, RFC 5280 ub-common-name). */
function subject(commonName: string): x509.JsonName {
  return [{ CN: [commonName.slice(0, 64)] }];
}

function validity(now: number, days: number): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * DAY_MS) };
}

// ---------------------------------------------------------------------------------------------
// Reading files

/** A file's text, or undefined when it does not exist. */
async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw e;
  }
}

/** The one PEM block of `type` in `text`; a SyntaxError naming `file` otherwise. */
function pemBlock(text: string, types: readonly string[], file: string): x509.PemStruct {
  let blocks: x509.PemStruct[];
  try {
    blocks = x509.PemConverter.decodeWithHeaders(text);
  } catch (e) {
    throw new SyntaxError(`Cannot read ${file}: not valid PEM`, { cause: e });
  }
  const block = blocks.find((b) => types.includes(b.type));
  if (!block) {
    const begun = /-----BEGIN [A-Z0-9 ]+-----/.exec(text);
    const found = blocks.map((b) => b.type).join(", ") ||
      (begun ? `"${begun[0]}" without its END line (truncated?)` : "no PEM block");
    throw new SyntaxError(`Cannot read ${file}: expected ${types.join(" or ")}, found ${found}`);
  }
  return block;
}

/**
 * Parses a PEM certificate; a SyntaxError naming `file` when it is garbage or truncated.
 *
 * @example
 * ```ts
 * parseCertificate(pki.caCert, "ca.crt").notAfter; // Date
 * parseCertificate("garbage", "ca.crt"); // throws SyntaxError "Cannot read ca.crt: …"
 * ```
 */
export function parseCertificate(text: string, file = "the certificate"): x509.X509Certificate {
  const block = pemBlock(text, ["CERTIFICATE"], file);
  try {
    const cert = new x509.X509Certificate(block.rawData);
    // Read the fields a truncated body would lack.
    if (cert.subject === undefined || !(cert.notAfter instanceof Date) || !cert.publicKey) {
      throw new RangeError("Incomplete certificate");
    }
    return cert;
  } catch (e) {
    throw new SyntaxError(`Cannot read ${file}: not a valid X.509 certificate`, { cause: e });
  }
}

/** Imports a PKCS #8 PEM key (EC P-256, P-384 or RSA); a SyntaxError naming `file` otherwise. */
async function importKey(
  text: string,
  file: string,
): Promise<{ key: CryptoKey; signing: Algorithm }> {
  const sec1 = /-----BEGIN (EC|RSA) PRIVATE KEY-----/.exec(text);
  if (sec1) {
    throw new SyntaxError(
      `Cannot read ${file}: a ${
        sec1[1]
      } PRIVATE KEY (traditional format); convert it to PKCS #8 with "openssl pkcs8 -topk8 -nocrypt -in ${file}"`,
    );
  }
  const block = pemBlock(text, ["PRIVATE KEY"], file);
  for (const a of CA_KEY_ALGORITHMS) {
    try {
      const key = await crypto.subtle.importKey("pkcs8", block.rawData, a.importAs, true, ["sign"]);
      return { key, signing: a.sign };
    } catch {
      // Another algorithm.
    }
  }
  throw new SyntaxError(
    `Cannot read ${file}: not a PKCS #8 private key of ECDSA P-256, P-384 or RSA`,
  );
}

/** Whether `key` is the private key of `cert`: a signature it makes verifies with the cert. */
async function keyMatches(
  cert: x509.X509Certificate,
  key: CryptoKey,
  alg: Algorithm,
): Promise<boolean> {
  const data = crypto.getRandomValues(new Uint8Array(32));
  try {
    const signature = await crypto.subtle.sign(alg, key, data);
    const pub = await cert.publicKey.export(
      { ...key.algorithm, ...alg } as Algorithm,
      ["verify"],
      crypto,
    );
    return await crypto.subtle.verify(alg, pub, signature, data);
  } catch {
    return false;
  }
}

function isCa(cert: x509.X509Certificate): boolean {
  return cert.getExtension(x509.BasicConstraintsExtension)?.ca === true;
}

/** The names a certificate's SAN covers: canonical IPs and lower-case DNS names. */
function sansOf(cert: x509.X509Certificate): Set<string> {
  const out = new Set<string>();
  const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
  for (const n of san?.names.toJSON() ?? []) {
    if (n.type === "ip") out.add(parseIP(n.value)?.text ?? n.value);
    if (n.type === "dns") out.add(n.value.toLowerCase());
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing files

/** Writes `text` to `path` with `mode` through a temporary file and a rename. */
async function writeFileAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, text, { mode, createNew: true });
    await Deno.chmod(tmp, mode);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Making certificates

async function createAuthority(now: number): Promise<{ authority: Authority; keyPem: string }> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: subject("flowvis CA"),
    ...validity(now, CA_VALIDITY_DAYS),
    signingAlgorithm: EC_P256,
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
  return {
    authority: {
      cert,
      key: keys.privateKey,
      signing: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
    },
    keyPem: await keyPem(keys.privateKey),
  };
}

async function createLeaf(
  ca: Authority,
  commonName: string,
  usage: x509.ExtendedKeyUsage,
  names: x509.JsonGeneralName[],
  now: number,
  days: number,
): Promise<CertifiedKey> {
  const keys = await keyPair();
  const notAfter = Math.min(now + days * DAY_MS, ca.cert.notAfter.getTime());
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([usage]),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey, false, crypto),
  ];
  if (names.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: subject(commonName),
    issuer: ca.cert.subject,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(notAfter),
    signingAlgorithm: ca.signing,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions,
  });
  return { cert: cert.toString("pem"), key: await keyPem(keys.privateKey) };
}

async function loadAuthority(caCert: string, caKey: string, certFile: string, keyFile: string) {
  const cert = parseCertificate(caCert, certFile);
  if (!isCa(cert)) {
    throw new SyntaxError(
      `Cannot use ${certFile}: not a CA certificate (basic constraints CA false)`,
    );
  }
  const { key, signing } = await importKey(caKey, keyFile);
  if (!(await keyMatches(cert, key, signing))) {
    throw new SyntaxError(`Cannot use ${keyFile}: it is not the private key of ${certFile}`);
  }
  return { cert, key, signing };
}

/** Why a server certificate cannot be kept, or undefined when it can. */
async function serverProblem(
  ca: Authority,
  cert: x509.X509Certificate,
  key: CryptoKey,
  signing: Algorithm,
  names: x509.JsonGeneralName[],
  now: number,
): Promise<string | undefined> {
  if (!(await cert.verify({ publicKey: ca.cert.publicKey, signatureOnly: true }, crypto))) {
    return "not signed by the CA";
  }
  if (cert.notBefore.getTime() > now) return "not valid yet";
  if (cert.notAfter.getTime() - now < RENEW_BEFORE_MS) return "expired or about to expire";
  const covered = sansOf(cert);
  const missing = names.filter((n) => !covered.has(n.value)).map((n) => n.value);
  if (missing.length > 0) return `does not cover ${missing.join(", ")}`;
  if (!(await keyMatches(cert, key, signing))) return "its key does not match";
  return undefined;
}

/**
 * Loads the CA and the server certificate from `dir`, or creates what is missing or unusable:
 * a CA valid about 10 years when there is none (or it expired), a server certificate valid a
 * year for `serverNames` (DNS names and IP addresses) when there is none, or it is not signed by
 * the CA, expires within 30 days, or does not cover every name. Keys are written with mode 0600,
 * ca.crt with 0644 (agents read it). Files that are garbage or truncated, a key that does not
 * belong to its certificate, or half a CA (one of ca.crt, ca.key) throw an error naming the file:
 * a user's CA is never overwritten unless it expired.
 *
 * @example
 * ```ts
 * const pki = await ensurePki({ dir: "flowvis-data/pki", serverNames: ["flow-aggregator.flow-aggregator.svc", "127.0.0.1"] });
 * // new CollectingProcess({ address: "0.0.0.0:4739:tls", tls: { cert: pki.serverCert, key: pki.serverKey, ca: pki.caCert }, ... })
 * ```
 */
export async function ensurePki(options: EnsurePkiOptions): Promise<Pki> {
  const { dir } = options;
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? silentLogger;
  if (typeof dir !== "string" || dir === "") throw new TypeError("The PKI directory is empty");
  const names = serverSans(options.serverNames);
  const path = (f: string) => `${dir}/${f}`;
  await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
  const now = clock();

  // The CA.
  const caCertFile = path(PKI_FILES.caCert);
  const caKeyFile = path(PKI_FILES.caKey);
  let caCert = await readOptional(caCertFile);
  let caKey = await readOptional(caKeyFile);
  if ((caCert === undefined) !== (caKey === undefined)) {
    const [has, lacks] = caCert === undefined ? [caKeyFile, caCertFile] : [caCertFile, caKeyFile];
    throw new Error(
      `Cannot use the CA in ${dir}: ${has} exists but ${lacks} does not (restore it, or remove both to create a new CA)`,
    );
  }
  let ca: Authority | undefined;
  if (caCert !== undefined && caKey !== undefined) {
    ca = await loadAuthority(caCert, caKey, caCertFile, caKeyFile);
    if (ca.cert.notAfter.getTime() <= now) {
      logger.warn("The CA expired: creating a new one; agents need new client certificates", {
        file: caCertFile,
        notAfter: ca.cert.notAfter.toISOString(),
      });
      ca = undefined;
    } else {
      logger.info("Loaded the CA", { file: caCertFile, notAfter: ca.cert.notAfter.toISOString() });
    }
  }
  let createdCa = false;
  if (ca === undefined) {
    const made = await createAuthority(now);
    ca = made.authority;
    caCert = ca.cert.toString("pem");
    caKey = made.keyPem;
    await writeFileAtomic(caKeyFile, caKey, 0o600);
    await writeFileAtomic(caCertFile, caCert, 0o644);
    createdCa = true;
    logger.info("Created a CA", { file: caCertFile, notAfter: ca.cert.notAfter.toISOString() });
  }

  // The server certificate.
  const serverCertFile = path(PKI_FILES.serverCert);
  const serverKeyFile = path(PKI_FILES.serverKey);
  let serverCert = await readOptional(serverCertFile);
  let serverKey = await readOptional(serverKeyFile);
  let reason: string | undefined = createdCa ? "new CA" : undefined;
  if (serverCert === undefined || serverKey === undefined) {
    reason ??= "missing";
  } else if (reason === undefined) {
    const cert = parseCertificate(serverCert, serverCertFile);
    const { key, signing } = await importKey(serverKey, serverKeyFile);
    reason = await serverProblem(ca, cert, key, signing, names, now);
  }
  if (reason !== undefined || serverCert === undefined || serverKey === undefined) {
    const made = await createLeaf(
      ca,
      options.serverNames[0]!,
      x509.ExtendedKeyUsage.serverAuth,
      names,
      now,
      SERVER_VALIDITY_DAYS,
    );
    serverCert = made.cert;
    serverKey = made.key;
    await writeFileAtomic(serverKeyFile, serverKey, 0o600);
    await writeFileAtomic(serverCertFile, serverCert, 0o644);
    logger.info("Created the server certificate", {
      file: serverCertFile,
      reason,
      names: names.map((n) => n.value),
    });
  } else {
    logger.info("Loaded the server certificate", { file: serverCertFile });
  }
  return { caCert: caCert!, caKey: caKey!, serverCert, serverKey };
}

/** Options of {@link createPki}. */
export interface CreatePkiOptions {
  /** DNS names and IP addresses the server certificate covers (at least one). */
  serverNames: string[];
  clock?: Clock;
}

/**
 * Creates a new CA and a server certificate for `serverNames` in memory, as {@link ensurePki}
 * does for an empty directory, without writing anything (tests, one-off tools).
 *
 * @example
 * ```ts
 * const pki = await createPki({ serverNames: ["localhost", "127.0.0.1"] });
 * const client = await issueClientCertificate(pki, "exporter-1");
 * ```
 */
export async function createPki(options: CreatePkiOptions): Promise<Pki> {
  const names = serverSans(options.serverNames);
  const now = (options.clock ?? systemClock)();
  const { authority, keyPem } = await createAuthority(now);
  const server = await createLeaf(
    authority,
    options.serverNames[0]!,
    x509.ExtendedKeyUsage.serverAuth,
    names,
    now,
    SERVER_VALIDITY_DAYS,
  );
  return {
    caCert: authority.cert.toString("pem"),
    caKey: keyPem,
    serverCert: server.cert,
    serverKey: server.key,
  };
}

/**
 * Issues a client certificate (extended key usage clientAuth) signed by the PKI's CA, for an
 * agent to present to the collecting process. Valid `days` days (default 365), never past
 * the CA.
 *
 * @example
 * ```ts
 * const { cert, key } = await issueClientCertificate(pki, "node-1");
 * // new ExportingProcess({ address: "aggregator:4739:tls", tls: { caCerts: [pki.caCert], cert, key }, ... })
 * ```
 */
export async function issueClientCertificate(
  pki: Pick<Pki, "caCert" | "caKey">,
  commonName: string,
  options: ClientCertificateOptions = {},
): Promise<CertifiedKey> {
  if (typeof commonName !== "string" || commonName.trim() === "" || commonName.length > 64) {
    throw new TypeError(`Invalid common name "${commonName}": 1 to 64 characters`);
  }
  const days = options.days ?? 365;
  if (!Number.isFinite(days) || days <= 0) {
    throw new RangeError(`Invalid validity of ${days} days: must be more than 0`);
  }
  const ca = await loadAuthority(pki.caCert, pki.caKey, "the CA certificate", "the CA key");
  const now = (options.clock ?? systemClock)();
  return createLeaf(ca, commonName, x509.ExtendedKeyUsage.clientAuth, [], now, days);
}

/** Paths written by {@link writeClientCertificate}. */
export interface ClientCertificateFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/**
 * Issues a client certificate for an agent and writes `client.crt`, `client.key` (0600) and
 * the CA's `ca.crt` into `outDir` (created when missing): what the agent's `tls.certFile`,
 * `tls.keyFile` and `tls.caFile` point at.
 *
 * @example
 * ```ts
 * const files = await writeClientCertificate(pki, "node-1", "/etc/flowvis/agent-tls");
 * files.certFile; // "/etc/flowvis/agent-tls/client.crt"
 * ```
 */
export async function writeClientCertificate(
  pki: Pick<Pki, "caCert" | "caKey">,
  commonName: string,
  outDir: string,
  options: ClientCertificateOptions = {},
): Promise<ClientCertificateFiles> {
  const { cert, key } = await issueClientCertificate(pki, commonName, options);
  await Deno.mkdir(outDir, { recursive: true, mode: 0o755 });
  const files = {
    certFile: `${outDir}/client.crt`,
    keyFile: `${outDir}/client.key`,
    caFile: `${outDir}/ca.crt`,
  };
  await writeFileAtomic(files.keyFile, key, 0o600);
  await writeFileAtomic(files.certFile, cert, 0o644);
  await writeFileAtomic(files.caFile, pki.caCert, 0o644);
  return files;
}
