// SPDX-License-Identifier: Apache-2.0
/**
 * Builds the sink a Collector's `output` names: exactly one of stdout, file, nats, kafka,
 * remoteWrite, http, statsd, fluent (each sink's file says what it guarantees).
 *
 * Each worker thread of a Collector's pool makes its own sink. A file has one writer (the file
 * sink keeps its size and rotates it), so when the pool has several workers each file sink
 * writes `<name>.w<index><ext>` (`/var/log/strata.ndjson` → `/var/log/strata.w0.ndjson`,
 * rotated as `/var/log/strata.w0.ndjson.1` …). With one worker (`workers: 1`), or no pool, the
 * path is written as given; a caller that passes `workerIndex` without `workers` gets the
 * per-worker name, the safe side. A path that exists and is not a regular file (`/dev/null`,
 * `/dev/stdout`, a FIFO) is never renamed: every worker writes it as given.
 */
import { statSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { FileSink } from './file.js';
import { FluentSink, type FluentSinkOptions } from './fluent.js';
import { HttpSink, type HttpSinkOptions, httpContentType } from './http.js';
import { type KafkaOutput, KafkaSink, kafkaSinkOptions } from './kafka.js';
import { NatsSink, type NatsSinkOptions } from './nats.js';
import { type RemoteWriteOutput, RemoteWriteSink } from './remote-write.js';
import type { Sink } from './sink.js';
import { StatsdSink, type StatsdSinkOptions } from './statsd.js';
import { StdoutSink } from './stdout.js';

/** `output.stdout` takes no settings yet. */
export type StdoutOutput = Readonly<Record<string, never>>;

export interface FileOutput {
  readonly path: string;
  readonly maxBytes: number;
  readonly maxFiles?: number;
}

export type SinkOutput =
  | { readonly stdout: StdoutOutput }
  | { readonly file: FileOutput }
  | RemoteWriteSinkOutput
  | NatsSinkOutput
  | KafkaSinkOutput
  | HttpSinkOutput
  | StatsdSinkOutput
  | FluentSinkOutput;
/** `output.nats`: core NATS or JetStream (see `nats.ts`); `managed` is resolved to a `url` by `strata operator`. */
export interface NatsSinkOutput {
  readonly nats: Omit<NatsSinkOptions, 'url'> & { readonly url?: string | undefined; readonly managed?: boolean };
}
/** `output.kafka`: Kafka through kafkajs (see `kafka.ts`). */
export interface KafkaSinkOutput {
  readonly kafka: KafkaOutput;
}
/** `output.remoteWrite`: Prometheus remote write 1.0 (see `remote-write.ts`). */
export interface RemoteWriteSinkOutput {
  readonly remoteWrite: RemoteWriteOutput;
}
/** `output.http`: POST each message (see `http.ts`). */
export interface HttpSinkOutput {
  readonly http: HttpSinkOptions;
}
/** `output.statsd`: statsd lines over UDP or TCP (see `statsd.ts`). */
export interface StatsdSinkOutput {
  readonly statsd: StatsdSinkOptions;
}
/** `output.fluent`: Fluent Forward to Fluentd or Fluent Bit (see `fluent.ts`). */
export interface FluentSinkOutput {
  readonly fluent: FluentSinkOptions;
}

const KINDS = ['stdout', 'file', 'nats', 'kafka', 'remoteWrite', 'http', 'statsd', 'fluent'] as const;

/** Where the sink runs. */
export interface SinkContext {
  /** The worker thread's index in its pool, when there is a pool. */
  readonly workerIndex?: number;
  /** The number of worker threads in the pool (each makes its own sink). */
  readonly workers?: number;
  /** The Collector's key (`namespace/name`), for client ids and message ids. */
  readonly collector?: string;
  /** The encoding of the messages (the content type of `http`, the framing of `nats`). */
  readonly encoder?: 'json' | 'statsd' | 'fluent' | 'remoteWrite';
}

export function createSink(output: SinkOutput, context: SinkContext = {}): Sink {
  const keys = Object.keys(output);
  if (keys.length !== 1) {
    const got = keys.length === 0 ? 'none' : keys.join(', ');
    throw new ConfigError('output', `exactly one of ${KINDS.join(', ')} must be set; got ${got}`);
  }
  if ('stdout' in output) return new StdoutSink();
  if ('file' in output) {
    const { maxBytes, maxFiles } = output.file;
    const { workerIndex, workers } = context;
    const given = output.file.path;
    const path = workerIndex === undefined || workers === 1 || isSpecialFile(given) ? given : workerPath(given, workerIndex);
    return new FileSink(maxFiles === undefined ? { path, maxBytes } : { path, maxBytes, maxFiles });
  }
  if ('nats' in output) {
    const { url, managed: _managed, ...rest } = output.nats;
    if (url === undefined) throw new ConfigError('output.nats.managed', 'a managed NATS server is run by strata operator only; set output.nats.url to run standalone');
    const { collector, workerIndex } = context;
    const name = ['strata', collector, workerIndex === undefined ? undefined : `w${workerIndex}`].filter((p) => p !== undefined).join(' ');
    return new NatsSink({ ...rest, url, name, framing: context.encoder === 'fluent' ? 'opaque' : 'lines' });
  }
  if ('kafka' in output) return new KafkaSink(kafkaSinkOptions(output.kafka));
  if ('remoteWrite' in output) return new RemoteWriteSink(output.remoteWrite);
  if ('http' in output) {
    const encoder = context.encoder === undefined || context.encoder === 'remoteWrite' ? 'json' : context.encoder;
    return new HttpSink({ contentType: httpContentType(encoder), ...output.http });
  }
  if ('statsd' in output) return new StatsdSink(output.statsd);
  if ('fluent' in output) return new FluentSink(output.fluent);
  throw new ConfigError('output', `unknown sink ${JSON.stringify(keys[0])}; expected one of ${KINDS.join(', ')}`);
}

/** `path` exists and is not a regular file or a directory (a device, a FIFO, a socket). */
function isSpecialFile(path: string): boolean {
  try {
    const st = statSync(path, { throwIfNoEntry: false });
    return st !== undefined && !st.isFile() && !st.isDirectory();
  } catch {
    return false; // not readable here: the sink's open says why
  }
}

/** `dir/name.ext` → `dir/name.w<index>.ext`; `dir/name` → `dir/name.w<index>`. */
export function workerPath(path: string, workerIndex: number): string {
  const base = basename(path);
  const ext = extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const file = `${stem}.w${workerIndex}${ext}`;
  return join(dirname(path), file);
}
