// SPDX-License-Identifier: Apache-2.0
/**
 * The scrape client: fetches one target's exposition over HTTP/1.1 or HTTPS, inside a worker
 * thread that has many scrapes in flight at once.
 *
 * Protocol: `GET` with `Accept: ACCEPT_HEADER` (OpenMetrics preferred, text 0.0.4 fallback),
 * `Accept-Encoding: gzip`, `User-Agent: strata/<version>` (or `userAgent`) and
 * `X-Prometheus-Scrape-Timeout-Seconds`. Bodies in `gzip` (or `x-gzip`) and `deflate` (zlib
 * wrapped) are inflated as they arrive; any other `Content-Encoding` is refused. Only a
 * 2xx answer is a success. Redirects are not followed (as a 3xx is a failure).
 *
 * Invariants:
 * - Sockets and TLS are asynchronous. A compressed chunk is inflated as it arrives: on this
 *   thread (`./inflate.ts`) when the worker reads at most one other body, else by Node's
 *   streaming zlib on the thread pool (see the response handler); either way in pieces of at
 *   most 64 KiB handed on at once. Without a consumer the chunks are collected and joined once
 *   at the end, never appended to a growing buffer.
 * - Memory per scrape is bounded by `maxBodyBytes` plus one chunk: the limit is checked on
 *   every chunk after decompression (a gzip bomb stops at the limit, having inflated only about
 *   the limit), on every chunk as received (compressed bytes), and against `Content-Length`
 *   before the body is read.
 * - `timeoutMs` is a total deadline, from the call to the last body byte, covering the queue
 *   for a socket, connect, TLS, headers and body: a target that trickles bytes forever is cut
 *   at the deadline, not kept alive by each byte.
 * - A socket is reused (keep-alive, one http and one https Agent per Scraper, `maxSockets`
 *   per origin) only after a complete, successful answer; on any failure the request, the
 *   response, the decoder and the socket are destroyed, so a half-read socket never returns
 *   to the pool.
 * - Every failure is a `ScrapeError` whose `reason` is one of the bounded `ScrapeFailure`
 *   values (classified in `./classify.ts`), and whose message names the URL (redacted by
 *   `src/net/redact.ts`), what happened and the limit or setting that applies. The promise
 *   settles exactly once.
 * - With `auth`, every request carries its current `Authorization` header (`./auth.ts`); a
 *   credential in the URL's user information is then overridden, never sent beside it.
 *
 * Limits: `timeoutMs` (total deadline), `maxBodyBytes` (after decompression, and on the wire),
 * `maxSockets` per origin (default 8; extra requests queue in the Agent, inside the deadline),
 * response headers 16 KiB (Node's default), idle keep-alive sockets closed after 90 s.
 *
 * Recovery: a failed scrape keeps nothing of the body; the caller counts it by `reason` and
 * scrapes the target again on its next interval. The one retry made here is Node's
 * documented keep-alive race: a request on a reused idle socket that the server closed before
 * answering is sent once more on a fresh socket, within the same deadline.
 */
import { constants as bufferConstants } from 'node:buffer';
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { SecureContext } from 'node:tls';
import zlib from 'node:zlib';
import type { LookupFunction } from 'node:net';
import { type Compression, INFLATE_OUTPUT_BYTES, InflateError, type Inflater, InflaterPool } from './inflate.js';
import { ConfigError } from '../errors.js';
import { redactUrl } from '../net/redact.js';
import { ACCEPT_HEADER } from '../parse/format.js';
import type { ScrapeAuth } from './auth.js';
import { BodyTurns, type TurnWaiter } from './body-turns.js';
import { classifyRequestError, classifyResponseError, isReset } from './classify.js';
import { ScrapeError, ScrapeFailure } from './errors.js';
import { type ScrapeTlsOptions, buildSecureContext } from './tls.js';

export { ScrapeError, ScrapeFailure, SCRAPE_ERROR_CODE } from './errors.js';
export { readFileTls, type ScrapeTlsFiles, type ScrapeTlsOptions } from './tls.js';
export { ScrapeAuth, checkScrapeAuthFiles, type ScrapeAuthFiles } from './auth.js';

export interface ScrapeOptions {
  /** Total deadline of one scrape, from the call to the last body byte, in milliseconds. */
  timeoutMs: number;
  /** Largest body accepted, in bytes after decompression; also caps the compressed bytes. */
  maxBodyBytes: number;
  /** PEM contents (not paths); see `readFileTls`. */
  tls?: ScrapeTlsOptions;
  userAgent?: string;
  /** Most sockets open to one origin (host and port); default `DEFAULT_MAX_SOCKETS`. */
  maxSockets?: number;
  /**
   * Most bodies read at once; a scrape whose headers arrived waits its turn (its socket paused,
   * its deadline running). Default `DEFAULT_MAX_BODIES`. Reading a body is CPU work for its
   * consumer (decompressing, parsing): more at once only interleaves them.
   */
  maxBodies?: number;
  /**
   * Inflate compressed bodies on this thread (`./inflate.ts`) while it reads at most one other
   * body (default true); false always uses Node's streaming zlib through the thread pool, as a
   * busier Scraper does (and as does one whose Node lacks what the synchronous inflater needs).
   */
  syncInflate?: boolean;
  /**
   * The credential every request carries (`ScrapeAuth.open(spec.scrape)`). The Scraper owns it
   * from here: `close()` closes it.
   */
  auth?: ScrapeAuth;
  /** Resolves host names; default `dns.lookup` (the system's resolver, as `getaddrinfo`). */
  lookup?: LookupFunction;
}

/**
 * Takes the decompressed body chunk by chunk as it arrives, with the response's Content-Type,
 * instead of the scraper collecting it. A chunk is valid only during the call. A throw fails the
 * scrape with what was thrown (the scrape promise rejects with it, not with a `ScrapeError`).
 */
export type BodyConsumer = (chunk: Buffer, contentType: string | undefined) => void;

export interface ScrapeResult {
  /** The body, decompressed (joined from `chunks` on first use); empty when it was streamed. */
  readonly body: Buffer;
  /** The body as received, in order; empty when it was streamed to a `BodyConsumer`. */
  readonly chunks: readonly Buffer[];
  contentType: string | undefined;
  status: number;
  /** Body bytes as received (compressed, without chunked framing). */
  bytesOnWire: number;
  /** Body bytes after decompression (`body.length`). */
  bytes: number;
  durationMs: number;
}

/** Strata's version as sent in `User-Agent`. */
export const STRATA_VERSION = '0.1.0';
export const DEFAULT_USER_AGENT = `strata/${STRATA_VERSION}`;
export const DEFAULT_MAX_SOCKETS = 8;
/**
 * Bodies read at once by default: a few, as more at once only slow every scrape down (each one
 * later, more of them timed out, more memory held); see `./body-turns.ts`. vmagent likewise
 * bounds the processing of scraped data, not the fetching.
 */
export const DEFAULT_MAX_BODIES = 8;
/** An idle keep-alive socket is closed after this long (Go's `IdleConnTimeout`). */
export const IDLE_SOCKET_TIMEOUT_MS = 90_000;
/** Output chunk of the streaming inflater: the overshoot past the limit is at most this. */
const INFLATE_CHUNK_BYTES = 64 * 1024;
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Output inflated from the wire before the thread returns to its event loop. */
const INFLATE_SLICE_BYTES = 4 * INFLATE_OUTPUT_BYTES;
/** Thrown through the inflater to stop it once the scrape has failed (never escapes). */
const STOP_INFLATING = new Error('scrape settled; inflating stops');

interface ScraperCore {
  readonly timeoutMs: number;
  readonly maxBodyBytes: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly httpAgent: http.Agent;
  readonly httpsAgent: https.Agent;
  readonly inFlight: Set<Exchange>;
  readonly bodies: BodyTurns;
  readonly auth: ScrapeAuth | undefined;
  /** The synchronous inflaters of this Scraper: one output buffer (they run one call at a time), reused zlib handles. */
  readonly inflaters: InflaterPool | undefined;
}

export class Scraper {
  readonly #core: ScraperCore;
  #closed = false;

  constructor(options: ScrapeOptions) {
    const { timeoutMs, maxBodyBytes } = options;
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0 || timeoutMs > MAX_TIMER_MS) {
      throw new ConfigError(
        'scrape.timeoutMs',
        `must be a number of milliseconds in (0, ${MAX_TIMER_MS}], got ${timeoutMs}`,
      );
    }
    if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 1 || maxBodyBytes > bufferConstants.MAX_LENGTH) {
      throw new ConfigError(
        'scrape.maxBodyBytes',
        `must be an integer number of bytes in [1, ${bufferConstants.MAX_LENGTH}], got ${maxBodyBytes}`,
      );
    }
    const maxSockets = options.maxSockets ?? DEFAULT_MAX_SOCKETS;
    if (!Number.isSafeInteger(maxSockets) || maxSockets < 1) {
      throw new ConfigError('scrape.maxSockets', `must be an integer ≥ 1, got ${maxSockets}`);
    }
    const maxBodies = options.maxBodies ?? DEFAULT_MAX_BODIES;
    if (!Number.isSafeInteger(maxBodies) || maxBodies < 1) {
      throw new ConfigError('scrape.maxBodies', `must be an integer ≥ 1, got ${maxBodies}`);
    }
    const userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    if (userAgent.length === 0 || /[^\t\x20-\x7e\x80-\xff]/.test(userAgent)) {
      throw new ConfigError('scrape.userAgent', `must be a non-empty header value, got ${JSON.stringify(userAgent)}`);
    }
    const secureContext: SecureContext | undefined = buildSecureContext(options.tls);
    const agentOptions: http.AgentOptions = {
      keepAlive: true,
      maxSockets,
      maxFreeSockets: maxSockets,
      timeout: IDLE_SOCKET_TIMEOUT_MS,
      scheduling: 'lifo',
      ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
    };
    const httpsOptions: https.AgentOptions = { ...agentOptions };
    if (secureContext !== undefined) httpsOptions.secureContext = secureContext;
    if (options.tls?.insecureSkipVerify === true) httpsOptions.rejectUnauthorized = false;
    this.#core = {
      timeoutMs,
      maxBodyBytes,
      headers: {
        Accept: ACCEPT_HEADER,
        'Accept-Encoding': 'gzip',
        'User-Agent': userAgent,
        'X-Prometheus-Scrape-Timeout-Seconds': String(timeoutMs / 1000),
      },
      httpAgent: new http.Agent(agentOptions),
      httpsAgent: new https.Agent(httpsOptions),
      inFlight: new Set(),
      bodies: new BodyTurns(maxBodies),
      auth: options.auth,
      inflaters: options.syncInflate === false ? undefined : new InflaterPool(Buffer.allocUnsafe(INFLATE_OUTPUT_BYTES)),
    };
  }

  /**
   * Scrapes `url` once. Resolves with the decompressed body, or rejects with a `ScrapeError`;
   * never throws synchronously. `signal` aborts the scrape (reason `aborted`). With `consume`,
   * the body goes to it as it arrives and is not kept: a scrape's chunks then die young instead
   * of living (and being promoted by the GC) until the last byte, which is what makes repeated
   * large scrapes cheap for the garbage collector.
   */
  scrape(url: string, signal?: AbortSignal, consume?: BodyConsumer): Promise<ScrapeResult> {
    return new Promise<ScrapeResult>((resolve, reject) => {
      let target: URL;
      try {
        target = new URL(url);
      } catch (err) {
        reject(invalidUrl(url, 'it is not a valid URL', err));
        return;
      }
      if (target.protocol !== 'http:' && target.protocol !== 'https:') {
        reject(invalidUrl(url, `its scheme ${JSON.stringify(target.protocol.slice(0, -1))} is not http or https`));
        return;
      }
      const display = redactUrl(target);
      if (this.#closed) {
        const message = `scrape of ${display} was aborted: the scraper is closed`;
        reject(new ScrapeError(ScrapeFailure.Aborted, display, message));
        return;
      }
      if (signal?.aborted === true) {
        reject(aborted(display, signal));
        return;
      }
      new Exchange(this.#core, target, display, signal, consume, resolve, reject).start();
    });
  }

  /**
   * Aborts the scrapes in flight (reason `aborted`) and closes every socket. Later scrapes are
   * rejected. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const exchange of [...this.#core.inFlight]) exchange.abort('the scraper is closed');
    this.#core.httpAgent.destroy();
    this.#core.httpsAgent.destroy();
    this.#core.inflaters?.close();
    this.#core.auth?.close();
  }
}

const Phase = {
  Connecting: 'connecting',
  Waiting: 'waiting',
  /** Headers in, waiting for a turn to read the body. */
  Turn: 'turn',
  Body: 'body',
} as const;
type Phase = (typeof Phase)[keyof typeof Phase];

type Decoder = zlib.Gunzip | zlib.Inflate;

/** One scrape in flight: the request, its response, its decoder and its deadline. */
class Exchange implements TurnWaiter {
  readonly #core: ScraperCore;
  readonly #target: URL;
  readonly #url: string;
  readonly #https: boolean;
  readonly #signal: AbortSignal | undefined;
  readonly #consume: BodyConsumer | undefined;
  readonly #resolve: (result: ScrapeResult) => void;
  readonly #reject: (err: unknown) => void;
  readonly #started = performance.now();
  #timer: NodeJS.Timeout | undefined;
  #req: http.ClientRequest | undefined;
  #res: http.IncomingMessage | undefined;
  /** The streaming decoder (thread pool), when the synchronous inflater is not used. */
  #decoder: Decoder | undefined;
  #inflater: Inflater | undefined;
  /** Wire chunks (or their rest) still to inflate, in order. */
  #pending: Uint8Array[] = [];
  /** The inflater stopped at a slice's end; the rest follows on a later turn. */
  #sliced = false;
  /** The response's last byte has arrived. */
  #bodyEnded = false;
  #encoding = '';
  #phase: Phase = Phase.Connecting;
  /** TCP connected (for https, the handshake may still be running). */
  #connected = false;
  #retried = false;
  #settled = false;
  /** Holds one of the core's body-reading turns. */
  #hasTurn = false;
  #status = 0;
  #contentType: string | undefined;
  #chunks: Buffer[] = [];
  #bytes = 0;
  #wire = 0;

  constructor(
    core: ScraperCore,
    target: URL,
    display: string,
    signal: AbortSignal | undefined,
    consume: BodyConsumer | undefined,
    resolve: (result: ScrapeResult) => void,
    reject: (err: unknown) => void,
  ) {
    this.#core = core;
    this.#target = target;
    this.#url = display;
    this.#https = target.protocol === 'https:';
    this.#signal = signal;
    this.#consume = consume;
    this.#resolve = resolve;
    this.#reject = reject;
  }

  start(): void {
    this.#core.inFlight.add(this);
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
    this.#timer = setTimeout(this.#onDeadline, this.#core.timeoutMs);
    this.#send();
  }

  abort(why: string): void {
    this.#fail(new ScrapeError(ScrapeFailure.Aborted, this.#url, `scrape of ${this.#url} was aborted: ${why}`));
  }

  #send(): void {
    this.#phase = Phase.Connecting;
    this.#connected = false;
    let req: http.ClientRequest;
    try {
      req = (this.#https ? https : http).request(this.#target, {
        method: 'GET',
        agent: this.#https ? this.#core.httpsAgent : this.#core.httpAgent,
        headers: this.#core.auth === undefined ? this.#core.headers : this.#core.auth.headers(this.#core.headers),
      });
    } catch (err) {
      this.#fail(this.#classify(err));
      return;
    }
    this.#req = req;
    req.on('socket', (socket: Socket) => this.#onSocket(req, socket));
    req.on('response', (res: http.IncomingMessage) => this.#onResponse(req, res));
    req.on('error', (err: Error) => this.#onRequestError(req, err));
    req.end();
  }

  #onSocket(req: http.ClientRequest, socket: Socket): void {
    if (this.#settled || req !== this.#req) return;
    if (req.reusedSocket || !socket.connecting) {
      // A pooled socket is connected and, for https, past its handshake.
      this.#connected = true;
      this.#phase = Phase.Waiting;
      return;
    }
    socket.once('connect', () => {
      if (req !== this.#req) return;
      this.#connected = true;
      if (!this.#https && this.#phase === Phase.Connecting) this.#phase = Phase.Waiting;
    });
    if (this.#https) {
      socket.once('secureConnect', () => {
        if (req === this.#req && this.#phase === Phase.Connecting) this.#phase = Phase.Waiting;
      });
    }
  }

  #onResponse(req: http.ClientRequest, res: http.IncomingMessage): void {
    if (this.#settled || req !== this.#req) {
      res.destroy();
      return;
    }
    this.#res = res;
    this.#phase = Phase.Body;
    this.#status = res.statusCode ?? 0;
    this.#contentType = res.headers['content-type'];
    res.on('error', (err: Error) => this.#onResponseError(err));
    res.on('close', () => {
      if (!res.complete) this.#onResponseError(undefined);
    });
    if (this.#status < 200 || this.#status > 299) {
      const phrase = res.statusMessage ?? '';
      const text = phrase === '' ? '' : ` (${phrase.slice(0, 64)})`;
      this.#fail(
        new ScrapeError(
          ScrapeFailure.HttpStatus,
          this.#url,
          `scrape of ${this.#url} returned HTTP status ${this.#status}${text}; only 2xx is a success`,
          { status: this.#status },
        ),
      );
      return;
    }
    const encoding = (res.headers['content-encoding'] ?? '').trim().toLowerCase();
    let compression: Compression | undefined;
    if (encoding === 'gzip' || encoding === 'x-gzip') {
      compression = 'gzip';
    } else if (encoding === 'deflate') {
      compression = 'deflate';
    } else if (encoding !== '' && encoding !== 'identity') {
      this.#fail(
        new ScrapeError(
          ScrapeFailure.Decompress,
          this.#url,
          `scrape of ${this.#url} returned Content-Encoding ${JSON.stringify(encoding.slice(0, 64))}, ` +
            'which strata does not decode (it asks for gzip)',
        ),
      );
      return;
    }
    this.#encoding = encoding;
    const declared = res.headers['content-length'];
    if (declared !== undefined) {
      const length = Number(declared);
      if (length > this.#core.maxBodyBytes) {
        this.#fail(
          this.#tooLarge(
            `declared a ${compression === undefined ? '' : `${encoding} `}body of ${length} bytes (Content-Length), ` +
              `over the body limit of ${this.#core.maxBodyBytes} bytes (scrape.maxBodyBytes)`,
          ),
        );
        return;
      }
    }
    const bodies = this.#core.bodies;
    if (compression !== undefined) {
      // A worker reading at most one other body inflates on its own thread (no thread hops, one
      // reused buffer, less memory at the same CPU); a busier one hands inflating to the thread
      // pool, where it runs beside parsing, which scrapes more at saturation.
      const inflaters = this.#core.inflaters;
      this.#inflater = inflaters === undefined || !bodies.quiet ? undefined : inflaters.take(compression);
      if (this.#inflater === undefined) {
        const options = { chunkSize: INFLATE_CHUNK_BYTES };
        this.#decoder = compression === 'gzip' ? zlib.createGunzip(options) : zlib.createInflate(options);
      }
    }
    if (bodies.acquire(this)) {
      this.#hasTurn = true;
      this.#readBody(res);
    } else {
      // The response stays paused (no 'data' listener yet) until a turn frees up.
      this.#phase = Phase.Turn;
    }
  }

  /** A turn handed to this scrape while it waited: reads the body, unless it has settled. */
  takeTurn(): boolean {
    if (this.#settled) return false;
    this.#hasTurn = true;
    if (this.#res !== undefined) {
      this.#phase = Phase.Body;
      this.#readBody(this.#res);
    }
    return true;
  }

  #readBody(res: http.IncomingMessage): void {
    const decoder = this.#decoder;
    if (decoder !== undefined) {
      decoder.on('data', (chunk: Buffer) => this.#onBody(chunk));
      decoder.on('end', () => this.#finish());
      decoder.on('error', (err: Error) => this.#onDecodeError(err));
      decoder.on('drain', () => {
        if (!this.#settled) res.resume();
      });
    }
    res.on('data', (chunk: Buffer) => this.#onWire(chunk));
    res.on('end', () => {
      if (this.#settled) return;
      this.#bodyEnded = true;
      // A slice still to inflate ends the body when it is done.
      if (!this.#sliced) this.#endBody();
    });
  }

  /** The whole body has arrived (and, with the synchronous inflater, has been inflated). */
  #endBody(): void {
    if (this.#decoder !== undefined) {
      this.#decoder.end();
      return;
    }
    if (this.#inflater !== undefined) {
      try {
        this.#inflater.end(this.#onPiece);
      } catch (err) {
        this.#onInflateError(err);
        return;
      }
    }
    this.#finish();
  }

  #onWire(chunk: Buffer): void {
    if (this.#settled) return;
    this.#wire += chunk.length;
    const decoder = this.#decoder;
    const inflater = this.#inflater;
    if (decoder === undefined && inflater === undefined) {
      this.#onBody(chunk);
      return;
    }
    if (this.#wire > this.#core.maxBodyBytes) {
      this.#fail(
        this.#tooLarge(
          `exceeded the body limit of ${this.#core.maxBodyBytes} bytes (scrape.maxBodyBytes) ` +
            `in ${this.#encoding} bytes on the wire`,
        ),
      );
      return;
    }
    if (inflater !== undefined) {
      this.#pending.push(chunk);
      if (!this.#sliced) this.#pump(inflater);
    } else if (decoder !== undefined && !decoder.write(chunk)) this.#res?.pause();
  }

  /**
   * Inflates the wire chunks queued in `#pending`, in order, in slices of `INFLATE_SLICE_BYTES`
   * of output: past a slice it returns to the event loop with the response paused and goes on
   * in a later turn, so that one chunk (of a gzip bomb, say) cannot hold this thread's other
   * scrapes and their deadlines for long.
   */
  #pump(inflater: Inflater): void {
    const pending = this.#pending;
    const input = pending[0];
    if (input !== undefined) {
      let rest: Uint8Array | undefined;
      try {
        rest = inflater.write(input, this.#onPiece, INFLATE_SLICE_BYTES);
      } catch (err) {
        this.#onInflateError(err);
        return;
      }
      if (rest === undefined) pending.shift();
      else pending[0] = rest;
      if (pending.length > 0) {
        if (!this.#sliced) {
          this.#sliced = true;
          this.#res?.pause();
        }
        setImmediate(() => {
          if (!this.#settled) this.#pump(inflater);
        });
        return;
      }
    }
    if (this.#sliced) {
      this.#sliced = false;
      if (this.#bodyEnded) this.#endBody();
      else this.#res?.resume();
    }
  }

  /** A piece of inflated body, in the shared output buffer: valid only during this call. */
  readonly #onPiece = (piece: Buffer): void => {
    this.#onBody(piece, true);
    if (this.#settled) throw STOP_INFLATING;
  };

  #onInflateError(err: unknown): void {
    if (this.#settled) return; // stopped by #onPiece, or failed already
    if (err instanceof InflateError) this.#onDecodeError(err);
    else this.#fail(err);
  }

  /** `shared`: the chunk's memory is reused after this call, so what is kept is copied. */
  #onBody(chunk: Buffer, shared = false): void {
    if (this.#settled) return;
    const bytes = this.#bytes + chunk.length;
    if (bytes > this.#core.maxBodyBytes) {
      const after = this.#encoding === '' || this.#encoding === 'identity' ? '' : ' after decompression';
      this.#fail(
        this.#tooLarge(`exceeded the body limit of ${this.#core.maxBodyBytes} bytes (scrape.maxBodyBytes)${after}`),
      );
      return;
    }
    this.#bytes = bytes;
    if (this.#consume === undefined) {
      this.#chunks.push(shared ? Buffer.from(chunk) : chunk);
      return;
    }
    try {
      this.#consume(chunk, this.#contentType);
    } catch (err) {
      this.#fail(err);
    }
  }

  #finish(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#cleanup();
    // The decoder can end before the wire does (bytes after the gzip trailer): drop the rest
    // and the socket rather than read an unbounded tail with no deadline.
    if (this.#res !== undefined && !this.#res.readableEnded) this.#req?.destroy();
    const chunks = this.#chunks;
    this.#chunks = [];
    // A streamed body was handed out as it came: nothing is kept.
    const total = this.#consume === undefined ? this.#bytes : 0;
    let body: Buffer | undefined;
    this.#resolve({
      get body(): Buffer {
        body ??= chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, total);
        return body;
      },
      chunks,
      contentType: this.#contentType,
      status: this.#status,
      bytesOnWire: this.#wire,
      bytes: this.#bytes,
      durationMs: performance.now() - this.#started,
    });
  }

  #onRequestError(req: http.ClientRequest, err: Error): void {
    if (this.#settled || req !== this.#req) return;
    // A socket error after the headers reaches the request first, the response after.
    if (this.#res !== undefined) {
      this.#onResponseError(err);
      return;
    }
    // Node's keep-alive race: the server closed an idle pooled socket as this request went out.
    // A GET that got no answer is safe to send again, once, on a fresh socket.
    if (
      !this.#retried &&
      req.reusedSocket &&
      this.#res === undefined &&
      isReset(err) &&
      performance.now() - this.#started < this.#core.timeoutMs
    ) {
      this.#retried = true;
      req.destroy();
      this.#send();
      return;
    }
    this.#fail(this.#classify(err));
  }

  #onResponseError(err: Error | undefined): void {
    if (this.#settled) return;
    this.#fail(classifyResponseError(err, this.#url, this.#wire));
  }

  #onDecodeError(err: Error): void {
    if (this.#settled) return;
    this.#fail(
      new ScrapeError(
        ScrapeFailure.Decompress,
        this.#url,
        `scrape of ${this.#url} returned a ${this.#encoding} body that cannot be decompressed after ` +
          `${this.#wire} bytes on the wire: ${err.message}`,
        { cause: err },
      ),
    );
  }

  readonly #onDeadline = (): void => {
    this.#timer = undefined;
    if (this.#settled) return;
    const what =
      this.#phase === Phase.Connecting
        ? this.#connected
          ? 'during the TLS handshake'
          : 'while connecting'
        : this.#phase === Phase.Waiting
          ? 'while waiting for the response headers'
          : this.#phase === Phase.Turn
            ? `while waiting its turn to read the body (at most ${this.#core.bodies.limit} are read at once)`
            : `while reading the body, after ${this.#wire} bytes on the wire`;
    this.#fail(
      new ScrapeError(
        ScrapeFailure.Timeout,
        this.#url,
        `scrape of ${this.#url} exceeded the deadline of ${this.#core.timeoutMs} ms (scrape.timeoutMs) ${what}`,
      ),
    );
  };

  readonly #onAbort = (): void => {
    if (this.#settled || this.#signal === undefined) return;
    this.#fail(aborted(this.#url, this.#signal));
  };

  #tooLarge(what: string): ScrapeError {
    return new ScrapeError(ScrapeFailure.BodyTooLarge, this.#url, `scrape of ${this.#url} ${what}`);
  }

  #classify(err: unknown): ScrapeError {
    return classifyRequestError(err, {
      url: this.#url,
      host: this.#target.hostname,
      https: this.#https,
      connecting: this.#phase === Phase.Connecting,
      connected: this.#connected,
    });
  }

  #fail(err: unknown): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#cleanup();
    this.#chunks = [];
    this.#pending = [];
    // Destroying the request destroys its socket: a half-read socket never returns to the pool.
    this.#decoder?.destroy();
    this.#inflater?.close();
    this.#res?.destroy();
    this.#req?.destroy();
    this.#reject(err);
  }

  #cleanup(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#core.inFlight.delete(this);
    if (this.#hasTurn) {
      this.#hasTurn = false;
      this.#core.bodies.release();
    } else if (this.#phase === Phase.Turn) {
      this.#core.bodies.withdraw(this);
    }
  }
}

function invalidUrl(url: string, why: string, cause?: unknown): ScrapeError {
  const shown = JSON.stringify(url.length > 256 ? `${url.slice(0, 256)}…` : url);
  return new ScrapeError(
    ScrapeFailure.InvalidUrl,
    shown,
    `scrape of ${shown} was refused: ${why}`,
    cause === undefined ? undefined : { cause },
  );
}

function aborted(url: string, signal: AbortSignal): ScrapeError {
  const reason: unknown = signal.reason;
  const why = reason instanceof Error ? reason.message : reason === undefined ? 'aborted' : String(reason);
  return new ScrapeError(ScrapeFailure.Aborted, url, `scrape of ${url} was aborted: ${why}`, { cause: reason });
}
