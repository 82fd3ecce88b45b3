// SPDX-License-Identifier: Apache-2.0
/**
 * The NATS sink: publishes each message to one subject over one connection (the `nats` client),
 * either as core NATS (at-most-once) or to a JetStream stream with acknowledgement
 * (at-least-once, duplicates dropped by the stream by message id).
 *
 * What `ok` means:
 * - core NATS: every message of the send was published and a flush (PING/PONG) that followed
 *   them came back, so the server has read them all; subscribers may still miss them (core NATS
 *   keeps nothing for a subscriber that is away);
 * - JetStream: every message was acknowledged by the configured stream (`Nats-Expected-Stream`
 *   makes the server refuse a message that would land in another stream). Each message carries
 *   the header `Nats-Msg-Id` set to its id from `meta.ids` (when the caller gives ids), so a
 *   retried or replayed message that the stream already holds is acknowledged as a duplicate
 *   and stored once. Core messages carry the same header, for consumers that deduplicate.
 *
 * Invariants:
 * - Sends go out whole and in call order: a FIFO lock is held from the first publish of a send
 *   until its flush or its last acknowledgement (or its timeout), so a send waits for the one
 *   before it, and one whose signal aborts while it waits writes nothing.
 * - One connection per sink, so one per worker thread (each worker makes its own sink). It is
 *   opened lazily, by the first send (construction never fails and does no I/O), and again by
 *   the first send after it was lost. The client's own reconnect is off: whatever a lost
 *   connection had not confirmed is answered `retry`, and the caller (the buffer layer) sends
 *   it again on a new connection, so nothing is lost to a reconnect and nothing waits on one.
 * - Once a send has answered, nothing of its messages is written later from the caller's memory:
 *   the client copies what it writes to the socket (its outbound buffer is packed into a fresh
 *   buffer per write), and a connection that ended, or that this sink closed after a timeout,
 *   never writes what it still held. So the caller may recycle the messages' memory.
 * - `max_payload`: a message (with its headers) larger than the server's limit is split at line
 *   boundaries into parts that fit, each part's id being `<id>/<n>` (n from 1), when the
 *   message is line-framed (NDJSON, statsd; `framing: 'lines'`, the default). A send with a line
 *   that alone does not fit, or an opaque message that does not fit, answers `reject` with code
 *   `max_payload` before anything of it is published.
 *
 * Failures, each with a bounded `code` and a reason naming the server URL (credentials
 * redacted): a connect that fails answers `retry` (`ECONNREFUSED` and other errnos, `timeout`,
 * `auth`, `tls`, `no_jetstream`, `no_stream`); a connection lost during a send, or a flush or
 * acknowledgement that takes longer than `timeoutSeconds`, answers `retry` (`disconnected`,
 * `timeout`, `no_ack`); a stream that is full or unavailable answers `retry` (`jetstream_api`,
 * `no_responders`); the server refusing the subject (`permission`) or the stream named not
 * being the one that stores the subject (`wrong_stream`) answers `reject`.
 *
 * The signal: an abort before the first publish answers `retry` (`ABORTED`) and publishes
 * nothing; an abort after it answers `retry` with `ABORTED_WHILE_PUBLISHING` (the messages may
 * still be stored: at-least-once). `close()` waits for the sends accepted, then drains the
 * connection (flushes what was published, then closes).
 */
import { readFile } from 'node:fs/promises';
import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  headers as natsHeaders,
  type JetStreamClient,
  type JetStreamManager,
  type MsgHdrs,
  NatsError,
  type NatsConnection,
  nkeyAuthenticator,
  tokenAuthenticator,
  usernamePasswordAuthenticator,
} from 'nats';
import { redactNatsUrl, splitNatsUrls } from './nats-url.js';
import { ABORT, raceAbort, SendGate, Serial } from './serial.js';
import { ABORTED, OK, reject, retry, type SendMeta, type SendOutcome, type Sink } from './sink.js';

export interface NatsAuthOptions {
  readonly user?: string;
  readonly password?: string;
  readonly token?: string;
  readonly credsFile?: string;
  readonly nkeySeedFile?: string;
}

export interface NatsTlsOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly insecureSkipVerify?: boolean;
}

export interface NatsJetStreamOptions {
  readonly stream: string;
  readonly create?: boolean;
  readonly subjects?: readonly string[];
  /** Seconds. */
  readonly maxAge?: number;
  /** Seconds. */
  readonly duplicateWindow?: number;
}

export interface NatsSinkOptions {
  /** One or several `nats://` URLs, comma-separated. */
  readonly url: string;
  readonly subject: string;
  readonly auth?: NatsAuthOptions;
  readonly tls?: NatsTlsOptions;
  /** Absent or false: core NATS. */
  readonly jetstream?: NatsJetStreamOptions | false;
  /** Longest wait for a connect, a flush or an acknowledgement; 10 by default. */
  readonly timeoutSeconds?: number;
  /** The connection's name as the server shows it (`strata test/it w0`). */
  readonly name?: string;
  /**
   * `lines` (default): messages are newline-framed (NDJSON, statsd), so one over `max_payload`
   * may be split at line boundaries. `opaque` (Fluent Forward): never split.
   */
  readonly framing?: 'lines' | 'opaque';
}

export const ABORTED_WHILE_PUBLISHING = 'aborted while waiting for the server; the messages may still arrive';

/** Codes this sink gives (bounded; errnos come from the operating system's set). */
export const NatsCode = {
  Timeout: 'timeout',
  Auth: 'auth',
  Tls: 'tls',
  Disconnected: 'disconnected',
  MaxPayload: 'max_payload',
  NoAck: 'no_ack',
  NoJetStream: 'no_jetstream',
  NoStream: 'no_stream',
  NoResponders: 'no_responders',
  WrongStream: 'wrong_stream',
  JetStreamApi: 'jetstream_api',
  Permission: 'permission',
  Error: 'nats_error',
} as const;

const DEFAULT_TIMEOUT_SECONDS = 10;
const NEWLINE = 0x0a;
/** JetStream's default duplicate window, which a created stream keeps unless maxAge is shorter. */
const DEFAULT_DUPLICATE_WINDOW_SECONDS = 120;
/** JetStream API error codes (`err_code`) this sink tells apart. */
const JS_STREAM_NOT_FOUND = 10059;
const JS_STREAM_MISMATCH = 10060;

interface Connection {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient | null;
  readonly maxPayload: number;
  /** The server connected to, for reasons. */
  readonly server: string;
  /** Permission errors the server reported on this connection, in order. */
  readonly permissionErrors: string[];
}

/** A send's outcome other than `ok`. */
type Failure = Exclude<SendOutcome, { readonly result: 'ok' }>;

/** One message as published: its bytes and its id (if any). */
interface Part {
  readonly data: Uint8Array;
  readonly id: string | undefined;
}

export class NatsSink implements Sink {
  readonly kind = 'nats';
  readonly #options: NatsSinkOptions;
  /** The servers, credentials removed (given to the client). */
  readonly #servers: string[];
  /** The URLs as configured, credentials redacted (for reasons). */
  readonly #shown: string;
  readonly #urlAuth: NatsAuthOptions | undefined;
  readonly #timeoutMs: number;
  readonly #stream: string | null;
  readonly #serial = new Serial();
  readonly #sends = new SendGate();
  #connection: Connection | null = null;
  #connecting: Promise<Connection | SendOutcome> | null = null;

  constructor(options: NatsSinkOptions) {
    this.#options = options;
    const urls = splitNatsUrls(options.url);
    this.#servers = urls.map(stripCredentials);
    this.#shown = urls.map(redactNatsUrl).join(',');
    this.#urlAuth = urlCredentials(urls[0] ?? '');
    this.#timeoutMs = (options.timeoutSeconds ?? DEFAULT_TIMEOUT_SECONDS) * 1000;
    this.#stream = options.jetstream === undefined || options.jetstream === false ? null : options.jetstream.stream;
  }

  /** Whether a connection is open now (for tests and status). */
  get connected(): boolean {
    return this.#connection !== null && !this.#connection.nc.isClosed();
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal, meta?: SendMeta): Promise<SendOutcome> {
    if (this.#sends.closed) return Promise.resolve(reject('the nats sink is closed'));
    return this.#sends.track(this.#send(messages, signal, meta));
  }

  flush(signal: AbortSignal): Promise<void> {
    return this.#sends.flush(signal);
  }

  close(): Promise<void> {
    return this.#sends.close(() => this.#close());
  }

  /** Releases the medium, once every send accepted has settled (SendGate). */
  async #close(): Promise<void> {
    const connecting = this.#connecting;
    if (connecting !== null) await connecting;
    const conn = this.#connection;
    this.#connection = null;
    if (conn === null || conn.nc.isClosed()) return;
    try {
      await conn.nc.drain();
    } catch {
      await conn.nc.close().catch(() => undefined);
    }
  }

  async #send(messages: readonly Uint8Array[], signal: AbortSignal, meta: SendMeta | undefined): Promise<SendOutcome> {
    if (signal.aborted) return retry(ABORTED);
    if (messages.length === 0) return OK;
    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    try {
      const conn = await raceAbort(this.#connect(), signal);
      if (conn === ABORT) return retry(ABORTED);
      if (!('nc' in conn)) return conn;
      const parts = this.#parts(messages, meta?.ids, conn);
      if (!Array.isArray(parts)) return parts;
      if (signal.aborted) return retry(ABORTED);
      const settled = conn.js === null ? this.#publishCore(conn, parts) : this.#publishJetStream(conn, conn.js, parts);
      const outcome = await raceAbort(settled, signal);
      return outcome === ABORT ? retry(ABORTED_WHILE_PUBLISHING) : outcome;
    } finally {
      release();
    }
  }

  /** The messages as published: split where over `max_payload`, or the reason they cannot be. */
  #parts(messages: readonly Uint8Array[], ids: readonly string[] | undefined, conn: Connection): Part[] | SendOutcome {
    const parts: Part[] = [];
    const lines = (this.#options.framing ?? 'lines') === 'lines';
    for (let i = 0; i < messages.length; i++) {
      const data = messages[i] as Uint8Array;
      const id = ids?.[i];
      const limit = conn.maxPayload - this.#headerBytes(id);
      if (data.byteLength <= limit) {
        parts.push({ data, id });
        continue;
      }
      // The parts' ids are longer: leave room for the longest suffix.
      const partLimit = conn.maxPayload - this.#headerBytes(id === undefined ? undefined : `${id}/${Number.MAX_SAFE_INTEGER}`);
      const pieces = lines ? splitLines(data, partLimit) : null;
      if (pieces === null || typeof pieces === 'number') {
        const what = pieces === null ? `message ${i + 1} of ${messages.length} (${data.byteLength} bytes, not line-framed)` : `a line of ${pieces} bytes in message ${i + 1} of ${messages.length}`;
        return reject(
          `${what} does not fit the server's max_payload of ${conn.maxPayload} bytes (${conn.server}); ` +
            'raise max_payload on the server or lower batch.maxBytes',
          NatsCode.MaxPayload,
        );
      }
      pieces.forEach((piece, k) => parts.push({ data: piece, id: id === undefined ? undefined : `${id}/${k + 1}` }));
    }
    return parts;
  }

  /**
   * Bytes the header block of a message with this id takes (0 for core NATS without an id):
   * `NATS/1.0\r\n`, then `Key: value\r\n` per header, then `\r\n`.
   */
  #headerBytes(id: string | undefined): number {
    if (id === undefined && this.#stream === null) return 0;
    let bytes = 'NATS/1.0\r\n'.length + 2;
    if (id !== undefined) bytes += 'Nats-Msg-Id: \r\n'.length + Buffer.byteLength(id);
    if (this.#stream !== null) bytes += 'Nats-Expected-Stream: \r\n'.length + Buffer.byteLength(this.#stream);
    return bytes;
  }

  #headers(id: string | undefined): MsgHdrs | undefined {
    if (id === undefined && this.#stream === null) return undefined;
    const h = natsHeaders();
    if (id !== undefined) h.set('Nats-Msg-Id', id);
    if (this.#stream !== null) h.set('Nats-Expected-Stream', this.#stream);
    return h;
  }

  async #publishCore(conn: Connection, parts: readonly Part[]): Promise<SendOutcome> {
    const { nc } = conn;
    const errorsBefore = conn.permissionErrors.length;
    const subject = this.#options.subject;
    try {
      for (const part of parts) {
        const h = this.#headers(part.id);
        if (h === undefined) nc.publish(subject, part.data);
        else nc.publish(subject, part.data, { headers: h });
      }
    } catch (err) {
      return this.#failed(conn, err, 'publishing');
    }
    // A connection that closes while the flush waits never answers it (the client's reconnect
    // is off): its close ends the wait.
    const lost = nc.closed().then(() => {
      throw new NatsError('connection closed', 'CONNECTION_CLOSED');
    });
    const flushed = await withTimeout(Promise.race([nc.flush(), lost]), this.#timeoutMs);
    if (flushed === TIMEOUT) {
      this.#drop(conn);
      return retry(`no answer to a flush from ${conn.server} within ${this.#timeoutMs} ms (${this.#shown})`, undefined, NatsCode.Timeout);
    }
    if (flushed instanceof Error) return this.#failed(conn, flushed, 'flushing');
    // The server's -ERR for a refused publish arrives before the PONG; the client hands it to
    // the status listener through promises, which have all run once the loop turns.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const refused = conn.permissionErrors.slice(errorsBefore);
    if (refused.length > 0) return reject(`${refused[0] as string} (${conn.server})`, NatsCode.Permission);
    return OK;
  }

  async #publishJetStream(conn: Connection, js: JetStreamClient, parts: readonly Part[]): Promise<SendOutcome> {
    const subject = this.#options.subject;
    const acks: Promise<unknown>[] = [];
    // Published in order on one connection, so the stream stores them in order.
    for (const part of parts) {
      const h = this.#headers(part.id) as MsgHdrs;
      acks.push(js.publish(subject, part.data, { headers: h, timeout: this.#timeoutMs }));
    }
    const results = await Promise.allSettled(acks);
    let firstFailure: unknown = null;
    let failures = 0;
    for (const r of results) {
      if (r.status === 'rejected') {
        failures++;
        firstFailure ??= r.reason;
      }
    }
    if (failures === 0) return OK;
    const outcome = this.#failed(conn, firstFailure, 'publishing to JetStream');
    const suffix = ` (${failures} of ${parts.length} messages not acknowledged)`;
    return outcome.result === 'reject' ? reject(outcome.reason + suffix, outcome.code) : retry(outcome.reason + suffix, undefined, outcome.code);
  }

  /** The outcome of an error during a send; a lost connection is forgotten, for the next send to open. */
  #failed(conn: Connection, err: unknown, doing: string): Failure {
    const { code, message } = classify(err);
    // A connection that was lost or did not answer in time is not used again: the next send
    // opens a new one (what this one had not confirmed is retried by the caller).
    if (conn.nc.isClosed() || code === NatsCode.Disconnected || code === NatsCode.Timeout || code === 'TIMEOUT') this.#drop(conn);
    const reason = `${doing} to ${conn.server} failed: ${message} (${this.#shown})`;
    if (code === NatsCode.Permission || code === NatsCode.WrongStream || code === NatsCode.MaxPayload) return reject(reason, code) as Failure;
    const retryCode = code === NatsCode.Timeout && this.#stream !== null ? NatsCode.NoAck : code;
    return retry(reason, undefined, retryCode) as Failure;
  }

  /** Closes `conn` and forgets it. */
  #drop(conn: Connection): void {
    if (this.#connection === conn) this.#connection = null;
    void conn.nc.close().catch(() => undefined);
  }

  /** The open connection, or one opened now (shared by concurrent callers), or why not. */
  #connect(): Promise<Connection | SendOutcome> {
    const conn = this.#connection;
    if (conn !== null && !conn.nc.isClosed()) return Promise.resolve(conn);
    this.#connection = null;
    this.#connecting ??= this.#open().finally(() => {
      this.#connecting = null;
    });
    return this.#connecting;
  }

  async #open(): Promise<Connection | SendOutcome> {
    let options: ConnectionOptions;
    try {
      options = await this.#connectionOptions();
    } catch (err) {
      const { code, message } = classify(err);
      return retry(`cannot read the credentials for ${this.#shown}: ${message}`, undefined, code);
    }
    let nc: NatsConnection;
    try {
      nc = await connect(options);
    } catch (err) {
      const { code, message } = classify(err);
      return retry(`cannot connect to ${this.#shown}: ${message}`, undefined, code === 'TIMEOUT' ? NatsCode.Timeout : code);
    }
    const server = redactNatsUrl(`nats://${nc.getServer()}`);
    const permissionErrors: string[] = [];
    void (async () => {
      for await (const status of nc.status()) {
        const context = (status as { permissionContext?: { operation: string; subject: string } }).permissionContext;
        if (status.type === 'error' && context?.operation === 'publish') {
          permissionErrors.push(`the server refused to let this connection publish to ${JSON.stringify(context.subject)}`);
        }
      }
    })().catch(() => undefined);
    let js: JetStreamClient | null = null;
    if (this.#stream !== null) {
      const ready = await this.#prepareStream(nc, server);
      if (ready !== null) {
        await nc.close().catch(() => undefined);
        return ready;
      }
      js = nc.jetstream({ timeout: this.#timeoutMs });
    }
    const conn: Connection = { nc, js, maxPayload: nc.info?.max_payload ?? 1024 * 1024, server, permissionErrors };
    void nc.closed().then(() => {
      if (this.#connection === conn) this.#connection = null;
    });
    this.#connection = conn;
    return conn;
  }

  /** Checks that the stream exists (creating it when asked); null when it is ready. */
  async #prepareStream(nc: NatsConnection, server: string): Promise<SendOutcome | null> {
    const spec = this.#options.jetstream as NatsJetStreamOptions;
    let jsm: JetStreamManager;
    try {
      jsm = await nc.jetstreamManager({ timeout: this.#timeoutMs });
    } catch (err) {
      const { message } = classify(err);
      return retry(`JetStream is not available on ${server}: ${message} (${this.#shown})`, undefined, NatsCode.NoJetStream);
    }
    try {
      await jsm.streams.info(spec.stream);
      return null;
    } catch (err) {
      if (apiErrorCode(err) !== JS_STREAM_NOT_FOUND) {
        const { code, message } = classify(err);
        return retry(`cannot look up stream ${JSON.stringify(spec.stream)} on ${server}: ${message} (${this.#shown})`, undefined, code);
      }
    }
    if (spec.create !== true) {
      return retry(
        `stream ${JSON.stringify(spec.stream)} does not exist on ${server}; create it, or set jetstream.create (${this.#shown})`,
        undefined,
        NatsCode.NoStream,
      );
    }
    const maxAge = spec.maxAge ?? 0;
    const window = spec.duplicateWindow ?? (maxAge > 0 ? Math.min(maxAge, DEFAULT_DUPLICATE_WINDOW_SECONDS) : DEFAULT_DUPLICATE_WINDOW_SECONDS);
    try {
      await jsm.streams.add({
        name: spec.stream,
        subjects: [...(spec.subjects ?? [this.#options.subject])],
        max_age: secondsToNanos(maxAge),
        duplicate_window: secondsToNanos(window),
      });
      return null;
    } catch (err) {
      // Another worker may have created it meanwhile.
      try {
        await jsm.streams.info(spec.stream);
        return null;
      } catch {
        const { code, message } = classify(err);
        return retry(`cannot create stream ${JSON.stringify(spec.stream)} on ${server}: ${message} (${this.#shown})`, undefined, code);
      }
    }
  }

  async #connectionOptions(): Promise<ConnectionOptions> {
    const o = this.#options;
    const auth = o.auth ?? this.#urlAuth;
    const authenticator: Authenticator[] = [];
    if (auth?.user !== undefined) authenticator.push(usernamePasswordAuthenticator(auth.user, auth.password));
    if (auth?.token !== undefined) authenticator.push(tokenAuthenticator(auth.token));
    if (auth?.credsFile !== undefined) authenticator.push(credsAuthenticator(await readFile(auth.credsFile)));
    if (auth?.nkeySeedFile !== undefined) {
      const seed = (await readFile(auth.nkeySeedFile, 'utf8')).trim();
      authenticator.push(nkeyAuthenticator(new TextEncoder().encode(seed)));
    }
    const options: ConnectionOptions = {
      servers: this.#servers,
      timeout: this.#timeoutMs,
      // A lost connection is opened again by the next send (see the header).
      reconnect: false,
      ...(o.name === undefined ? {} : { name: o.name }),
      ...(authenticator.length === 0 ? {} : { authenticator }),
    };
    if (o.tls !== undefined) {
      const tls: Record<string, unknown> = {};
      if (o.tls.ca !== undefined) tls['caFile'] = o.tls.ca;
      if (o.tls.cert !== undefined) tls['certFile'] = o.tls.cert;
      if (o.tls.key !== undefined) tls['keyFile'] = o.tls.key;
      // Passed through to `tls.connect` by the client.
      if (o.tls.insecureSkipVerify === true) tls['rejectUnauthorized'] = false;
      options.tls = tls;
    }
    return options;
  }
}

/**
 * `data` (lines ending in `\n`) cut at line boundaries into parts of at most `limit` bytes, each
 * a view of `data`; or the length of the first line longer than `limit`; or null when `data` is
 * not line-framed (does not end with `\n`).
 */
export function splitLines(data: Uint8Array, limit: number): Uint8Array[] | number | null {
  if (data.byteLength === 0 || data[data.byteLength - 1] !== NEWLINE) return null;
  const parts: Uint8Array[] = [];
  let start = 0; // of the current part
  let lineStart = 0;
  while (lineStart < data.byteLength) {
    const lineEnd = data.indexOf(NEWLINE, lineStart) + 1; // always found: data ends with \n
    const lineBytes = lineEnd - lineStart;
    if (lineBytes > limit) return lineBytes;
    if (lineEnd - start > limit) {
      parts.push(data.subarray(start, lineStart));
      start = lineStart;
    }
    lineStart = lineEnd;
  }
  parts.push(data.subarray(start));
  return parts;
}

const TIMEOUT: unique symbol = Symbol('timeout');

/** Resolves as `promise` does (an Error when it rejects), or with TIMEOUT after `ms`. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | Error | typeof TIMEOUT> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(TIMEOUT), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        resolve(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}

const ERRNO = /^E[A-Z0-9]+$/;
const AUTH_CODES = new Set(['AUTHORIZATION_VIOLATION', 'BAD_AUTHENTICATION', 'AUTHENTICATION_EXPIRED', 'AUTHENTICATION_TIMEOUT', 'ACCOUNT_EXPIRED', 'BAD_CREDS']);
const GONE_CODES = new Set(['DISCONNECT', 'CONNECTION_CLOSED', 'CONNECTION_DRAINING']);

/** A bounded code and a message for an error of the client, the server or the system. */
export function classify(err: unknown): { code: string; message: string } {
  if (!(err instanceof Error)) return { code: NatsCode.Error, message: String(err) };
  const chained = err instanceof NatsError ? err.chainedError : undefined;
  const errno = (chained as NodeJS.ErrnoException | undefined)?.code ?? (err as NodeJS.ErrnoException).code;
  const natsCode = err instanceof NatsError ? err.code : undefined;
  const detail = chained !== undefined && chained.message !== '' && chained.message !== err.message ? `${err.message}: ${chained.message}` : err.message;
  if (natsCode === undefined && typeof errno === 'string' && ERRNO.test(errno)) return { code: errno, message: detail };
  switch (true) {
    case natsCode === 'CONNECTION_REFUSED':
      return { code: typeof errno === 'string' && ERRNO.test(errno) ? errno : 'ECONNREFUSED', message: detail };
    case natsCode === 'CONNECTION_TIMEOUT' || natsCode === 'TIMEOUT':
      return { code: NatsCode.Timeout, message: detail };
    case natsCode !== undefined && AUTH_CODES.has(natsCode):
      return { code: NatsCode.Auth, message: detail };
    case natsCode === 'TLS':
      return { code: NatsCode.Tls, message: detail };
    case natsCode === 'PERMISSIONS_VIOLATION':
      return { code: NatsCode.Permission, message: detail };
    case natsCode === 'MAX_PAYLOAD_EXCEEDED':
      return { code: NatsCode.MaxPayload, message: detail };
    case natsCode !== undefined && GONE_CODES.has(natsCode):
      return { code: NatsCode.Disconnected, message: 'the connection was lost' };
    case natsCode === '503':
      return { code: NatsCode.NoResponders, message: 'no stream answered for the subject (503 no responders)' };
  }
  const api = apiErrorCode(err);
  if (api === JS_STREAM_MISMATCH) return { code: NatsCode.WrongStream, message: `${detail}: the subject is stored by another stream` };
  if (api === JS_STREAM_NOT_FOUND) return { code: NatsCode.NoStream, message: detail };
  if (api !== undefined) return { code: NatsCode.JetStreamApi, message: `${detail} (err_code ${api})` };
  if (typeof errno === 'string' && ERRNO.test(errno)) return { code: errno, message: detail };
  if (/tls|certificate|self[- ]signed/i.test(detail)) return { code: NatsCode.Tls, message: detail };
  return { code: NatsCode.Error, message: detail };
}

/** The JetStream API `err_code` of an error, if it carries one. */
function apiErrorCode(err: unknown): number | undefined {
  if (!(err instanceof NatsError)) return undefined;
  const api = (err as NatsError & { api_error?: { err_code?: number } }).api_error;
  return typeof api?.err_code === 'number' ? api.err_code : undefined;
}

function secondsToNanos(seconds: number): number {
  return Math.round(seconds * 1e9);
}

const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i;

/** `url` without its credentials. */
function stripCredentials(url: string): string {
  return url.replace(USERINFO, '$1');
}

/** Credentials written in a URL: `user:password@` or `token@`. */
function urlCredentials(url: string): NatsAuthOptions | undefined {
  const m = USERINFO.exec(url);
  if (m === null) return undefined;
  const userinfo = m[2] as string;
  const colon = userinfo.indexOf(':');
  if (colon < 0) return { token: decodeURIComponent(userinfo) };
  return { user: decodeURIComponent(userinfo.slice(0, colon)), password: decodeURIComponent(userinfo.slice(colon + 1)) };
}
