/**
 * The inventory file: cluster knowledge without a cluster. A YAML file of ordinary Kubernetes
 * objects as `kubectl get -o yaml` prints them — a `kind: List` (or `PodList`, …) with items,
 * or several documents separated by `---`, or both — loaded into a {@link ClusterCache}.
 * Objects of other kinds are ignored with a warning; objects that would mislead flow
 * enrichment (no name, an IP that is not one, labels that are not strings) are errors that name
 * the document, the field and its line.
 *
 * @module
 */

import { createLogger, type Logger } from "../log/mod.ts";
import { canonicalIP, parseCidr } from "../net/mod.ts";
import type { ClusterCache } from "./cache.ts";
import { normalizeProtocol } from "./cache.ts";
import { InventoryError } from "./errors.ts";
import {
  isResourceKind,
  type KubeObject,
  objectKey,
  type ResourceKind,
  RESOURCES,
} from "./kinds.ts";
import { fieldPath, parseYaml, position, type YamlDocument } from "./_yaml.ts";

/** One object of an inventory. */
export interface InventoryObject {
  readonly kind: ResourceKind;
  readonly object: KubeObject;
  /** The YAML document it came from, counted from 1. */
  readonly document: number;
}

/** A parsed inventory. */
export interface Inventory {
  readonly objects: readonly InventoryObject[];
  /** Ignored kinds, duplicates, empty files: worth a log line, not an error. */
  readonly warnings: readonly string[];
}

type Path = (string | number)[];

/** A problem found in one object, before the document and line are known. */
class Problem extends Error {
  constructor(readonly path: Path, message: string) {
    super(message);
  }
}

const LIST_KINDS = new Map<string, ResourceKind>(
  Object.values(RESOURCES).map((r) => [r.listKind, r.kind]),
);

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "object") return "a mapping";
  return JSON.stringify(v);
}

/**
 * Parses an inventory. Throws an {@link InventoryError} (a SyntaxError) for text that is not
 * YAML and for objects that cannot be used; returns warnings for what it ignored.
 *
 * @example
 * ```ts
 * const inv = parseInventory(`
 * apiVersion: v1
 * kind: Pod
 * metadata: { name: api-0, namespace: web }
 * spec: { nodeName: node-1 }
 * status: { podIP: 10.244.1.5 }
 * ---
 * apiVersion: apps/v1
 * kind: Deployment
 * metadata: { name: api, namespace: web }
 * `, "cluster.yaml");
 * inv.objects.length; // 1
 * inv.warnings; // ["cluster.yaml: document 2 (Deployment web/api): kind Deployment is not used; ignored"]
 * ```
 */
export function parseInventory(text: string, source = "inventory"): Inventory {
  const docs = parseYaml(text);
  if (!Array.isArray(docs)) {
    throw new InventoryError(
      `${source}: document ${docs.document} is not valid YAML${position(docs)}: ${docs.message}`,
      { source, document: docs.document, ...(docs.line ? { line: docs.line } : {}) },
    );
  }
  const objects: InventoryObject[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, string>();
  for (const doc of docs) {
    if (doc.value === null || doc.value === undefined) continue;
    const add = (raw: unknown, base: Path, inferred: ResourceKind | undefined) => {
      const where = `${source}: document ${doc.index}${base.length ? `, ${fieldPath(base)}` : ""}`;
      const obj = raw as Record<string, unknown>;
      const kind = obj.kind ?? inferred;
      const label = `${String(kind)} ${describeName(obj)}`;
      if (!isResourceKind(kind)) {
        warnings.push(`${where} (${label}): kind ${String(kind)} is not used; ignored`);
        return;
      }
      try {
        validate(kind, obj);
      } catch (e) {
        if (!(e instanceof Problem)) throw e;
        throw problemError(doc, source, base, e, `${where} (${label})`);
      }
      const object = raw as KubeObject;
      const key = `${kind} ${objectKey(kind, object)}`;
      const before = seen.get(key);
      if (before !== undefined) {
        warnings.push(`${where}: ${key} is also in ${before}; the later one is used`);
        const i = objects.findIndex((o) => `${o.kind} ${objectKey(o.kind, o.object)}` === key);
        objects.splice(i, 1);
      }
      seen.set(key, `document ${doc.index}${base.length ? ` ${fieldPath(base)}` : ""}`);
      objects.push({ kind, object, document: doc.index });
    };
    const v = doc.value;
    if (!isRecord(v)) {
      throw new InventoryError(
        `${source}: document ${doc.index} is ${
          show(v)
        }, not a Kubernetes object (a mapping with kind)`,
        { source, document: doc.index, line: doc.lineOf([]) ?? 1 },
      );
    }
    if (v.kind === undefined) {
      throw problemError(
        doc,
        source,
        [],
        new Problem(["kind"], "is required"),
        `${source}: document ${doc.index}`,
      );
    }
    const listOf = v.kind === "List" ? undefined : LIST_KINDS.get(String(v.kind));
    if (v.kind === "List" || listOf !== undefined) {
      const items = v.items ?? [];
      if (!Array.isArray(items)) {
        throw problemError(
          doc,
          source,
          [],
          new Problem(["items"], `must be a list, got ${show(items)}`),
          `${source}: document ${doc.index} (${v.kind})`,
        );
      }
      items.forEach((item, i) => {
        if (!isRecord(item)) {
          throw problemError(
            doc,
            source,
            [],
            new Problem(["items", i], `must be a Kubernetes object, got ${show(item)}`),
            `${source}: document ${doc.index} (${v.kind})`,
          );
        }
        if (item.kind === undefined && listOf === undefined) {
          throw problemError(
            doc,
            source,
            ["items", i],
            new Problem(["kind"], "is required"),
            `${source}: document ${doc.index}, items[${i}]`,
          );
        }
        add(item, ["items", i], listOf);
      });
    } else {
      add(v, [], undefined);
    }
  }
  if (objects.length === 0) {
    warnings.push(`${source}: no Pods, Services, Nodes, NetworkPolicies or Namespaces`);
  }
  return { objects, warnings };
}

function describeName(obj: Record<string, unknown>): string {
  const m = isRecord(obj.metadata) ? obj.metadata : {};
  const name = typeof m.name === "string" ? m.name : "(no name)";
  return typeof m.namespace === "string" ? `${m.namespace}/${name}` : name;
}

function problemError(
  doc: YamlDocument,
  source: string,
  base: Path,
  p: Problem,
  where: string,
): InventoryError {
  const full = [...base, ...p.path];
  const line = doc.lineOf(full);
  const rel = fieldPath(p.path);
  return new InventoryError(
    `${where}${line ? `, line ${line}` : ""}: ${rel ? `${rel} ` : ""}${p.message}`,
    { source, document: doc.index, field: fieldPath(full), ...(line ? { line } : {}) },
  );
}

// --- validation ---------------------------------------------------------------------------

function record(
  o: Record<string, unknown>,
  key: string,
  path: Path,
  required = false,
): Record<string, unknown> | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new Problem([...path, key], "is required");
    return undefined;
  }
  if (!isRecord(v)) throw new Problem([...path, key], `must be a mapping, got ${show(v)}`);
  return v;
}

function list(o: Record<string, unknown>, key: string, path: Path): unknown[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new Problem([...path, key], `must be a list, got ${show(v)}`);
  return v;
}

function listOfRecords(
  o: Record<string, unknown>,
  key: string,
  path: Path,
): [Record<string, unknown>, Path][] {
  return list(o, key, path).map((x, i) => {
    if (!isRecord(x)) throw new Problem([...path, key, i], `must be a mapping, got ${show(x)}`);
    return [x, [...path, key, i]];
  });
}

function string(
  o: Record<string, unknown>,
  key: string,
  path: Path,
  required = false,
): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new Problem([...path, key], "is required");
    return undefined;
  }
  if (typeof v !== "string") throw new Problem([...path, key], `must be a string, got ${show(v)}`);
  return v;
}

function ip(
  o: Record<string, unknown>,
  key: string,
  path: Path,
  required = false,
  allow: string[] = [],
): void {
  const v = string(o, key, path, required);
  if (v === undefined || allow.includes(v)) return;
  if (canonicalIP(v) === undefined) {
    throw new Problem([...path, key], `${JSON.stringify(v)} is not an IP address`);
  }
}

function cidr(v: unknown, path: Path): void {
  if (typeof v !== "string") throw new Problem(path, `must be a string, got ${show(v)}`);
  if (parseCidr(v, { mappedAsIPv4: true }) === undefined) {
    throw new Problem(path, `${JSON.stringify(v)} is not a CIDR (ADDRESS/PREFIX)`);
  }
}

function port(
  o: Record<string, unknown>,
  key: string,
  path: Path,
  required: boolean,
  named: boolean,
): void {
  const v = o[key];
  if (v === undefined || v === null) {
    if (required) throw new Problem([...path, key], "is required");
    return;
  }
  if (named && typeof v === "string" && v !== "") return;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 1 || v > 65535) {
    throw new Problem(
      [...path, key],
      `must be a port number (1-65535)${named ? " or a port name" : ""}, got ${show(v)}`,
    );
  }
}

function protocol(o: Record<string, unknown>, path: Path): void {
  const v = string(o, "protocol", path);
  if (v !== undefined && (normalizeProtocol(v) === undefined || v !== v.toUpperCase())) {
    throw new Problem([...path, "protocol"], `must be TCP, UDP or SCTP, got ${JSON.stringify(v)}`);
  }
}

function labelMap(o: Record<string, unknown> | undefined, key: string, path: Path): void {
  const m = o === undefined ? undefined : record(o, key, path);
  for (const [k, v] of Object.entries(m ?? {})) {
    if (typeof v !== "string") {
      throw new Problem([...path, key, k], `must be a string, got ${show(v)} (quote it in YAML)`);
    }
  }
}

function selector(o: Record<string, unknown>, key: string, path: Path, required = false): void {
  const s = record(o, key, path, required);
  if (s === undefined) return;
  const p = [...path, key];
  labelMap(s, "matchLabels", p);
  for (const [e, ep] of listOfRecords(s, "matchExpressions", p)) {
    string(e, "key", ep, true);
    const op = string(e, "operator", ep, true)!;
    if (!["In", "NotIn", "Exists", "DoesNotExist"].includes(op)) {
      throw new Problem(
        [...ep, "operator"],
        `must be In, NotIn, Exists or DoesNotExist, got ${JSON.stringify(op)}`,
      );
    }
    list(e, "values", ep).forEach((v, i) => {
      if (typeof v !== "string") {
        throw new Problem([...ep, "values", i], `must be a string, got ${show(v)}`);
      }
    });
  }
}

function validate(kind: ResourceKind, obj: Record<string, unknown>): void {
  const meta = record(obj, "metadata", [], true)!;
  const name = string(meta, "name", ["metadata"], true);
  if (name === "") throw new Problem(["metadata", "name"], "must not be empty");
  string(meta, "namespace", ["metadata"]);
  string(meta, "uid", ["metadata"]);
  string(meta, "creationTimestamp", ["metadata"]);
  labelMap(meta, "labels", ["metadata"]);
  const spec = record(obj, "spec", []);
  const status = record(obj, "status", []);
  switch (kind) {
    case "Pod": {
      if (spec) {
        string(spec, "nodeName", ["spec"]);
        if (spec.hostNetwork !== undefined && typeof spec.hostNetwork !== "boolean") {
          throw new Problem(
            ["spec", "hostNetwork"],
            `must be true or false, got ${show(spec.hostNetwork)}`,
          );
        }
        for (const key of ["containers", "initContainers"]) {
          for (const [c, cp] of listOfRecords(spec, key, ["spec"])) {
            for (const [p, pp] of listOfRecords(c, "ports", cp)) {
              port(p, "containerPort", pp, true, false);
              string(p, "name", pp);
              protocol(p, pp);
            }
          }
        }
      }
      if (status) {
        ip(status, "podIP", ["status"]);
        for (const [p, pp] of listOfRecords(status, "podIPs", ["status"])) ip(p, "ip", pp, true);
        string(status, "phase", ["status"]);
      }
      return;
    }
    case "Service": {
      if (!spec) return;
      ip(spec, "clusterIP", ["spec"], false, ["None", ""]);
      list(spec, "clusterIPs", ["spec"]).forEach((v, i) => {
        const at = ["spec", "clusterIPs", i];
        if (typeof v !== "string") throw new Problem(at, `must be a string, got ${show(v)}`);
        if (v !== "None" && canonicalIP(v) === undefined) {
          throw new Problem(at, `${JSON.stringify(v)} is not an IP address`);
        }
      });
      for (const [p, pp] of listOfRecords(spec, "ports", ["spec"])) {
        port(p, "port", pp, true, false);
        port(p, "targetPort", pp, false, true);
        string(p, "name", pp);
        protocol(p, pp);
      }
      return;
    }
    case "Node": {
      if (spec) {
        if (spec.podCIDR !== undefined && spec.podCIDR !== null) {
          cidr(spec.podCIDR, ["spec", "podCIDR"]);
        }
        list(spec, "podCIDRs", ["spec"]).forEach((c, i) => cidr(c, ["spec", "podCIDRs", i]));
      }
      if (status) {
        for (const [a, ap] of listOfRecords(status, "addresses", ["status"])) {
          const type = string(a, "type", ap, true);
          if (type === "InternalIP" || type === "ExternalIP") ip(a, "address", ap, true);
          else string(a, "address", ap, true);
        }
      }
      return;
    }
    case "NetworkPolicy": {
      if (!spec) throw new Problem(["spec"], "is required");
      selector(spec, "podSelector", ["spec"], true);
      list(spec, "policyTypes", ["spec"]).forEach((t, i) => {
        if (t !== "Ingress" && t !== "Egress") {
          throw new Problem(
            ["spec", "policyTypes", i],
            `must be Ingress or Egress, got ${show(t)}`,
          );
        }
      });
      for (const [dir, peersKey] of [["ingress", "from"], ["egress", "to"]] as const) {
        for (const [rule, rp] of listOfRecords(spec, dir, ["spec"])) {
          for (const [peer, pp] of listOfRecords(rule, peersKey, rp)) {
            selector(peer, "podSelector", pp);
            selector(peer, "namespaceSelector", pp);
            const block = record(peer, "ipBlock", pp);
            if (block) {
              const bp = [...pp, "ipBlock"];
              if (block.cidr === undefined) throw new Problem([...bp, "cidr"], "is required");
              cidr(block.cidr, [...bp, "cidr"]);
              list(block, "except", bp).forEach((c, i) => cidr(c, [...bp, "except", i]));
            }
          }
          for (const [p, pp] of listOfRecords(rule, "ports", rp)) {
            port(p, "port", pp, false, true);
            port(p, "endPort", pp, false, false);
            protocol(p, pp);
          }
        }
      }
      return;
    }
    case "Namespace":
      return;
  }
}

// --- loading ------------------------------------------------------------------------------

/**
 * Puts an inventory into `cache`: every kind is replaced (kinds absent from the inventory end
 * up empty) and marked synced.
 */
export function applyInventory(cache: ClusterCache, inventory: Inventory): void {
  const byKind = new Map<ResourceKind, KubeObject[]>(
    Object.keys(RESOURCES).map((k) => [k as ResourceKind, []]),
  );
  for (const o of inventory.objects) byKind.get(o.kind)!.push(o.object);
  for (const [kind, objects] of byKind) {
    cache.replace(kind, objects);
    cache.markSynced(kind);
  }
}

/** Options of {@link loadInventory} and {@link watchInventory}. */
export interface InventoryOptions {
  logger?: Logger;
}

/**
 * Reads the inventory at `path` into `cache` (see {@link parseInventory} and
 * {@link applyInventory}), logging its warnings; throws an {@link InventoryError} when it
 * cannot be read or used, leaving the cache as it was.
 *
 * @example
 * ```ts
 * import { ClusterCache } from "./cache.ts";
 * const cache = new ClusterCache();
 * await loadInventory("testdata/k8s/cluster.yaml", cache);
 * cache.synced; // true
 * ```
 */
export async function loadInventory(
  path: string,
  cache: ClusterCache,
  options: InventoryOptions = {},
): Promise<Inventory> {
  const log = options.logger ?? createLogger("k8s");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InventoryError(
      `Cannot read inventory ${path}: ${e instanceof Error ? e.message : e}`,
      { source: path, document: 0 },
      { cause: e },
    );
  }
  const inventory = parseInventory(text, path);
  for (const w of inventory.warnings) log.warn(w);
  applyInventory(cache, inventory);
  log.info("Loaded inventory", { path, objects: inventory.objects.length });
  return inventory;
}

/** A running {@link watchInventory}. */
export interface InventoryWatch extends AsyncDisposable {
  /** Reloads done so far (successful ones). */
  readonly reloads: number;
  /** Stops watching; safe to call twice. */
  close(): Promise<void>;
}

/**
 * Loads the inventory at `path` into `cache`, then reloads it whenever the file changes
 * (debounced). A bad edit is logged and the cache keeps the last good content.
 *
 * @example
 * ```ts
 * import { ClusterCache } from "./cache.ts";
 * const cache = new ClusterCache();
 * await using _w = await watchInventory("inventory.yaml", cache);
 * ```
 */
export async function watchInventory(
  path: string,
  cache: ClusterCache,
  options: InventoryOptions & { debounceMs?: number } = {},
): Promise<InventoryWatch> {
  const log = options.logger ?? createLogger("k8s");
  await loadInventory(path, cache, options);
  const debounceMs = options.debounceMs ?? 200;
  // Editors replace files by rename: watch the folder and filter on the name.
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
  const base = path.slice(slash + 1);
  const watcher = Deno.watchFs(dir, { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  let reloads = 0;
  let closed = false;
  let loading: Promise<void> = Promise.resolve();
  const reload = () => {
    timer = undefined;
    loading = loading.then(async () => {
      if (closed) return;
      try {
        await loadInventory(path, cache, options);
        reloads++;
      } catch (e) {
        log.error("Inventory reload failed; keeping the previous content", {
          path,
          error: e instanceof Error ? e.message : String(e),
        });
      }
    });
  };
  const loop = (async () => {
    try {
      for await (const ev of watcher) {
        if (!ev.paths.some((p) => p === path || p.endsWith(`/${base}`))) continue;
        if (ev.kind === "access") continue;
        clearTimeout(timer);
        timer = setTimeout(reload, debounceMs);
      }
    } catch (e) {
      if (!closed) log.error("Inventory watch failed", { path, error: String(e) });
    }
  })();
  const close = async () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    watcher.close();
    await loop;
    await loading;
  };
  return {
    get reloads() {
      return reloads;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
