// SPDX-License-Identifier: Apache-2.0
/**
 * The `http` sink: POSTs each encoded message to a collector's URL, over HTTP or HTTPS with a
 * keep-alive connection.
 *
 * Format: one POST per message; the body is the message as the encoder framed it (gzipped with
 * `compression: gzip`, with `Content-Encoding: gzip`). Headers: `Content-Type` from the encoder
 * (`application/x-ndjson` for JSON; see `httpContentType`), the configured `headers`,
 * `Authorization` from `bearerTokenFile` or `basicAuth` (files re-read every minute), and the
 * message's deterministic id as `Strata-Msg-Id` when the caller gives ids (`meta.ids`), so a
 * receiver can drop a retried or replayed copy.
 *
 * Answers: the classification is `src/sink/http-post.ts`'s, shared with remote write: 2xx `ok`;
 * network errors, no answer within `timeoutSeconds`, 5xx and 429 `retry` (with `Retry-After` as
 * `retryAfterMs`, seconds or an HTTP date); any other status `reject` with code `http_<status>`.
 * A send's messages go in order, one POST at a time; the first that does not succeed ends the
 * send, and its answer (with `message i of n` in the reason) is the send's. Messages before it
 * were delivered: a retry sends them again (at-least-once; the ids let the peer deduplicate).
 *
 * Invariants: sends are serialised (a FIFO lock), so POSTs reach the server whole and in call
 * order; one keep-alive connection is enough for one POST at a time. TLS files are read on the
 * first send (a file that cannot be read answers `retry` with code `tls_files`, so a secret
 * mounted late works); a credentials file that cannot be read answers `reject` with code
 * `auth_file`.
 *
 * The signal: an abort while waiting for the turn (or the TLS files) sends nothing and answers
 * `retry` (`ABORTED`); an abort during a POST destroys the request and answers `retry`: the
 * server may have taken the body.
 */
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import type { Agent } from 'node:http';
import { readFileTls, type ScrapeTlsFiles } from '../scrape/tls.js';
import { createAgent, DEFAULT_TIMEOUT_MS, HttpAuth, postBody } from './http-post.js';
import { ABORT, raceAbort, SendGate, Serial } from './serial.js';
import { ABORTED, describeError, OK, reject, retry, type SendMeta, type SendOutcome, type Sink } from './sink.js';

const gzip = promisify(gzipCallback);

export const HttpCompression = { None: 'none', Gzip: 'gzip' } as const;
export type HttpCompression = (typeof HttpCompression)[keyof typeof HttpCompression];

export interface HttpSinkOptions {
  readonly url: string;
  /** The body's media type; default `application/x-ndjson` (see `httpContentType`). */
  readonly contentType?: string;
  readonly compression?: HttpCompression;
  /** Extra request headers. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly bearerTokenFile?: string;
  readonly basicAuth?: { readonly username: string; readonly passwordFile?: string };
  /** TLS for an `https:` URL, with PEM file paths. */
  readonly tls?: ScrapeTlsFiles;
  /** Longest one POST may take, connect to the end of the answer; default 30. */
  readonly timeoutSeconds?: number;
}

/** The header that carries a message's id. */
export const MSG_ID_HEADER = 'Strata-Msg-Id';

/** Headers the sink sets itself; `headers` may not set them. */
export const HTTP_RESERVED_HEADERS = ['content-type', 'content-encoding', 'content-length', 'strata-msg-id', 'host', 'transfer-encoding'] as const;

/** The `Content-Type` of a message from each encoder. */
export function httpContentType(encoder: 'json' | 'statsd' | 'fluent'): string {
  switch (encoder) {
    case 'json':
      return 'application/x-ndjson';
    case 'statsd':
      return 'text/plain; charset=utf-8';
    case 'fluent':
      return 'application/msgpack';
  }
}

export class HttpSink implements Sink {
  readonly kind = 'http';
  readonly #url: URL;
  readonly #headers: Readonly<Record<string, string>>;
  readonly #gzip: boolean;
  readonly #timeoutMs: number;
  readonly #tlsFiles: ScrapeTlsFiles | undefined;
  readonly #auth: HttpAuth;
  readonly #serial = new Serial();
  readonly #sends = new SendGate();
  #agent: Agent | null = null;

  constructor(options: HttpSinkOptions) {
    this.#url = new URL(options.url);
    this.#gzip = options.compression === HttpCompression.Gzip;
    this.#timeoutMs = options.timeoutSeconds === undefined ? DEFAULT_TIMEOUT_MS : options.timeoutSeconds * 1000;
    this.#tlsFiles = options.tls;
    this.#auth = new HttpAuth({
      ...(options.bearerTokenFile === undefined ? {} : { bearerTokenFile: options.bearerTokenFile }),
      ...(options.basicAuth === undefined ? {} : { basicAuth: options.basicAuth }),
    });
    this.#headers = {
      ...options.headers,
      'content-type': options.contentType ?? httpContentType('json'),
      ...(this.#gzip ? { 'content-encoding': 'gzip' } : {}),
    };
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal, meta?: SendMeta): Promise<SendOutcome> {
    if (this.#sends.closed) return Promise.resolve(reject('the http sink is closed'));
    return this.#sends.track(this.#send(messages, signal, meta?.ids));
  }

  flush(signal: AbortSignal): Promise<void> {
    return this.#sends.flush(signal);
  }

  close(): Promise<void> {
    return this.#sends.close(async () => {
      this.#agent?.destroy();
      this.#agent = null;
    });
  }

  async #send(messages: readonly Uint8Array[], signal: AbortSignal, ids: readonly string[] | undefined): Promise<SendOutcome> {
    if (signal.aborted) return retry(ABORTED);
    if (messages.length === 0) return OK;
    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    try {
      const agent = await raceAbort(this.#endpointAgent(), signal);
      if (agent === ABORT) return retry(ABORTED);
      if ('result' in agent) return agent;
      let authorization: string | undefined;
      try {
        authorization = await this.#auth.header();
      } catch (err) {
        return reject(describeError(err), 'auth_file');
      }
      const headers = authorization === undefined ? this.#headers : { ...this.#headers, authorization };
      for (let i = 0; i < messages.length; i++) {
        const message = messages[i] as Uint8Array;
        const body = this.#gzip ? await gzip(message) : message;
        const id = ids?.[i];
        const outcome = await postBody(this.#url, body, {
          headers: id === undefined ? headers : { ...headers, [MSG_ID_HEADER]: id },
          timeoutMs: this.#timeoutMs,
          signal,
          agent,
        });
        if (outcome.result === 'ok') continue;
        if (messages.length === 1 || outcome.reason === ABORTED) return outcome;
        const reason = `message ${i + 1} of ${messages.length}: ${outcome.reason}`;
        return outcome.result === 'reject'
          ? reject(reason, outcome.code)
          : retry(reason, outcome.retryAfterMs, outcome.code);
      }
      return OK;
    } finally {
      release();
    }
  }

  /** The endpoint's keep-alive agent, made on the first send; or the outcome to answer instead. */
  async #endpointAgent(): Promise<Agent | SendOutcome> {
    if (this.#agent !== null) return this.#agent;
    let tls;
    try {
      tls = this.#tlsFiles === undefined ? undefined : await readFileTls(this.#tlsFiles);
    } catch (err) {
      return retry(`cannot read the TLS files: ${describeError(err)}`, undefined, 'tls_files');
    }
    this.#agent = createAgent(this.#url, { maxSockets: 1, ...(tls === undefined ? {} : { tls }) });
    return this.#agent;
  }
}
