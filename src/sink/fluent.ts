// SPDX-License-Identifier: Apache-2.0
/**
 * The `fluent` sink: writes Fluent Forward protocol v1 messages (made by the `fluent` encoder)
 * over one TCP or TLS connection to a Fluentd or Fluent Bit `forward` input.
 *
 * Format: each message goes on the wire as it is (a msgpack `[tag, entries, option]` array);
 * the sink adds nothing. With `requireAck`, every message must end with the option
 * `chunk: <fixstr>` (the encoder writes it last when built with `requireAck`); the sink reads
 * that id from the message's tail and waits for the server's `{ack: <chunk>}` answer.
 *
 * Delivery: with `requireAck`, at-least-once: a send answers `ok` only once every message of it
 * has been acked by the chunk id it carries; a missing ack within `ackTimeoutSeconds` answers
 * `retry` (code `no_ack`) and closes the connection (the server's state is then unknown; the
 * next send reconnects), so a retried message may be a duplicate. Without it, `ok` means the
 * bytes were handed to the operating system: a connection that breaks afterwards loses them
 * (at-most-once), as the protocol has no other acknowledgement.
 *
 * Invariants: sends are serialised (a FIFO lock held until the send is answered, acks
 * included), so messages reach the server whole and in call order, and each send's messages
 * are coalesced into one write. A send that finds the socket over its high-water mark waits for
 * `'drain'` first. The connection is made on the first send, not in the constructor.
 *
 * The signal: an abort while the send waits (for its turn, the connection, `'drain'`) writes
 * nothing and answers `retry` (`ABORTED`). An abort after the write answers `retry` too: the
 * server may have taken the messages (a later ack for them is ignored).
 *
 * Recovery: a failed connect, a connection error or close, or an ack timeout answers `retry`
 * with the error's code (`ECONNREFUSED`, `ECONNRESET`, `timeout`, `no_ack`, `closed`…). The next
 * send reconnects; after consecutive failed connects it waits with capped exponential backoff
 * (0.25 s doubling to `reconnectMaxSeconds`, with up to 20% jitter): a send during the wait
 * answers `retry` at once with `retryAfterMs` set to what is left, and the last error's code.
 * A message without a chunk id while `requireAck` is set answers `reject` (code `no_chunk`): the
 * encoder and the sink disagree, and resending will not fix it. TLS files are read on the first
 * connect; an unreadable one answers `retry` (code `tls_files`) so a secret mounted late works.
 *
 * `sharedKey` (or `sharedKeyFile`, read on the first connect; unreadable answers `retry` with
 * code `shared_key_file`) runs the spec's HELO/PING/PONG handshake on each connect (no user name or
 * password); the sink also checks the server's PONG digest, so a server that does not know the
 * key is refused (code `auth`, answered `retry`: the server's side may be fixed without
 * touching Strata).
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { hostname as osHostname } from 'node:os';
import { connect as tlsConnect } from 'node:tls';
import { Packr, Unpackr } from 'msgpackr';
import { readFileTls, type ScrapeTlsFiles, type ScrapeTlsOptions } from '../scrape/tls.js';
import { ABORT, raceAbort, SendGate, Serial } from './serial.js';
import {
  ABORTED,
  byteLength,
  describeError,
  errorCode,
  OK,
  reject,
  retry,
  type SendMeta,
  type SendOutcome,
  type Sink,
} from './sink.js';

export interface FluentSinkOptions {
  readonly host: string;
  readonly port: number;
  /** Wait for the server's ack of each message's chunk id (the encoder must write them). */
  readonly requireAck?: boolean;
  /** How long to wait for the acks of one send; default 30. */
  readonly ackTimeoutSeconds?: number;
  /** How long a connect (TCP and TLS handshake) may take; default 10. */
  readonly connectTimeoutSeconds?: number;
  /** Longest wait between reconnect attempts; default 30. */
  readonly reconnectMaxSeconds?: number;
  /** TLS to the server, with PEM file paths; plain TCP when absent. */
  readonly tls?: ScrapeTlsFiles;
  /** Shared key of the server's `<security>` section: runs the handshake on each connect. */
  readonly sharedKey?: string;
  /** A file holding the shared key (trailing whitespace trimmed), read on the first connect. */
  readonly sharedKeyFile?: string;
  /** The `self_hostname` sent in the handshake; default the machine's host name. */
  readonly selfHostname?: string;
}

export const FluentSinkDefaults = {
  requireAck: false,
  ackTimeoutSeconds: 30,
  connectTimeoutSeconds: 10,
  reconnectMaxSeconds: 30,
} as const;

const BACKOFF_BASE_MS = 250;

/** `a5 "chunk"`: the msgpack key the encoder writes before the chunk id. */
const CHUNK_KEY = [0xa5, 0x63, 0x68, 0x75, 0x6e, 0x6b] as const;

/**
 * The chunk id a Forward message ends with (`..."chunk": <fixstr>`), or null. The encoder writes
 * a 24-character id; any fixstr of 1 to 31 characters is accepted.
 */
export function chunkOf(message: Uint8Array): string | null {
  const len = message.length;
  for (let n = 24, tried = 0; tried < 31; tried++, n = (n % 31) + 1) {
    const header = len - n - 1;
    const key = header - CHUNK_KEY.length;
    if (key < 0 || message[header] !== (0xa0 | n)) continue;
    let match = true;
    for (let i = 0; i < CHUNK_KEY.length; i++) {
      if (message[key + i] !== CHUNK_KEY[i]) {
        match = false;
        break;
      }
    }
    if (match) return Buffer.from(message.buffer, message.byteOffset + header + 1, n).toString('latin1');
  }
  return null;
}

/** Why a connection ended, as an outcome's reason and code. */
interface Failure {
  readonly reason: string;
  readonly code: string;
}

/** One live connection: its socket, the acks it waits for and how it ended. */
class Connection {
  readonly socket: Socket;
  /** Waiters for acks, by chunk id. */
  readonly acks = new Map<string, () => void>();
  /** Set once the socket failed or closed; the waiters are told through `onEnd`. */
  ended: Failure | null = null;
  readonly #onEnd = new Set<(failure: Failure) => void>();
  #pending: Buffer | null = null;
  readonly #unpackr = new Unpackr({ useRecords: false });

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', (err) => this.end({ reason: `connection failed: ${describeError(err)}`, code: errorCode(err) ?? 'error' }));
    socket.on('close', () => this.end({ reason: 'the server closed the connection', code: 'closed' }));
  }

  /** Reads acks (`{ack: id}` maps) as they arrive. */
  readAcks(): void {
    this.socket.on('data', (data: Buffer) => {
      const bytes = this.#pending === null ? data : Buffer.concat([this.#pending, data]);
      this.#pending = null;
      try {
        this.#unpackr.unpackMultiple(bytes, (value: unknown) => this.#answer(value));
      } catch (err) {
        const e = err as { incomplete?: boolean; lastPosition?: number };
        if (e.incomplete === true) {
          this.#pending = bytes.subarray(e.lastPosition ?? 0);
        } else {
          this.end({ reason: `the server sent bytes that are not msgpack: ${describeError(err)}`, code: 'protocol' });
          this.socket.destroy();
        }
      }
    });
  }

  #answer(value: unknown): void {
    const ack = typeof value === 'object' && value !== null ? (value as { ack?: unknown }).ack : undefined;
    if (typeof ack !== 'string') return;
    const waiter = this.acks.get(ack);
    if (waiter === undefined) return; // an ack for a send that gave up waiting
    this.acks.delete(ack);
    waiter();
  }

  /** Calls `listener` once when the connection ends (at once if it has). Returns a remover. */
  onEnd(listener: (failure: Failure) => void): () => void {
    if (this.ended !== null) {
      listener(this.ended);
      return () => undefined;
    }
    this.#onEnd.add(listener);
    return () => this.#onEnd.delete(listener);
  }

  end(failure: Failure): void {
    if (this.ended !== null) return;
    this.ended = failure;
    for (const listener of [...this.#onEnd]) listener(failure);
    this.#onEnd.clear();
  }
}

const handshakePackr = new Packr({ useRecords: false });

function sha512hex(...parts: (string | Uint8Array)[]): string {
  const hash = createHash('sha512');
  for (const p of parts) hash.update(p);
  return hash.digest('hex');
}

export class FluentSink implements Sink {
  readonly kind = 'fluent';
  readonly #host: string;
  readonly #port: number;
  readonly #requireAck: boolean;
  readonly #ackTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #reconnectMaxMs: number;
  readonly #tlsFiles: ScrapeTlsFiles | undefined;
  #sharedKey: string | undefined;
  readonly #sharedKeyFile: string | undefined;
  readonly #selfHostname: string;
  #tls: ScrapeTlsOptions | null = null;
  readonly #serial = new Serial();
  readonly #sends = new SendGate();
  #connection: Connection | null = null;
  /** Consecutive failed connects, and when the next may start. */
  #failures = 0;
  #nextAttemptAt = 0;
  #lastFailure: Failure | null = null;

  constructor(options: FluentSinkOptions) {
    this.#host = options.host;
    this.#port = options.port;
    this.#requireAck = options.requireAck ?? FluentSinkDefaults.requireAck;
    this.#ackTimeoutMs = (options.ackTimeoutSeconds ?? FluentSinkDefaults.ackTimeoutSeconds) * 1000;
    this.#connectTimeoutMs = (options.connectTimeoutSeconds ?? FluentSinkDefaults.connectTimeoutSeconds) * 1000;
    this.#reconnectMaxMs = (options.reconnectMaxSeconds ?? FluentSinkDefaults.reconnectMaxSeconds) * 1000;
    this.#tlsFiles = options.tls;
    this.#sharedKey = options.sharedKey;
    this.#sharedKeyFile = options.sharedKeyFile;
    this.#selfHostname = options.selfHostname ?? osHostname();
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal, _meta?: SendMeta): Promise<SendOutcome> {
    if (this.#sends.closed) return Promise.resolve(reject('the fluent sink is closed'));
    return this.#sends.track(this.#send(messages, signal));
  }

  flush(signal: AbortSignal): Promise<void> {
    return this.#sends.flush(signal);
  }

  close(): Promise<void> {
    return this.#sends.close(() => this.#close());
  }

  /** Releases the medium, once every send accepted has settled (SendGate). */
  async #close(): Promise<void> {
    const connection = this.#connection;
    this.#connection = null;
    if (connection === null || connection.ended !== null) return;
    const socket = connection.socket;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => socket.destroy(), 2000);
      socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      socket.end();
    });
  }

  async #send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (signal.aborted) return retry(ABORTED);
    if (messages.length === 0) return OK;
    let chunks: string[] = [];
    if (this.#requireAck) {
      for (let i = 0; i < messages.length; i++) {
        const chunk = chunkOf(messages[i] as Uint8Array);
        if (chunk === null) {
          return reject(
            `message ${i + 1} of ${messages.length} has no chunk id while requireAck is set ` +
              '(the fluent encoder must be built with requireAck too)',
            'no_chunk',
          );
        }
        chunks.push(chunk);
      }
    }
    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    try {
      const connection = await this.#connect(signal);
      if (!(connection instanceof Connection)) return connection;
      const socket = connection.socket;
      if (socket.writableNeedDrain) {
        const drained = await this.#drain(connection, signal);
        if (drained !== null) return drained;
      }
      const acked = this.#requireAck ? this.#awaitAcks(connection, chunks) : null;
      chunks = [];
      const payload = messages.length === 1 ? (messages[0] as Uint8Array) : Buffer.concat(messages, byteLength(messages));
      const written = new Promise<Failure | null>((resolve) => {
        const off = connection.onEnd(resolve);
        socket.write(payload, (err) => {
          off();
          resolve(err ? { reason: `write failed: ${describeError(err)}`, code: errorCode(err) ?? 'error' } : null);
        });
      });
      const outcome = await raceAbort(
        written.then(async (failure) => (failure !== null ? failure : acked === null ? null : await acked.done)),
        signal,
      );
      acked?.cancel();
      if (outcome === ABORT) return retry('aborted after the write; the server may have the messages', undefined, ABORTED);
      if (outcome === null) return OK;
      if (outcome.code === 'no_ack') {
        socket.destroy();
        this.#connection = null;
      }
      return retry(outcome.reason, undefined, outcome.code);
    } finally {
      release();
    }
  }

  /** Waits for the acks of `chunks` on `connection`; `done` resolves null when all came. */
  #awaitAcks(connection: Connection, chunks: readonly string[]): { done: Promise<Failure | null>; cancel: () => void } {
    let cancel = (): void => undefined;
    const done = new Promise<Failure | null>((resolve) => {
      let left = chunks.length;
      const finish = (failure: Failure | null): void => {
        clearTimeout(timer);
        off();
        for (const chunk of chunks) connection.acks.delete(chunk);
        resolve(failure);
      };
      const timer = setTimeout(
        () => finish({ reason: `no ack for ${left} of ${chunks.length} messages within ${this.#ackTimeoutMs / 1000} s`, code: 'no_ack' }),
        this.#ackTimeoutMs,
      );
      const off = connection.onEnd((failure) => finish({ reason: `${failure.reason} before every ack came`, code: failure.code }));
      for (const chunk of chunks) {
        connection.acks.set(chunk, () => {
          left--;
          if (left === 0) finish(null);
        });
      }
      cancel = () => finish({ reason: 'cancelled', code: ABORTED });
    });
    return { done, cancel: () => cancel() };
  }

  /** Waits for `'drain'`; null when drained, else the outcome to answer. */
  async #drain(connection: Connection, signal: AbortSignal): Promise<SendOutcome | null> {
    const socket = connection.socket;
    let off = (): void => undefined;
    const drained = new Promise<Failure | null>((resolve) => {
      const onDrain = (): void => resolve(null);
      socket.once('drain', onDrain);
      const offEnd = connection.onEnd(resolve);
      off = () => {
        socket.off('drain', onDrain);
        offEnd();
      };
    });
    const end = await raceAbort(drained, signal);
    off();
    if (end === ABORT) return retry(ABORTED);
    return end === null ? null : retry(end.reason, undefined, end.code);
  }

  /** The live connection, made now if there is none; or the outcome to answer instead. */
  async #connect(signal: AbortSignal): Promise<Connection | SendOutcome> {
    const current = this.#connection;
    if (current !== null && current.ended === null) return current;
    this.#connection = null;
    const wait = this.#nextAttemptAt - Date.now();
    if (wait > 0 && this.#lastFailure !== null) {
      return retry(`reconnecting in ${wait} ms after: ${this.#lastFailure.reason}`, wait, this.#lastFailure.code);
    }
    if (this.#tlsFiles !== undefined && this.#tls === null) {
      try {
        this.#tls = await readFileTls(this.#tlsFiles);
      } catch (err) {
        return retry(`cannot read the TLS files: ${describeError(err)}`, undefined, 'tls_files');
      }
    }
    if (this.#sharedKeyFile !== undefined && this.#sharedKey === undefined) {
      try {
        this.#sharedKey = (await readFile(this.#sharedKeyFile, 'utf8')).trimEnd();
      } catch (err) {
        return retry(`cannot read sharedKeyFile ${JSON.stringify(this.#sharedKeyFile)}: ${describeError(err)}`, undefined, 'shared_key_file');
      }
    }
    const attempt = this.#open();
    const result = await raceAbort(attempt, signal);
    if (result === ABORT) {
      void attempt.then((c) => {
        if (c instanceof Connection) c.socket.destroy();
      });
      return retry(ABORTED);
    }
    if (result instanceof Connection) {
      this.#failures = 0;
      this.#lastFailure = null;
      this.#connection = result;
      return result;
    }
    this.#failures++;
    const backoff = Math.min(this.#reconnectMaxMs, BACKOFF_BASE_MS * 2 ** (this.#failures - 1));
    this.#nextAttemptAt = Date.now() + Math.round(backoff * (1 + Math.random() * 0.2));
    this.#lastFailure = result;
    return retry(`cannot connect to ${this.#host}:${this.#port}: ${result.reason}`, undefined, result.code);
  }

  /** Connects (TCP, then TLS and the handshake when configured). */
  #open(): Promise<Connection | Failure> {
    return new Promise<Connection | Failure>((resolve) => {
      const tls = this.#tls;
      let socket: Socket;
      if (tls === null) {
        socket = netConnect({ host: this.#host, port: this.#port });
      } else {
        socket = tlsConnect({
          host: this.#host,
          port: this.#port,
          ...(isIP(this.#host) === 0 ? { servername: this.#host } : {}),
          ...(tls.ca === undefined ? {} : { ca: tls.ca }),
          ...(tls.cert === undefined ? {} : { cert: tls.cert }),
          ...(tls.key === undefined ? {} : { key: tls.key }),
          rejectUnauthorized: tls.insecureSkipVerify !== true,
        });
      }
      const connection = new Connection(socket);
      const done = (result: Connection | Failure): void => {
        clearTimeout(timer);
        off();
        if (!(result instanceof Connection)) socket.destroy();
        resolve(result);
      };
      const timer = setTimeout(
        () => done({ reason: `no connection within ${this.#connectTimeoutMs / 1000} s`, code: 'timeout' }),
        this.#connectTimeoutMs,
      );
      const off = connection.onEnd((failure) => done(failure));
      socket.once(tls === null ? 'connect' : 'secureConnect', () => {
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 30_000);
        if (this.#sharedKey === undefined) {
          connection.readAcks();
          done(connection);
          return;
        }
        void this.#handshake(connection, this.#sharedKey).then((failure) => {
          if (failure !== null) {
            done(failure);
            return;
          }
          connection.readAcks();
          done(connection);
        });
      });
    });
  }

  /** The spec's HELO/PING/PONG exchange; null when the server accepted us and proved its key. */
  async #handshake(connection: Connection, sharedKey: string): Promise<Failure | null> {
    const socket = connection.socket;
    const unpackr = new Unpackr({ useRecords: false });
    let buffered = Buffer.alloc(0);
    const next = (): Promise<unknown> =>
      new Promise((resolve) => {
        const tryDecode = (): boolean => {
          try {
            const values = unpackr.unpackMultiple(buffered) as unknown[];
            if (values.length === 0) return false;
            buffered = Buffer.alloc(0);
            resolve(values[0]);
            return true;
          } catch {
            return false;
          }
        };
        const onData = (data: Buffer): void => {
          buffered = Buffer.concat([buffered, data]);
          if (tryDecode()) {
            socket.off('data', onData);
            off();
          }
        };
        const off = connection.onEnd(() => resolve(undefined));
        socket.on('data', onData);
      });
    const helo = await next();
    const heloOptions = Array.isArray(helo) && helo[0] === 'HELO' ? (helo[1] as { nonce?: unknown }) : undefined;
    const nonce = heloOptions?.nonce;
    if (!(nonce instanceof Uint8Array) && typeof nonce !== 'string') {
      return { reason: 'the server did not start the shared-key handshake with HELO', code: 'auth' };
    }
    const salt = randomBytes(16).toString('hex');
    const host = this.#selfHostname;
    socket.write(handshakePackr.pack(['PING', host, salt, sha512hex(salt, host, nonce, sharedKey), '', '']));
    const pong = await next();
    if (!Array.isArray(pong) || pong[0] !== 'PONG') return { reason: 'the server did not answer PING with PONG', code: 'auth' };
    const [, ok, why, serverHost, digest] = pong as [string, unknown, unknown, unknown, unknown];
    if (ok !== true) return { reason: `the server refused the handshake: ${String(why).slice(0, 200)}`, code: 'auth' };
    if (typeof serverHost !== 'string' || digest !== sha512hex(salt, serverHost, nonce, sharedKey)) {
      return { reason: "the server's PONG digest does not match the shared key", code: 'auth' };
    }
    return null;
  }
}
