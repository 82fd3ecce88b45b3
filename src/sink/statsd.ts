// SPDX-License-Identifier: Apache-2.0
/**
 * The `statsd` sink: carries the statsd encoder's lines to a statsd daemon (etsy statsd, the
 * Datadog agent's DogStatsD, Telegraf's statsd input) over UDP (default) or TCP. The tag style
 * (DogStatsD or Telegraf) is the encoder's business; the sink only moves lines.
 *
 * Format: a message is newline-separated lines with no trailing newline (see
 * `src/encode/statsd.ts`).
 * - UDP: lines go in datagrams of at most `maxDatagramBytes` bytes (default 1432: one datagram
 *   on a 1500-byte MTU), joined by `\n`. Whole messages are packed together while they fit
 *   (several small messages share one datagram: one syscall, not one per message); a message
 *   larger than the limit is split at line boundaries. A single line larger than the limit
 *   cannot be sent whole and a partial line would be read as a different value, so it is left
 *   out and counted (`tooLargeLines`, `lastTooLarge`: add them to the drop counter with reason
 *   `too_large`); the rest of the send still goes. A send in which every line was too large
 *   answers `reject` with code `too_large`.
 * - TCP: each message is written followed by `\n` (statsd's TCP servers read up to the last
 *   newline), one write per send; no size limit applies.
 *
 * Delivery: UDP has no acknowledgement. `ok` means every datagram was handed to the operating
 * system (at-most-once): a daemon that is down loses them. The socket is connected, so the
 * kernel reports an ICMP "port unreachable" for an earlier datagram as an `ECONNREFUSED` error
 * on the socket; the next send then writes nothing and answers `retry` with that code, so a
 * daemon that is down shows in the retry counters rather than nowhere. TCP: `ok` means the bytes
 * were handed to the operating system (also at-most-once past that point).
 *
 * Invariants: sends are serialised (a FIFO lock), so datagrams and TCP writes go out whole and
 * in call order. The socket is made on the first send. The signal: an abort while a send waits
 * for its turn or the connection writes nothing and answers `retry` (`ABORTED`); UDP datagrams
 * cannot be recalled once handed over, so an abort after that changes nothing.
 *
 * Recovery: a socket error answers `retry` with the errno as code and drops the socket; the next
 * send makes a new one. TCP reconnects wait with capped exponential backoff after consecutive
 * failed connects (0.25 s doubling to 30 s, with up to 20% jitter); a send during the wait
 * answers `retry` at once with `retryAfterMs` and the last error's code.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { connect as netConnect, type Socket } from 'node:net';
import { ABORT, raceAbort, SendGate, Serial } from './serial.js';
import {
  ABORTED,
  describeError,
  errorCode,
  OK,
  reject,
  retry,
  type SendMeta,
  type SendOutcome,
  type Sink,
} from './sink.js';

export const StatsdProtocol = { Udp: 'udp', Tcp: 'tcp' } as const;
export type StatsdProtocol = (typeof StatsdProtocol)[keyof typeof StatsdProtocol];

export interface StatsdSinkOptions {
  readonly host: string;
  readonly port: number;
  /** `udp` (default) or `tcp`. */
  readonly protocol?: StatsdProtocol;
  /** Largest UDP datagram, in bytes; default 1432. Not used over TCP. */
  readonly maxDatagramBytes?: number;
  /** How long a TCP connect may take; default 10. */
  readonly connectTimeoutSeconds?: number;
}

export const StatsdSinkDefaults = {
  protocol: StatsdProtocol.Udp,
  maxDatagramBytes: 1432,
  connectTimeoutSeconds: 10,
} as const;

/** The largest UDP payload over IPv4. */
export const MAX_UDP_PAYLOAD = 65_507;

const NEWLINE = 0x0a;
const NEWLINE_BYTES = Buffer.from('\n');
const BACKOFF_BASE_MS = 250;
const BACKOFF_MAX_MS = 30_000;

/**
 * Packs `messages` into datagrams of at most `max` bytes (each an array of parts to send with
 * one `send`), splitting a message at newlines only when it does not fit whole. Returns the
 * datagrams and the number of lines longer than `max`, which are left out.
 */
export function packDatagrams(messages: readonly Uint8Array[], max: number): { datagrams: Uint8Array[][]; tooLarge: number } {
  const datagrams: Uint8Array[][] = [];
  let current: Uint8Array[] = [];
  let size = 0;
  let tooLarge = 0;
  const add = (piece: Uint8Array): void => {
    if (piece.length === 0) return;
    if (size > 0 && size + 1 + piece.length <= max) {
      current.push(NEWLINE_BYTES, piece);
      size += 1 + piece.length;
      return;
    }
    if (size > 0) datagrams.push(current);
    current = [piece];
    size = piece.length;
  };
  for (const message of messages) {
    if (message.length <= max) {
      add(message);
      continue;
    }
    let start = 0;
    while (start <= message.length) {
      let end = message.indexOf(NEWLINE, start);
      if (end === -1) end = message.length;
      if (end - start > max) tooLarge++;
      else add(message.subarray(start, end));
      start = end + 1;
    }
  }
  if (size > 0) datagrams.push(current);
  return { datagrams, tooLarge };
}

export class StatsdSink implements Sink {
  readonly kind = 'statsd';
  readonly #host: string;
  readonly #port: number;
  readonly #protocol: StatsdProtocol;
  readonly #maxDatagramBytes: number;
  readonly #connectTimeoutMs: number;
  readonly #serial = new Serial();
  readonly #sends = new SendGate();
  #udp: UdpSocket | null = null;
  /** An error the UDP socket reported since the last send (ICMP refused, mostly). */
  #udpError: Error | null = null;
  #tcp: Socket | null = null;
  #tcpError: Error | null = null;
  #failures = 0;
  #nextAttemptAt = 0;
  #lastFailure: { reason: string; code: string } | null = null;
  #tooLargeLines = 0;
  #lastTooLarge = 0;

  constructor(options: StatsdSinkOptions) {
    this.#host = options.host;
    this.#port = options.port;
    this.#protocol = options.protocol ?? StatsdSinkDefaults.protocol;
    this.#maxDatagramBytes = options.maxDatagramBytes ?? StatsdSinkDefaults.maxDatagramBytes;
    this.#connectTimeoutMs = (options.connectTimeoutSeconds ?? StatsdSinkDefaults.connectTimeoutSeconds) * 1000;
  }

  /** Lines left out since the sink was made because each alone was over `maxDatagramBytes`. */
  get tooLargeLines(): number {
    return this.#tooLargeLines;
  }

  /** Lines left out by the latest send for the same reason. */
  get lastTooLarge(): number {
    return this.#lastTooLarge;
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal, _meta?: SendMeta): Promise<SendOutcome> {
    if (this.#sends.closed) return Promise.resolve(reject('the statsd sink is closed'));
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
    const udp = this.#udp;
    this.#udp = null;
    if (udp !== null) await new Promise<void>((resolve) => udp.close(() => resolve()));
    const tcp = this.#tcp;
    this.#tcp = null;
    if (tcp !== null && !tcp.destroyed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => tcp.destroy(), 2000);
        tcp.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        tcp.end();
      });
    }
  }

  async #send(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    if (signal.aborted) return retry(ABORTED);
    this.#lastTooLarge = 0;
    if (messages.length === 0) return OK;
    const release = await this.#serial.acquire(signal);
    if (release === null) return retry(ABORTED);
    try {
      return this.#protocol === StatsdProtocol.Udp ? await this.#sendUdp(messages, signal) : await this.#sendTcp(messages, signal);
    } finally {
      release();
    }
  }

  async #sendUdp(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    const { datagrams, tooLarge } = packDatagrams(messages, this.#maxDatagramBytes);
    this.#lastTooLarge = tooLarge;
    this.#tooLargeLines += tooLarge;
    if (datagrams.length === 0) {
      return reject(
        `every line of the send is over maxDatagramBytes (${this.#maxDatagramBytes} bytes) and was left out`,
        'too_large',
      );
    }
    const socket = await raceAbort(this.#udpSocket(), signal);
    if (socket === ABORT) return retry(ABORTED);
    if ('result' in socket) return socket;
    const earlier = this.#udpError;
    if (earlier !== null) {
      this.#udpError = null;
      return retry(`statsd at ${this.#host}:${this.#port}: ${describeError(earlier)}`, undefined, errorCode(earlier) ?? 'error');
    }
    const sent = datagrams.map(
      (parts) =>
        new Promise<Error | null>((resolve) => {
          socket.send(parts, (err) => resolve(err ?? null));
        }),
    );
    const errors = (await Promise.all(sent)).filter((e): e is Error => e !== null);
    const first = errors[0];
    if (first === undefined) return OK;
    this.#dropUdp();
    return retry(`statsd at ${this.#host}:${this.#port}: send failed: ${describeError(first)}`, undefined, errorCode(first) ?? 'error');
  }

  /** The connected UDP socket, made now if there is none; or the outcome to answer instead. */
  async #udpSocket(): Promise<UdpSocket | SendOutcome> {
    if (this.#udp !== null) return this.#udp;
    let address: { address: string; family: number };
    try {
      address = await lookup(this.#host);
    } catch (err) {
      return retry(`cannot resolve statsd host ${JSON.stringify(this.#host)}: ${describeError(err)}`, undefined, errorCode(err) ?? 'dns');
    }
    const socket = createSocket(address.family === 6 ? 'udp6' : 'udp4');
    socket.on('error', (err) => {
      this.#udpError = err;
    });
    const connected = await new Promise<Error | null>((resolve) => {
      const onError = (err: Error): void => resolve(err);
      socket.once('error', onError);
      socket.connect(this.#port, address.address, () => {
        socket.off('error', onError);
        resolve(null);
      });
    });
    if (connected !== null) {
      socket.close();
      return retry(`cannot open a UDP socket to ${this.#host}:${this.#port}: ${describeError(connected)}`, undefined, errorCode(connected) ?? 'error');
    }
    this.#udpError = null;
    this.#udp = socket;
    return socket;
  }

  #dropUdp(): void {
    const udp = this.#udp;
    this.#udp = null;
    udp?.close();
  }

  async #sendTcp(messages: readonly Uint8Array[], signal: AbortSignal): Promise<SendOutcome> {
    const socket = await this.#tcpSocket(signal);
    if ('result' in socket) return socket;
    const parts: Uint8Array[] = [];
    let length = 0;
    for (const m of messages) {
      if (m.length === 0) continue;
      parts.push(m);
      length += m.length;
      if (m[m.length - 1] !== NEWLINE) {
        parts.push(NEWLINE_BYTES);
        length += 1;
      }
    }
    if (length === 0) return OK;
    if (socket.writableNeedDrain) {
      const drained = await raceAbort(
        new Promise<void>((resolve) => {
          socket.once('drain', resolve);
          socket.once('close', resolve);
        }),
        signal,
      );
      if (drained === ABORT) return retry(ABORTED);
    }
    const written = await new Promise<Error | null>((resolve) => {
      if (socket.destroyed) {
        resolve(this.#tcpError ?? new Error('the connection closed'));
        return;
      }
      socket.write(Buffer.concat(parts, length), (err) => resolve(err ?? null));
    });
    if (written === null) return OK;
    this.#dropTcp();
    return retry(`statsd at ${this.#host}:${this.#port}: write failed: ${describeError(written)}`, undefined, errorCode(written) ?? 'error');
  }

  /** The live TCP connection, made now if there is none; or the outcome to answer instead. */
  async #tcpSocket(signal: AbortSignal): Promise<Socket | SendOutcome> {
    const current = this.#tcp;
    if (current !== null && !current.destroyed && this.#tcpError === null) return current;
    this.#dropTcp();
    const wait = this.#nextAttemptAt - Date.now();
    if (wait > 0 && this.#lastFailure !== null) {
      return retry(`reconnecting in ${wait} ms after: ${this.#lastFailure.reason}`, wait, this.#lastFailure.code);
    }
    const socket = netConnect({ host: this.#host, port: this.#port });
    const opened = new Promise<Error | null>((resolve) => {
      const timer = setTimeout(() => resolve(Object.assign(new Error(`no connection within ${this.#connectTimeoutMs / 1000} s`), { code: 'timeout' })), this.#connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        resolve(null);
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        resolve(err);
      });
    });
    const result = await raceAbort(opened, signal);
    if (result === ABORT) {
      socket.destroy();
      return retry(ABORTED);
    }
    if (result !== null) {
      socket.destroy();
      this.#failures++;
      const backoff = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (this.#failures - 1));
      this.#nextAttemptAt = Date.now() + Math.round(backoff * (1 + Math.random() * 0.2));
      this.#lastFailure = { reason: describeError(result), code: errorCode(result) ?? 'error' };
      return retry(`cannot connect to statsd at ${this.#host}:${this.#port}: ${describeError(result)}`, undefined, this.#lastFailure.code);
    }
    this.#failures = 0;
    this.#lastFailure = null;
    this.#tcpError = null;
    socket.setNoDelay(true);
    socket.on('error', (err) => {
      this.#tcpError = err;
    });
    // statsd never answers; read and discard anything so the socket is not left paused.
    socket.resume();
    this.#tcp = socket;
    return socket;
  }

  #dropTcp(): void {
    const tcp = this.#tcp;
    this.#tcp = null;
    this.#tcpError = null;
    tcp?.destroy();
  }
}
