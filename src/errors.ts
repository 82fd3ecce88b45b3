// SPDX-License-Identifier: Apache-2.0
/**
 * Strata's error types.
 *
 * Every error has a literal `code` (`STRATA_E_*`), a `retryable` flag and an optional `cause`.
 * Messages name what was wrong, quote the offending bytes (capped by `quote`), and name the limit
 * or setting that applies. Errors do not cross worker boundaries intact: workers send
 * `toWire(err)` and the main thread rebuilds the error with `fromWire`.
 *
 * Codes:
 * - STRATA_E_PARSE        the exposition is malformed; `line` is the 1-based line number.
 * - STRATA_E_PARSE_LIMIT  the exposition exceeds a configured byte or line limit.
 * - STRATA_E_LABEL_LIMIT  a series breaks a label limit of the target (`scrape.labelLimit`,
 *                         `labelNameLengthLimit`, `labelValueLengthLimit`); `setting` names it.
 * - STRATA_E_CONFIG       a setting (filter, encoder, option) is invalid; `field` names it.
 * - STRATA_E_ENCODE       a sample cannot be encoded (for example a message size too small).
 * - STRATA_E_USAGE        a command line is wrong.
 * - STRATA_E_SCRAPE       a scrape failed; `reason` says why (timeout, body_too_large, http_status,
 *                         connect, reset, tls, decompress, invalid_url, aborted).
 * - STRATA_E_SINK         a sink's medium failed outside a send (open, flush, close).
 */

export const ErrorCode = {
  Parse: 'STRATA_E_PARSE',
  ParseLimit: 'STRATA_E_PARSE_LIMIT',
  LabelLimit: 'STRATA_E_LABEL_LIMIT',
  Config: 'STRATA_E_CONFIG',
  Encode: 'STRATA_E_ENCODE',
  Usage: 'STRATA_E_USAGE',
  Scrape: 'STRATA_E_SCRAPE',
  Sink: 'STRATA_E_SINK',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** What each code means; documented once, checked by test/errors.test.ts. */
export const errorCodeDocs: Readonly<Record<ErrorCode, string>> = {
  STRATA_E_PARSE: 'The exposition is malformed; the error names the line and the reason.',
  STRATA_E_PARSE_LIMIT: 'The exposition exceeds a configured byte or line limit.',
  STRATA_E_LABEL_LIMIT: 'A series breaks a label limit of the target (count, name or value length); the scrape fails whole.',
  STRATA_E_CONFIG: 'A setting is invalid; the error names the field and the reason.',
  STRATA_E_ENCODE: 'A sample cannot be encoded under the configured message limits.',
  STRATA_E_USAGE: 'A command line is wrong.',
  STRATA_E_SCRAPE: 'A scrape failed; the error names the URL, what happened and the limit or setting that applies.',
  STRATA_E_SINK: "A sink's medium failed outside a send (open, flush, close).",
};

export interface ErrorOptions {
  readonly cause?: unknown;
}

export class StrataError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;

  constructor(code: ErrorCode, message: string, retryable: boolean, options?: ErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StrataError';
    this.code = code;
    this.retryable = retryable;
  }
}

/** A malformed exposition. A scrape is all or nothing: no sample of the body is kept. */
export class ParseError extends StrataError {
  /** 1-based line number of the offending line. */
  readonly line: number;
  /** The reason without the line prefix. */
  readonly reason: string;

  constructor(line: number, reason: string, code: ErrorCode = ErrorCode.Parse) {
    super(code, `line ${line}: ${reason}`, false);
    this.name = 'ParseError';
    this.line = line;
    this.reason = reason;
  }
}

/**
 * A series breaks one of the target's label limits: the scrape fails whole (Prometheus'
 * `label_limit`, `label_name_length_limit`, `label_value_length_limit`). A `ParseError`, so code
 * that knows only parse errors still fails the scrape; `setting` names the limit's field.
 */
export class LabelLimitError extends ParseError {
  /** The setting whose limit was broken, e.g. `scrape.labelLimit`. */
  readonly setting: string;

  constructor(line: number, reason: string, setting: string) {
    super(line, reason, ErrorCode.LabelLimit);
    this.name = 'LabelLimitError';
    this.setting = setting;
  }
}

export class ConfigError extends StrataError {
  /** Dotted path of the offending setting, e.g. `filters.clip.min`. */
  readonly field: string;

  constructor(field: string, reason: string, options?: ErrorOptions) {
    super(ErrorCode.Config, `${field}: ${reason}`, false, options);
    this.name = 'ConfigError';
    this.field = field;
  }
}

export class EncodeError extends StrataError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.Encode, message, false, options);
    this.name = 'EncodeError';
  }
}

export class UsageError extends StrataError {
  constructor(message: string) {
    super(ErrorCode.Usage, message, false);
    this.name = 'UsageError';
  }
}

/** The shape an error takes across a worker boundary. */
export interface WireError {
  readonly ok: false;
  readonly code: ErrorCode | 'STRATA_E_INTERNAL';
  readonly message: string;
  readonly retryable: boolean;
}

export function toWire(err: unknown): WireError {
  if (err instanceof StrataError) {
    return { ok: false, code: err.code, message: err.message, retryable: err.retryable };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { ok: false, code: 'STRATA_E_INTERNAL', message, retryable: false };
}

export function fromWire(wire: WireError): Error {
  if (wire.code === 'STRATA_E_INTERNAL') return new Error(wire.message);
  return new StrataError(wire.code, wire.message, wire.retryable);
}

const QUOTE_LIMIT = 64;

/**
 * Quotes bytes for an error message: printable ASCII as is, everything else escaped, at most
 * `limit` bytes followed by an ellipsis.
 */
export function quote(bytes: Uint8Array, start = 0, end = bytes.length, limit = QUOTE_LIMIT): string {
  let out = '"';
  const stop = Math.min(end, start + limit);
  for (let i = start; i < stop; i++) {
    const c = bytes[i] as number;
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c >= 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else if (c === 0x0a) out += '\\n';
    else if (c === 0x0d) out += '\\r';
    else if (c === 0x09) out += '\\t';
    else out += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  out += '"';
  if (end > stop) out += '…';
  return out;
}
