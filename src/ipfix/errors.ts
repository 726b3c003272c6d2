/**
 * Errors raised by the IPFIX codec. They subclass the built-in error classes by meaning:
 * truncated input is a RangeError, unparsable input a SyntaxError.
 *
 * @module
 */

/** The input ended before a structure it announced. */
export class TruncatedError extends RangeError {
  /** Offset in the message where the missing bytes were expected. */
  readonly offset: number;
  constructor(message: string, offset: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "TruncatedError";
    this.offset = offset;
  }
}

/** The input is not valid IPFIX. */
export class MalformedError extends SyntaxError {
  /** Offset in the message of the offending structure. */
  readonly offset: number;
  /** Template or set ID involved, if any. */
  readonly templateId: number | undefined;
  constructor(message: string, offset: number, templateId?: number, options?: ErrorOptions) {
    super(message, options);
    this.name = "MalformedError";
    this.offset = offset;
    this.templateId = templateId;
  }
}
