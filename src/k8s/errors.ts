/**
 * Errors of the Kubernetes area: bad kubeconfig and inventory files (unparsable input, so
 * SyntaxErrors that name the file, the document and the field) and API server refusals.
 *
 * @module
 */

/** A kubeconfig file that cannot be used. */
export class KubeconfigError extends SyntaxError {
  /** The file (or "kubeconfig" for text without a path). */
  readonly source: string;
  /** The offending field, as a path (`users[0].user.client-key-data`), when there is one. */
  readonly field: string | undefined;
  constructor(message: string, source: string, field?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KubeconfigError";
    this.source = source;
    this.field = field;
  }
}

/** An inventory file that cannot be loaded. */
export class InventoryError extends SyntaxError {
  /** The file (or "inventory" for text without a path). */
  readonly source: string;
  /** The YAML document, counted from 1. */
  readonly document: number;
  /** The offending field, as a path from the document (`items[2].status.podIP`), if any. */
  readonly field: string | undefined;
  /** The line (from 1) of the field or of its object, when known. */
  readonly line: number | undefined;
  constructor(
    message: string,
    details: { source: string; document: number; field?: string; line?: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "InventoryError";
    this.source = details.source;
    this.document = details.document;
    this.field = details.field;
    this.line = details.line;
  }
}

/**
 * The API server answered with an error status (an HTTP status, or an ERROR event of a watch
 * with a Status object). Status 410 Gone means the resourceVersion is too old: relist.
 */
export class ApiError extends Error {
  /** HTTP status or Status.code. */
  readonly status: number;
  /** Status.reason (`Expired`, `Gone`, `Forbidden`, …), when given. */
  readonly reason: string | undefined;
  constructor(message: string, status: number, reason?: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ApiError";
    this.status = status;
    this.reason = reason;
  }

  /** Whether this says the resourceVersion is gone (410): the watcher relists. */
  get gone(): boolean {
    return this.status === 410;
  }
}
