// SPDX-License-Identifier: Apache-2.0
/**
 * One HTTP(S) POST of one body, answered as a sink outcome: the part every push sink over HTTP
 * shares (`remoteWrite`, `http`). Import this; do not repeat the classification.
 *
 * API (small on purpose):
 * - `postBody(url, body, options)`: POSTs `body` once and answers a `SendOutcome`. It never
 *   throws and never retries (the buffer layer retries). Options: `headers`, `timeoutMs`, `tls`
 *   (PEM contents, as `readFileTls` returns them), `signal`, `agent` (keep-alive reuse).
 * - `createAgent(url, {tls, maxSockets})`: a keep-alive agent for one endpoint; a sink makes one
 *   and passes it to every `postBody`, and calls `agent.destroy()` on close.
 * - `HttpAuth`: the `Authorization` header from `basicAuth {username, passwordFile}` or
 *   `bearerTokenFile`, re-read from the file at most every `AUTH_REREAD_MS` (rotated secrets).
 * - `classifyStatus`, `parseRetryAfter`: the rules below, exported for tests and other sinks.
 *
 * The classification (Prometheus' remote write client does the same):
 * - 2xx: `ok`; the response body is read and discarded so the connection can be reused.
 * - 5xx and 429: `retry` with code `http_<status>`; a `Retry-After` (seconds or an HTTP date)
 *   becomes `retryAfterMs`, capped at `MAX_RETRY_AFTER_MS` so a peer cannot park the sender.
 * - any other status (1xx final, 3xx: redirects are not followed, 4xx): `reject` with code
 *   `http_<status>`: sending the same body again will not help.
 * - network errors (refused, reset, DNS, TLS): `retry` with the errno as code (`ECONNREFUSED`,
 *   `ECONNRESET`, …) or `network` when the error has none; no answer within `timeoutMs`
 *   (connect to the end of the response body): `retry` with code `timeout`.
 * - the signal: already aborted, nothing is sent and the answer is `retry` with reason
 *   `ABORTED`; aborted during the request, the request is destroyed and the answer is `retry`
 *   (`ABORTED_IN_FLIGHT`): the peer may have taken the body (at-least-once).
 * Reasons name the method, the URL (secrets redacted, `src/net/redact.ts`), the status and the first bytes of the
 * peer's answer (control characters replaced, capped at `MAX_DETAIL_CHARS`). Codes are built
 * only from the status number or Node's errno, never from the peer's text.
 */
import { readFile } from 'node:fs/promises';
import { Agent as HttpAgent, type IncomingMessage, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { redactUrl } from '../net/redact.js';
import { ABORTED, OK, reject, retry, type SendOutcome } from './sink.js';

/** TLS settings of an HTTP push, with PEM contents (not paths), as `readFileTls` returns them. */
export interface PostTls {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecureSkipVerify?: boolean;
}

export interface PostOptions {
  /** Request headers; `Content-Length` is set from the body. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Longest the whole exchange may take, connect to last byte of the answer; default 30 s. */
  readonly timeoutMs?: number;
  /** TLS for an `https:` URL, when no `agent` is given. */
  readonly tls?: PostTls;
  readonly signal?: AbortSignal;
  /** The endpoint's keep-alive agent (see `createAgent`); a one-off agent otherwise. */
  readonly agent?: HttpAgent;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
/** A `Retry-After` longer than this is taken as this. */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;
/** At most this many characters of a peer's answer go into a reason. */
export const MAX_DETAIL_CHARS = 256;
/** Credentials files are read again when older than this. */
export const AUTH_REREAD_MS = 60_000;
/** The reason of a send whose signal aborted while the request was in flight. */
export const ABORTED_IN_FLIGHT = 'aborted while the request was in flight; the peer may have taken the body';

/** Bytes of an answer kept for the reason (the rest is read and discarded). */
const DETAIL_BYTES = 1024;

/** A keep-alive agent for one endpoint (`https:` URLs get TLS from `tls`). */
export function createAgent(url: string | URL, options: { tls?: PostTls; maxSockets?: number } = {}): HttpAgent {
  const u = typeof url === 'string' ? new URL(url) : url;
  const common = { keepAlive: true, maxSockets: options.maxSockets ?? 4, scheduling: 'lifo' as const };
  if (u.protocol !== 'https:') return new HttpAgent(common);
  const tls = options.tls ?? {};
  return new HttpsAgent({
    ...common,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    rejectUnauthorized: tls.insecureSkipVerify !== true,
  });
}


/**
 * Milliseconds to wait from a `Retry-After` value (delta seconds or an HTTP date), capped at
 * `MAX_RETRY_AFTER_MS`; undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** The outcome of an answer with `status` (see the header); `detail` is the peer's text. */
export function classifyStatus(status: number, what: string, detail: string, retryAfter?: string): SendOutcome {
  if (status >= 200 && status < 300) return OK;
  const code = `http_${Math.trunc(status)}`;
  const reason = detail === '' ? `${what}: HTTP ${status}` : `${what}: HTTP ${status}: ${detail}`;
  if (status === 429 || (status >= 500 && status < 600)) return retry(reason, parseRetryAfter(retryAfter), code);
  return reject(reason, code);
}

/** Printable, capped text of a peer's answer. */
function detailOf(bytes: Buffer): string {
  const text = bytes.toString('utf8').replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return text.length > MAX_DETAIL_CHARS ? `${text.slice(0, MAX_DETAIL_CHARS)}…` : text;
}

/** A bounded code for a network error: Node's errno token, or `network`. */
function networkCode(err: unknown): string {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(code) ? code : 'network';
}

/** POSTs `body` once; never throws (see the header for what each answer means). */
export function postBody(url: string | URL, body: Uint8Array, options: PostOptions = {}): Promise<SendOutcome> {
  const signal = options.signal;
  if (signal?.aborted === true) return Promise.resolve(retry(ABORTED));
  let u: URL;
  try {
    u = typeof url === 'string' ? new URL(url) : url;
  } catch {
    return Promise.resolve(reject(`POST: not a URL: ${JSON.stringify(String(url).slice(0, 200))}`, 'bad_url'));
  }
  const what = `POST ${redactUrl(u)}`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const https = u.protocol === 'https:';
  const ownAgent = options.agent === undefined ? createAgent(u, options.tls === undefined ? {} : { tls: options.tls }) : undefined;
  const agent = options.agent ?? ownAgent;
  const headers: Record<string, string | number> = { ...options.headers, 'content-length': body.byteLength };
  if (u.username !== '' || u.password !== '') {
    headers['authorization'] ??= `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
  }
  return new Promise<SendOutcome>((resolve) => {
    let done = false;
    const finish = (outcome: SendOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      ownAgent?.destroy();
      resolve(outcome);
    };
    const send = https ? httpsRequest : httpRequest;
    const req = send(u, { method: 'POST', headers, ...(agent === undefined ? {} : { agent }) }, (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const ok = status >= 200 && status < 300;
      const kept: Buffer[] = [];
      let keptBytes = 0;
      res.on('data', (chunk: Buffer) => {
        if (!ok && keptBytes < DETAIL_BYTES) {
          kept.push(chunk);
          keptBytes += chunk.length;
        }
      });
      res.on('end', () => {
        const retryAfter = res.headers['retry-after'];
        finish(classifyStatus(status, what, ok ? '' : detailOf(Buffer.concat(kept).subarray(0, DETAIL_BYTES)), retryAfter));
      });
      res.on('error', (err) => finish(retry(`${what}: the answer broke off: ${err.message}`, undefined, networkCode(err))));
    });
    const timer = setTimeout(() => {
      finish(retry(`${what}: no complete answer within ${timeoutMs} ms`, undefined, 'timeout'));
      req.destroy();
    }, timeoutMs);
    const onAbort = (): void => {
      finish(retry(ABORTED_IN_FLIGHT));
      req.destroy();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('error', (err) => finish(retry(`${what}: ${err.message}`, undefined, networkCode(err))));
    req.end(body);
  });
}

/** Credentials of an HTTP push, as a Collector's output names them (paths of files). */
export interface AuthFiles {
  readonly basicAuth?: { readonly username: string; readonly passwordFile?: string };
  readonly bearerTokenFile?: string;
}

/**
 * The `Authorization` header value of a push, read from files: `Basic …` from `basicAuth`
 * (`passwordFile` optional: an empty password), `Bearer …` from `bearerTokenFile` (trailing
 * whitespace trimmed, as Prometheus does). A file is read again once `AUTH_REREAD_MS` have passed,
 * so a rotated secret is picked up without a restart. A file that cannot be read makes
 * `header()` throw; a sink answers `reject` with code `auth_file` (the Collector must be fixed).
 */
export class HttpAuth {
  readonly #files: AuthFiles;
  #value: string | undefined = undefined;
  #readAt = Number.NEGATIVE_INFINITY;

  constructor(files: AuthFiles) {
    this.#files = files;
  }

  /** Whether there is anything to send. */
  get configured(): boolean {
    return this.#files.basicAuth !== undefined || this.#files.bearerTokenFile !== undefined;
  }

  async header(now: number = Date.now()): Promise<string | undefined> {
    if (!this.configured) return undefined;
    if (now - this.#readAt < AUTH_REREAD_MS) return this.#value;
    const { basicAuth, bearerTokenFile } = this.#files;
    if (bearerTokenFile !== undefined) {
      const token = (await readSecret('bearerTokenFile', bearerTokenFile)).trim();
      this.#value = `Bearer ${token}`;
    } else if (basicAuth !== undefined) {
      const password = basicAuth.passwordFile === undefined ? '' : (await readSecret('basicAuth.passwordFile', basicAuth.passwordFile)).trim();
      this.#value = `Basic ${Buffer.from(`${basicAuth.username}:${password}`).toString('base64')}`;
    }
    this.#readAt = now;
    return this.#value;
  }
}

async function readSecret(field: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
    throw new Error(`${field}: cannot read ${JSON.stringify(path)}${code === undefined ? '' : ` (${code})`}`, { cause: err });
  }
}
