/**
 * flowvis: network flow visibility for Kubernetes. This module is the library surface.
 *
 * @example
 * ```ts
 * import { antreaFlowTemplate, compileTemplate } from "./mod.ts";
 * compileTemplate(antreaFlowTemplate(4)).names.length; // 37
 * ```
 *
 * @module
 */

export * from "./src/ipfix/mod.ts";
