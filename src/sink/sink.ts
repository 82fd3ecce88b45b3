// SPDX-License-Identifier: Apache-2.0
/**
 * The sink interface: where encoded messages leave the process.
 *
 * A message is one encoder output buffer (see `src/encode/encoder.ts`), already framed
 * (newline-delimited JSON, statsd lines, Fluent Forward); a send carries the messages of one
 * `encode()` call. A sink writes them in order, each message whole, and answers:
 * - `ok`: the peer (or stream, or file) accepted every message of the send;
 * - `retry`: nothing can be said to have been delivered and the cause may pass (a full disk, a
 *   peer that is down, the caller's signal aborting); `retryAfterMs` passes on a peer's hint;
 * - `reject`: sending the same messages again will not help (a closed sink, a permission
 *   error, a peer refusing the data); the caller counts the samples as dropped.
 * `send` never throws and never retries: only the buffer layer (`src/buffer/retry.ts`) retries,
 * with backoff. A retry may duplicate data the peer did take (at-least-once).
 *
 * The signal: an already aborted signal writes nothing and answers `retry` with the reason
 * `ABORTED`. An abort while the send waits (its turn, or the stream's backpressure) stops the
 * wait and answers `retry`; bytes already handed to the operating system or the stream cannot
 * be recalled, and each sink says what an abort then means.
 *
 * `flush(signal)` resolves once every send accepted before it has settled (and, where the
 * medium has it, the data is durable); it throws the signal's reason when aborted first.
 * `close()` stops accepting sends (later ones answer `reject`), waits for the sends already
 * accepted, releases the medium, and may be called more than once.
 *
 * `writeNow(message)`, optional, writes one message on the calling thread before it returns,
 * when the sink can do so without waiting: nothing of its own in progress and nothing to do
 * first (a file to open or rotate). It answers like `send`, or `null` when it cannot write now
 * (nothing was written; the caller then uses `send`). A worker uses it to write each message
 * while it is still in the CPU's cache, straight from the encoder's scratch buffer: a page-cache
 * write of a message just made costs about a third of one made milliseconds earlier.
 */
import { ErrorCode, type ErrorOptions, StrataError } from '../errors.js';

export const SendResult = { Ok: 'ok', Retry: 'retry', Reject: 'reject' } as const;
export type SendResult = (typeof SendResult)[keyof typeof SendResult];

/**
 * A failed outcome carries `reason`, the full message for `/status` and stderr (a path, an
 * errno, a peer's answer), and `code`, a bounded token for a metric label: an errno (`ENOSPC`,
 * `EACCES`, `ECONNREFUSED`), `http_<status>`, or a sink's own short word (`timeout`,
 * `max_payload`, `no_ack`). A code is never built from untrusted text.
 */
export type SendOutcome =
  | { readonly result: 'ok' }
  | { readonly result: 'retry'; readonly reason: string; readonly code?: string; readonly retryAfterMs?: number }
  | { readonly result: 'reject'; readonly reason: string; readonly code?: string };

/**
 * What the caller knows of the messages of one send, in the same order as the messages.
 * `ids`: one deterministic id per message (collector, target, scrape time, batch number), the
 * same when a message is retried or replayed from the spool, so a peer that deduplicates
 * (JetStream's `Nats-Msg-Id`, a Kafka consumer reading `strata-msg-id`) keeps one copy.
 */
export interface SendMeta {
  readonly ids?: readonly string[];
}

export interface Sink {
  /** What the sink writes to: `stdout`, `file`, `nats`, `kafka`, `remoteWrite`, `http`, `statsd`, `fluent`. */
  readonly kind: string;
  /**
   * The peer refuses a sample older than one it already has of the same series (Prometheus'
   * remote write receiver answers 400, out of order): the outbox then sends strictly oldest
   * first, never fresh data ahead of a backlog.
   */
  readonly inOrder?: boolean;
  send(messages: readonly Uint8Array[], signal: AbortSignal, meta?: SendMeta): Promise<SendOutcome>;
  /** Writes `message` now if the sink can without waiting, else answers `null` (see the header). */
  writeNow?(message: Uint8Array): SendOutcome | null;
  flush(signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** The reason a sink gives when its caller's signal aborted before anything was written. */
export const ABORTED = 'aborted';

export const OK: SendOutcome = Object.freeze({ result: SendResult.Ok });

export function retry(reason: string, retryAfterMs?: number, code?: string): SendOutcome {
  return {
    result: SendResult.Retry,
    reason,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(code === undefined ? {} : { code }),
  };
}

export function reject(reason: string, code?: string): SendOutcome {
  return code === undefined ? { result: SendResult.Reject, reason } : { result: SendResult.Reject, reason, code };
}

/** Total bytes of a send. */
export function byteLength(messages: readonly Uint8Array[]): number {
  let total = 0;
  for (const m of messages) total += m.byteLength;
  return total;
}

/** STRATA_E_SINK: a sink's medium failed outside a send (for example `fdatasync` on flush). */
export const SINK_ERROR_CODE = ErrorCode.Sink;

/** A sink's medium failed outside a send (flush, close). Send failures are outcomes, not errors. */
export class SinkError extends StrataError {
  /** The sink's `kind`. */
  readonly sink: string;

  constructor(sink: string, message: string, retryable: boolean, options?: ErrorOptions) {
    super(SINK_ERROR_CODE, `${sink} sink: ${message}`, retryable, options);
    this.name = 'SinkError';
    this.sink = sink;
  }
}

/** `CODE: message` for a system error (without repeating a code the message starts with). */
export function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  if (code === undefined || err.message.startsWith(code)) return err.message;
  return `${code}: ${err.message}`;
}

/** The `code` of a system error, if it has one. */
export function errorCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' ? code : undefined;
}
