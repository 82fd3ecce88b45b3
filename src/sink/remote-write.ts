// SPDX-License-Identifier: Apache-2.0
/**
 * The remote write sink: POSTs each message (one snappy-compressed protobuf `WriteRequest`
 * made by `src/encode/remote-write.ts`) to a Prometheus remote write 1.0 receiver: Prometheus
 * (`--web.enable-remote-write-receiver`, `/api/v1/write`), VictoriaMetrics (`/api/v1/write`),
 * Mimir, Thanos receive.
 *
 * Each request carries `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
 * `X-Prometheus-Remote-Write-Version: 0.1.0`, the configured `headers` (which may not replace
 * those three), and `Authorization` from `basicAuth` or `bearerTokenFile` (`HttpAuth`).
 *
 * Invariants: sends are made one at a time, in call order (a FIFO lock), and the messages of a
 * send one after the other: a receiver refuses a sample older than the newest it has of the
 * series, so order matters more than parallel requests. `ok` means every message of the send
 * was answered 2xx. The first message that is not answers for the send (`http-post.ts` says
 * what is `retry` and what is `reject`); the messages before it were taken, and a retry sends
 * them again, which receivers accept (an identical sample at the same timestamp is a duplicate,
 * not an error).
 *
 * The signal: aborted before a request, nothing more is sent and the answer is `retry`
 * (`ABORTED`); during a request, it is cut off and the answer is `retry` (the receiver may
 * have taken it).
 *
 * Recovery: TLS and credentials files are read on the first send (and credentials again every
 * minute); one that cannot be read answers `reject` with code `tls_file` or `auth_file`,
 * naming the setting, for that send, and is tried again on the next one.
 */
import type { Agent } from 'node:http';
import { readFileTls } from '../scrape/tls.js';
import { type AuthFiles, createAgent, HttpAuth, postBody, type PostTls } from './http-post.js';
import { ABORT, raceAbort, Serial } from './serial.js';
import { ABORTED, OK, reject, retry, type SendOutcome, type Sink } from './sink.js';

/** `output.remoteWrite` of a Collector. */
export interface RemoteWriteOutput extends AuthFiles {
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Paths of PEM files, as the Collector's scrape `tls`. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly insecureSkipVerify?: boolean };
  readonly timeoutSeconds?: number;
  /** Used by the encoder (`collectorEncoder`), not by the sink. */
  readonly maxSamplesPerSend?: number;
}

export const REMOTE_WRITE_DEFAULT_TIMEOUT_SECONDS = 30;

/** The headers remote write 1.0 requires; `headers` may not set these. */
export const REMOTE_WRITE_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-encoding': 'snappy',
  'content-type': 'application/x-protobuf',
  'x-prometheus-remote-write-version': '0.1.0',
  'user-agent': 'strata-remote-write/0.1',
});

/** Header names a Collector may not set in `output.remoteWrite.headers`, lower-cased. */
export const RESERVED_HEADERS: readonly string[] = [
  'content-encoding',
  'content-type',
  'x-prometheus-remote-write-version',
  'content-length',
  'host',
  'authorization',
  'transfer-encoding',
];

export class RemoteWriteSink implements Sink {
  readonly kind = 'remoteWrite';
  /** Prometheus refuses a sample older than the series' newest: oldest first (outbox.ts). */
  readonly inOrder = true;
  readonly #url: URL;
  readonly #output: RemoteWriteOutput;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #auth: HttpAuth;
  readonly #serial = new Serial();
  readonly #pending = new Set<Promise<SendOutcome>>();
  #agent: Agent | null = null;
  #closed = false;

  constructor(output: RemoteWriteOutput) {
    this.#url = new URL(output.url);
    this.#output = output;
    this.#timeoutMs = (output.timeoutSeconds ?? REMOTE_WRITE_DEFAULT_TIMEOUT_SECONDS) * 1000;
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(output.headers ?? {})) {
      if (!RESERVED_HEADERS.includes(k.toLowerCase())) headers[k.toLowerCase()] = v;
    }
    this.#headers = { ...headers, ...REMOTE_WRITE_HEADERS };
    this.#auth = new HttpAuth(output);
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (this.#closed) return Promise.resolve(reject('remoteWrite sink is closed', 'closed'));
    if (signal.aborted) return Promise.resolve(retry(ABORTED));
    if (messages.length === 0) return Promise.resolve(OK);
    const p = this.#send(messages, signal);
    this.#pending.add(p);
    void p.finally(() => this.#pending.delete(p));
    return p;
  }

  async #send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    try {
      const agent = await this.#ready();
      if ('result' in agent) return agent;
      let headers = this.#headers;
      if (this.#auth.configured) {
        try {
          const value = await this.#auth.header();
          if (value !== undefined) headers = { ...headers, authorization: value };
        } catch (e) {
          return reject(`remoteWrite: ${e instanceof Error ? e.message : String(e)}`, 'auth_file');
        }
      }
      for (let i = 0; i < messages.length; i++) {
        if (signal.aborted) return retry(ABORTED);
        const outcome = await postBody(this.#url, messages[i] as Uint8Array, { headers, timeoutMs: this.#timeoutMs, signal, agent });
        if (outcome.result !== 'ok') {
          if (i === 0) return outcome;
          const note = ` (after ${i} of ${messages.length} requests of this send were taken)`;
          return outcome.result === 'retry'
            ? retry(outcome.reason + note, outcome.retryAfterMs, outcome.code)
            : reject(outcome.reason + note, outcome.code);
        }
      }
      return OK;
    } finally {
      release();
    }
  }

  /** The keep-alive agent, made on the first send (TLS files read then), or why there is none. */
  async #ready(): Promise<Agent | SendOutcome> {
    if (this.#agent !== null) return this.#agent;
    let tls: PostTls | undefined;
    if (this.#output.tls !== undefined && this.#url.protocol === 'https:') {
      try {
        tls = await readFileTls(this.#output.tls);
      } catch (e) {
        return reject(`remoteWrite.${e instanceof Error ? e.message : String(e)}`, 'tls_file');
      }
    }
    this.#agent = createAgent(this.#url, { maxSockets: 1, ...(tls === undefined ? {} : { tls }) });
    return this.#agent;
  }

  async flush(signal: AbortSignal): Promise<void> {
    const all = Promise.allSettled([...this.#pending]);
    if ((await raceAbort(all, signal)) === ABORT) throw signal.reason;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.allSettled([...this.#pending]);
    this.#agent?.destroy();
    this.#agent = null;
  }
}
