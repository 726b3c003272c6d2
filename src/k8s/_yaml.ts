/**
 * YAML parsing shared by the kubeconfig and inventory readers: every document with its plain
 * value, the first parse error with its line, and the line of any field path.
 *
 * @module
 */

import { type Document, LineCounter, parseAllDocuments } from "yaml";

// deno-lint-ignore no-control-regex -- finding control characters is the point
const NOT_PRINTABLE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F\uFFFD\uFFFE\uFFFF]/;

/** One parsed YAML document. */
export interface YamlDocument {
  /** Counted from 1. */
  readonly index: number;
  /** The document as plain data (maps as objects). */
  readonly value: unknown;
  /** The line (from 1) where the node at `path` starts, or of its nearest ancestor that exists. */
  lineOf(path: readonly (string | number)[]): number | undefined;
}

/** The first syntax error of a YAML text. */
export interface YamlProblem {
  readonly document: number;
  readonly line: number | undefined;
  readonly column: number | undefined;
  /** The parser's message, first line only. */
  readonly message: string;
}

/** Parses every document of `text`; returns the first syntax error instead when there is one. */
export function parseYaml(text: string): YamlDocument[] | YamlProblem {
  // YAML allows only printable characters (YAML 1.2 §5.1); binary files get here decoded with
  // U+FFFD for their invalid UTF-8.
  const bad = NOT_PRINTABLE.exec(text);
  if (bad !== null) {
    const before = text.slice(0, bad.index);
    const line = before.split("\n").length;
    const ch = bad[0].codePointAt(0)!;
    return {
      document: before.split(/^---/m).length,
      line,
      column: bad.index - before.lastIndexOf("\n"),
      message: ch === 0xfffd
        ? "invalid UTF-8 (a binary file?)"
        : `control character U+${ch.toString(16).toUpperCase().padStart(4, "0")} (a binary file?)`,
    };
  }
  const lc = new LineCounter();
  const parsed = parseAllDocuments(text, {
    lineCounter: lc,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const docs: Document.Parsed[] = Array.isArray(parsed) ? parsed : [];
  const out: YamlDocument[] = [];
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i]!;
    const err = doc.errors[0];
    if (err !== undefined) {
      const pos = lc.linePos(err.pos[0]);
      return {
        document: i + 1,
        line: pos.line,
        column: pos.col,
        message: err.message.split("\n")[0]!.replace(/ at line \d+, column \d+:?$/, ""),
      };
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (e) {
      return {
        document: i + 1,
        line: undefined,
        column: undefined,
        message: e instanceof Error ? e.message : String(e),
      };
    }
    out.push({
      index: i + 1,
      value,
      lineOf(path) {
        for (let n = path.length; n >= 0; n--) {
          const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
          const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
          if (range) return lc.linePos(range[0]).line;
        }
        return undefined;
      },
    });
  }
  return out;
}

/** ` (line L, column C)`, or "" when the position is unknown. */
export function position(p: YamlProblem): string {
  return p.line === undefined ? "" : ` (line ${p.line}, column ${p.column})`;
}

/** Renders a field path as code would write it: `items[2].status.podIPs[0].ip`. */
export function fieldPath(path: readonly (string | number)[]): string {
  let s = "";
  for (const p of path) {
    if (typeof p === "number") s += `[${p}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(p)) s += s === "" ? p : `.${p}`;
    else s += `[${JSON.stringify(p)}]`;
  }
  return s;
}
