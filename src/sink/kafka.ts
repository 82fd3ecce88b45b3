// SPDX-License-Identifier: Apache-2.0
/**
 * The Kafka sink: each send becomes Kafka records produced to one topic through `kafkajs`
 * (the client stays behind this file: nothing else in src/ imports it).
 *
 * Connection: the bootstrap `brokers`, optionally TLS (`tls`, PEM contents) and SASL (plain,
 * scram-sha-256, scram-sha-512); the producer connects on the first send, and again after a
 * connection failure.
 *
 * Records. `key: none` (default): each message is one record, its value the message's bytes, no
 * key (kafkajs spreads keyless records round-robin over the partitions, so order holds only
 * within a partition: a topic of one partition keeps every message in order). `key: name` or `key: series`: the
 * message must be newline-delimited JSON from the json encoder; each line becomes its own record
 * (the line without its `\n`, one JSON object) keyed by the sample's metric name, or by its
 * series (the line's bytes up to the top-level `,"timestamp":`, that is `{"name":…,"tags":{…}`,
 * tags sorted by the encoder), so the murmur2 partitioner (Java's default) keeps every sample
 * of a name or a series in one partition, in order. Splitting is what makes a key per sample
 * possible: a message mixes series, and one key per message would scatter a series over
 * partitions. A message that is not such JSON is rejected (code `not_ndjson`).
 * Every record carries the header `strata-msg-id` with its message's id (`meta.ids`), and per-line
 * records also `strata-line` (the line's index in the message), so (id, line) is unique and a
 * consumer can drop replays.
 *
 * Ordering and batching. Sends are queued in call order; one produce at a time takes from the
 * front as many whole sends as fit in `batch.maxRecords` records and `batch.maxBytes` bytes (a
 * send larger than that goes alone, split into several produces in order). Produces never
 * overlap, so a partition receives the records in call order, retries included.
 *
 * Outcomes. `ok` once the broker acknowledged every record of the send (acks=all: every
 * in-sync replica has it; acks=1: the leader; acks=0: the request was written to the socket).
 * A retriable broker error (LEADER_NOT_AVAILABLE, REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS, …), a
 * network error or a timeout answers `retry` with a bounded code (the Kafka error name
 * lowercased, the errno, `request_timeout`, `connection_closed`, `metadata`); a non-retriable one
 * (MESSAGE_TOO_LARGE, TOPIC_AUTHORIZATION_FAILED, SASL authentication) answers `reject`. When the
 * idempotent producer's state is refused (OUT_OF_ORDER_SEQUENCE_NUMBER, INVALID_PRODUCER_EPOCH,
 * UNKNOWN_PRODUCER_ID) the answer is `retry` and the producer is made again (a new producer id).
 * A send that failed part-way may have stored some records: at-least-once; with `idempotent`
 * the retried send carries the same sequence numbers (kafkajs rolls them back on failure) and
 * the broker drops what it already has.
 *
 * Retries. Only the buffer layer retries. kafkajs is told `retries: 0` for the client and the
 * producer; the idempotent producer refuses fewer than one retry, so it gets exactly one, after
 * 100-1000 ms, inside the same send (same sequence numbers, so it cannot duplicate).
 *
 * Logs. kafkajs logs at ERROR level only, through a rate-limited stderr line (`log` option):
 * the first line, then at most one a minute with the count of lines left out. The sink's
 * outcomes already carry every failure.
 *
 * The signal: a send still queued when its signal aborts leaves the queue and answers `retry`
 * (`ABORTED`); one already in a produce answers `retry` at once (`ABORTED_IN_FLIGHT`): the
 * broker may still store its records.
 *
 * `close()` stops accepting sends, waits for the queued ones (each ends in an outcome within
 * the timeouts), then disconnects.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import kafkajs from 'kafkajs';
import type { KafkaConfig, Message, Producer, SASLOptions } from 'kafkajs';
import { ConfigError } from '../errors.js';
import { ABORT, raceAbort } from './serial.js';
import { ABORTED, OK, reject, retry, type SendMeta, type SendOutcome, type Sink } from './sink.js';

const { CompressionTypes, Kafka, logLevel, Partitioners } = kafkajs;

export const KafkaAcks = { All: 'all', Leader: 1, None: 0 } as const;
export type KafkaAcks = (typeof KafkaAcks)[keyof typeof KafkaAcks];
export type KafkaKey = 'none' | 'name' | 'series';
export type KafkaCompression = 'none' | 'gzip';
export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export const MSG_ID_HEADER = 'strata-msg-id';
export const LINE_HEADER = 'strata-line';
export const ABORTED_IN_FLIGHT = 'aborted while the records were in flight; the broker may still store them';

/**
 * kafkajs groups the records of one produce by partition in time quadratic in their number
 * (it copies the partition's array for every record), so a produce carries at most this many by
 * default.
 */
export const KAFKA_DEFAULT_MAX_RECORDS = 1000;
/** Below the broker's default `message.max.bytes` (1 MiB) with room for the batch framing. */
export const KAFKA_DEFAULT_MAX_BYTES = 900 * 1024;
export const KAFKA_DEFAULT_TIMEOUT_MS = 30_000;
const LOG_EVERY_MS = 60_000;

export interface KafkaSinkOptions {
  /** Bootstrap brokers, `host:port`. */
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly clientId?: string;
  readonly acks?: KafkaAcks;
  readonly compression?: KafkaCompression;
  readonly key?: KafkaKey;
  readonly sasl?: { readonly mechanism: KafkaSaslMechanism; readonly username: string; readonly password: string };
  /** TLS: PEM contents (not paths); `{}` is TLS with the system's CAs. */
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly insecureSkipVerify?: boolean };
  readonly idempotent?: boolean;
  readonly batch?: { readonly maxRecords?: number; readonly maxBytes?: number };
  /** Connect, request and acknowledgement timeout. */
  readonly timeoutMs?: number;
  /** Where kafkajs's error lines go (already rate-limited); stderr by default. */
  readonly log?: (line: string) => void;
}

/** `output.kafka` as the Collector resource gives it (files by path). */
export interface KafkaOutput {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly clientId: string;
  readonly acks: KafkaAcks;
  readonly compression: KafkaCompression;
  readonly key: KafkaKey;
  readonly sasl?: { readonly mechanism: KafkaSaslMechanism; readonly username: string; readonly passwordFile: string };
  readonly tls?: { readonly ca?: string; readonly cert?: string; readonly key?: string; readonly insecureSkipVerify: boolean };
  readonly idempotent: boolean;
  readonly batch: { readonly maxRecords: number; readonly maxBytes: number };
  readonly timeoutSeconds: number;
}

/** Reads the files `output.kafka` names; a file that cannot be read is a ConfigError at its field. */
export function kafkaSinkOptions(output: KafkaOutput, field = 'output.kafka'): KafkaSinkOptions {
  const read = (path: string, at: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      throw new ConfigError(`${field}.${at}`, `cannot read ${JSON.stringify(path)}: ${(err as Error).message}`);
    }
  };
  const { sasl, tls } = output;
  return {
    brokers: output.brokers,
    topic: output.topic,
    clientId: output.clientId,
    acks: output.acks,
    compression: output.compression,
    key: output.key,
    idempotent: output.idempotent,
    batch: output.batch,
    timeoutMs: output.timeoutSeconds * 1000,
    ...(sasl === undefined ? {} : { sasl: { mechanism: sasl.mechanism, username: sasl.username, password: read(sasl.passwordFile, 'sasl.passwordFile').trim() } }),
    ...(tls === undefined
      ? {}
      : {
          tls: {
            insecureSkipVerify: tls.insecureSkipVerify,
            ...(tls.ca === undefined ? {} : { ca: read(tls.ca, 'tls.ca') }),
            ...(tls.cert === undefined ? {} : { cert: read(tls.cert, 'tls.cert') }),
            ...(tls.key === undefined ? {} : { key: read(tls.key, 'tls.key') }),
          },
        }),
  };
}

/** One line, at most once a minute, with the count of lines left out. */
export function rateLimited(write: (line: string) => void, everyMs = LOG_EVERY_MS, now: () => number = Date.now): (line: string) => void {
  let last = -Infinity;
  let skipped = 0;
  return (line) => {
    const t = now();
    if (t - last < everyMs) {
      skipped++;
      return;
    }
    last = t;
    write(skipped === 0 ? line : `${line} (${skipped} more kafka client lines left out)`);
    skipped = 0;
  };
}

interface Pending {
  readonly records: Message[];
  readonly bytes: number;
  readonly settle: (outcome: SendOutcome) => void;
  inFlight: boolean;
  done: boolean;
}

/** What an outcome needs from a failure. */
interface Failure {
  readonly retriable: boolean;
  readonly code: string;
  readonly reason: string;
  /** The idempotent producer's state was refused: make a new producer. */
  readonly resetProducer: boolean;
}

const PRODUCER_STATE_ERRORS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID', 'INVALID_PRODUCER_ID_MAPPING']);
const CODE_WORD = /^[A-Za-z][A-Za-z0-9_]{0,47}$/;

export class KafkaSink implements Sink {
  readonly kind = 'kafka';

  readonly #topic: string;
  readonly #acks: -1 | 0 | 1;
  readonly #compression: number;
  readonly #key: KafkaKey;
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #timeoutMs: number;
  readonly #idempotent: boolean;
  readonly #where: string;
  readonly #kafka: InstanceType<typeof Kafka>;
  #producer: Producer;
  #connected = false;
  #closed = false;
  readonly #queue: Pending[] = [];
  readonly #unsettled = new Set<Promise<SendOutcome>>();
  #pumping = false;

  constructor(options: KafkaSinkOptions) {
    if (options.brokers.length === 0) throw new ConfigError('output.kafka.brokers', 'must not be empty');
    this.#topic = options.topic;
    this.#acks = options.acks === undefined || options.acks === 'all' ? -1 : options.acks;
    this.#compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
    this.#key = options.key ?? 'none';
    this.#maxRecords = options.batch?.maxRecords ?? KAFKA_DEFAULT_MAX_RECORDS;
    this.#maxBytes = options.batch?.maxBytes ?? KAFKA_DEFAULT_MAX_BYTES;
    this.#timeoutMs = options.timeoutMs ?? KAFKA_DEFAULT_TIMEOUT_MS;
    this.#idempotent = options.idempotent ?? false;
    if (this.#idempotent && this.#acks !== -1) throw new ConfigError('output.kafka.acks', 'must be all when idempotent is true');
    this.#where = `kafka ${options.brokers.join(',')} topic ${options.topic}`;
    const log = rateLimited(options.log ?? ((line) => process.stderr.write(`${line}\n`)));
    const config: KafkaConfig = {
      clientId: options.clientId ?? 'strata',
      brokers: [...options.brokers],
      connectionTimeout: Math.min(this.#timeoutMs, 10_000),
      requestTimeout: this.#timeoutMs,
      retry: { retries: 0 },
      logLevel: logLevel.ERROR,
      logCreator: () => (entry) => log(`${this.#where}: kafkajs ${entry.namespace}: ${String(entry.log.message)}`),
      ...(options.tls === undefined ? {} : { ssl: tlsOptions(options.tls) }),
      ...(options.sasl === undefined ? {} : { sasl: { mechanism: options.sasl.mechanism, username: options.sasl.username, password: options.sasl.password } as SASLOptions }),
    };
    this.#kafka = new Kafka(config);
    this.#producer = this.#newProducer();
  }

  #newProducer(): Producer {
    return this.#kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      idempotent: this.#idempotent,
      maxInFlightRequests: 1,
      // kafkajs refuses an idempotent producer without a retry; see the header.
      retry: this.#idempotent ? { retries: 1, initialRetryTime: 100, maxRetryTime: 1000 } : { retries: 0 },
    });
  }

  send(messages: readonly Uint8Array[], signal: AbortSignal, meta?: SendMeta): Promise<SendOutcome> {
    if (this.#closed) return Promise.resolve(reject(`${this.#where}: the sink is closed`, 'closed'));
    if (signal.aborted) return Promise.resolve(retry(ABORTED));
    if (messages.length === 0) return Promise.resolve(OK);
    const built = this.#records(messages, meta?.ids);
    if ('rejected' in built) return Promise.resolve(built.rejected);
    if (built.records.length === 0) return Promise.resolve(OK); // only empty lines
    const promise = new Promise<SendOutcome>((resolve) => {
      const pending: Pending = {
        records: built.records,
        bytes: built.bytes,
        inFlight: false,
        done: false,
        settle: (outcome) => {
          if (pending.done) return;
          pending.done = true;
          signal.removeEventListener('abort', onAbort);
          resolve(outcome);
        },
      };
      const onAbort = (): void => {
        if (!pending.inFlight) {
          const i = this.#queue.indexOf(pending);
          if (i >= 0) this.#queue.splice(i, 1);
          pending.settle(retry(ABORTED));
        } else pending.settle(retry(ABORTED_IN_FLIGHT, undefined, 'aborted'));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#queue.push(pending);
    });
    this.#unsettled.add(promise);
    void promise.then(() => this.#unsettled.delete(promise));
    void this.#pump();
    return promise;
  }

  /** The records of a send, or the rejection when a keyed message is not NDJSON. */
  #records(messages: readonly Uint8Array[], ids: readonly string[] | undefined): { records: Message[]; bytes: number } | { rejected: SendOutcome } {
    const records: Message[] = [];
    let bytes = 0;
    for (let m = 0; m < messages.length; m++) {
      const msg = messages[m] as Uint8Array;
      const buf = Buffer.isBuffer(msg) ? msg : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength);
      const id = ids?.[m];
      if (this.#key === 'none') {
        records.push(id === undefined ? { value: buf } : { value: buf, headers: { [MSG_ID_HEADER]: id } });
        bytes += buf.length;
        continue;
      }
      let line = 0;
      for (let start = 0; start < buf.length; line++) {
        let end = buf.indexOf(0x0a, start);
        const next = end < 0 ? buf.length : end + 1;
        if (end < 0) end = buf.length;
        if (end > start) {
          const value = buf.subarray(start, end);
          const key = this.#key === 'name' ? nameKey(value) : seriesKey(value);
          if (key === null) {
            const shown = JSON.stringify(value.subarray(0, 64).toString('latin1'));
            return { rejected: reject(`${this.#where}: key "${this.#key}" needs newline-delimited JSON from the json encoder; message ${m} line ${line} starts ${shown}`, 'not_ndjson') };
          }
          const headers: Record<string, string> = { [LINE_HEADER]: String(line) };
          if (id !== undefined) headers[MSG_ID_HEADER] = id;
          records.push({ key, value, headers });
          bytes += value.length + key.length;
        }
        start = next;
      }
    }
    return { records, bytes };
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#queue.length > 0) {
        const group = this.#takeGroup();
        const outcome = await this.#produce(group);
        for (const p of group) p.settle(outcome);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** Whole sends from the front of the queue within the batch limits (at least one). */
  #takeGroup(): Pending[] {
    const group: Pending[] = [];
    let records = 0;
    let bytes = 0;
    while (this.#queue.length > 0) {
      const p = this.#queue[0] as Pending;
      if (group.length > 0 && (records + p.records.length > this.#maxRecords || bytes + p.bytes > this.#maxBytes)) break;
      this.#queue.shift();
      p.inFlight = true;
      group.push(p);
      records += p.records.length;
      bytes += p.bytes;
    }
    return group;
  }

  async #produce(group: readonly Pending[]): Promise<SendOutcome> {
    const live = group.filter((p) => !p.done);
    if (live.length === 0) return retry(ABORTED);
    try {
      if (!this.#connected) {
        await this.#producer.connect();
        this.#connected = true;
      }
      for (const chunk of chunks(live.flatMap((p) => p.records), this.#maxRecords, this.#maxBytes)) {
        await this.#producer.send({ topic: this.#topic, acks: this.#acks, timeout: this.#timeoutMs, compression: this.#compression, messages: chunk });
      }
      return OK;
    } catch (err) {
      const f = classify(err);
      if (f.code === 'connection_closed' || /^E[A-Z]+$/.test(f.code)) this.#connected = false;
      if (f.resetProducer) await this.#resetProducer();
      const reason = `${this.#where}: ${f.reason}`;
      return f.retriable ? retry(reason, undefined, f.code) : reject(reason, f.code);
    }
  }

  async #resetProducer(): Promise<void> {
    const old = this.#producer;
    this.#producer = this.#newProducer();
    this.#connected = false;
    await old.disconnect().catch(() => undefined);
  }

  async flush(signal: AbortSignal): Promise<void> {
    if (signal.aborted) throw signal.reason;
    const all = Promise.all([...this.#unsettled]).then(() => undefined);
    if ((await raceAbort(all, signal)) === ABORT) throw signal.reason;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#unsettled]);
    await this.#producer.disconnect().catch(() => undefined);
    this.#connected = false;
  }
}

/** Splits records into produce requests of at most `maxRecords` records and `maxBytes` bytes. */
function* chunks(records: readonly Message[], maxRecords: number, maxBytes: number): Generator<Message[]> {
  let chunk: Message[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = (r.value as Buffer).length + ((r.key as Buffer | undefined)?.length ?? 0);
    if (chunk.length > 0 && (chunk.length >= maxRecords || bytes + size > maxBytes)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(r);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

const NAME_PREFIX = Buffer.from('{"name":"');
const TIMESTAMP_FIELD = Buffer.from(',"timestamp":');

/** The metric name of a json encoder line (its JSON string's bytes), or null. */
export function nameKey(line: Buffer): Buffer | null {
  if (line.length < NAME_PREFIX.length || line.compare(NAME_PREFIX, 0, NAME_PREFIX.length, 0, NAME_PREFIX.length) !== 0) return null;
  for (let i = NAME_PREFIX.length; i < line.length; i++) {
    const c = line[i];
    if (c === 0x5c) i++; // a backslash escapes the next byte
    else if (c === 0x22) return line.subarray(NAME_PREFIX.length, i);
  }
  return null;
}

/**
 * The series of a json encoder line: its bytes before the top-level `,"timestamp":`, the last
 * occurrence (a tag named `timestamp` can only come before it), or null.
 */
export function seriesKey(line: Buffer): Buffer | null {
  if (nameKey(line) === null) return null;
  const at = line.lastIndexOf(TIMESTAMP_FIELD);
  return at < 0 ? null : line.subarray(0, at);
}

function tlsOptions(tls: NonNullable<KafkaSinkOptions['tls']>): ConnectionOptions {
  return {
    rejectUnauthorized: tls.insecureSkipVerify !== true,
    ...(tls.ca === undefined ? {} : { ca: tls.ca }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
  };
}

/** The first error of a kafkajs wrapper chain that says what happened. */
function unwrap(err: unknown): unknown {
  let e = err;
  for (let depth = 0; depth < 8; depth++) {
    const name = (e as { name?: unknown } | null)?.name;
    const cause = (e as { cause?: unknown } | null)?.cause;
    if ((name === 'KafkaJSNumberOfRetriesExceeded' || name === 'KafkaJSNonRetriableError') && cause instanceof Error && cause !== e) e = cause;
    else break;
  }
  return e;
}

/** Sorts a kafkajs failure into retry or reject with a bounded code. */
export function classify(err: unknown): Failure {
  const e = unwrap(err) as { name?: string; message?: string; type?: string; code?: unknown; retriable?: boolean } | null;
  const name = e?.name ?? '';
  const message = e?.message ?? String(err);
  const fail = (retriable: boolean, code: string, resetProducer = false): Failure => ({ retriable, code, reason: message, resetProducer });
  if (name === 'KafkaJSProtocolError' || name === 'KafkaJSOffsetOutOfRange') {
    const type = typeof e?.type === 'string' && CODE_WORD.test(e.type) ? e.type : 'UNKNOWN';
    if (PRODUCER_STATE_ERRORS.has(type)) return fail(true, type.toLowerCase(), true);
    return fail(e?.retriable !== false, type.toLowerCase());
  }
  if (name === 'KafkaJSConnectionClosedError') return fail(true, 'connection_closed');
  if (name === 'KafkaJSConnectionError') {
    const code = typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code) ? e.code : 'connection';
    return fail(true, code);
  }
  if (name === 'KafkaJSRequestTimeoutError') return fail(true, 'request_timeout');
  if (name === 'KafkaJSMetadataNotLoaded' || name === 'KafkaJSTopicMetadataNotLoaded' || name === 'KafkaJSBrokerNotFound' || name === 'KafkaJSStaleTopicMetadataAssignment') {
    return fail(true, 'metadata');
  }
  if (name === 'KafkaJSSASLAuthenticationError') return fail(false, 'sasl_authentication_failed');
  if (name.startsWith('KafkaJS')) return fail(e?.retriable !== false, 'kafka_error');
  const errno = typeof e?.code === 'string' && /^E[A-Z]+$/.test(e.code) ? e.code : undefined;
  if (errno !== undefined) return fail(true, errno);
  return fail(false, 'client_error');
}
