// SPDX-License-Identifier: Apache-2.0
/**
 * The scrape error: why one scrape of one target failed.
 *
 * Invariants: `reason` is one of the bounded `ScrapeFailure` values, so it can be used as a
 * metric label as is; `url` never carries a password (it is redacted to `xxxxx`); the message
 * names the URL, what happened and the limit or setting that applies.
 *
 * Recovery: a scrape is all or nothing; the caller counts the failure by `reason` and tries
 * the target again on its next interval. `retryable` says whether an immediate retry could
 * help (timeouts, refused or reset connections, a name server's temporary failure, 5xx and 429
 * answers); the others (an unknown host name among them) need the target or the configuration
 * to change.
 *
 * Code: `STRATA_E_SCRAPE` (see `src/errors.ts`).
 */
import { ErrorCode, type ErrorOptions, StrataError } from '../errors.js';

/** Why a scrape failed: a bounded set, used as the `reason` label of the failure counter. */
export const ScrapeFailure = {
  Timeout: 'timeout',
  BodyTooLarge: 'body_too_large',
  HttpStatus: 'http_status',
  Connect: 'connect',
  /** The target's host name did not resolve (NXDOMAIN, no address, or the resolver failed). */
  Dns: 'dns',
  Reset: 'reset',
  Tls: 'tls',
  Decompress: 'decompress',
  InvalidUrl: 'invalid_url',
  Aborted: 'aborted',
} as const;
export type ScrapeFailure = (typeof ScrapeFailure)[keyof typeof ScrapeFailure];

/** The error code of every scrape failure. To move into `ErrorCode` in `src/errors.ts`. */
export const SCRAPE_ERROR_CODE: ErrorCode = ErrorCode.Scrape;

const RETRYABLE: ReadonlySet<ScrapeFailure> = new Set<ScrapeFailure>([
  ScrapeFailure.Timeout,
  ScrapeFailure.Connect,
  ScrapeFailure.Reset,
]);

export interface ScrapeErrorOptions extends ErrorOptions {
  /** The HTTP status, for `http_status` failures. */
  readonly status?: number;
  /** Overrides the reason's default (a `dns` failure is retryable only when transient). */
  readonly retryable?: boolean;
}

export class ScrapeError extends StrataError {
  readonly reason: ScrapeFailure;
  /** The target URL, password redacted. */
  readonly url: string;
  /** The HTTP status of an `http_status` failure; otherwise undefined. */
  readonly status: number | undefined;

  constructor(reason: ScrapeFailure, url: string, message: string, options?: ScrapeErrorOptions) {
    const status = options?.status;
    const retryable =
      options?.retryable ??
      (RETRYABLE.has(reason) ||
        (reason === ScrapeFailure.HttpStatus && status !== undefined && (status >= 500 || status === 429)));
    super(SCRAPE_ERROR_CODE, message, retryable, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ScrapeError';
    this.reason = reason;
    this.url = url;
    this.status = status;
  }
}
