/**
 * Builds the sink a Collector's `output` names. Exactly one key must be set; the kinds not yet
 * built (nats, kafka, http, statsd, fluent) are refused with a ConfigError naming the field.
 *
 * Each worker thread of a Collector's pool makes its own sink. A file has one writer (the file
 * sink keeps its size and rotates it), so when the caller passes its `workerIndex` the file
 * sink writes `<name>.w<index><ext>` (`/var/log/strata.ndjson` → `/var/log/strata.w0.ndjson`,
 * rotated as `/var/log/strata.w0.ndjson.1` …).
 */
import { basename, dirname, extname, join } from 'node:path';
import { ConfigError } from '../errors.js';
import { FileSink } from './file.js';
import type { Sink } from './sink.js';
import { StdoutSink } from './stdout.js';

/** `output.stdout` takes no settings yet. */
export type StdoutOutput = Readonly<Record<string, never>>;

export interface FileOutput {
  readonly path: string;
  readonly maxBytes: number;
  readonly maxFiles?: number;
}

export type SinkOutput = { readonly stdout: StdoutOutput } | { readonly file: FileOutput };
// sink-output: nats
// sink-output: kafka
// sink-output: remoteWrite
// sink-output: http
// sink-output: statsd
// sink-output: fluent

const KINDS = ['stdout', 'file'] as const;

/** Where the sink runs. */
export interface SinkContext {
  /** The worker thread's index in its pool, when there is a pool. */
  readonly workerIndex?: number;
  /** The number of worker threads in the pool (each makes its own sink). */
  readonly workers?: number;
  /** The Collector's key (`namespace/name`), for client ids and message ids. */
  readonly collector?: string;
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
    const { workerIndex } = context;
    const path = workerIndex === undefined ? output.file.path : workerPath(output.file.path, workerIndex);
    return new FileSink(maxFiles === undefined ? { path, maxBytes } : { path, maxBytes, maxFiles });
  }
  // create: nats
  // create: kafka
  // create: remoteWrite
  // create: http
  // create: statsd
  // create: fluent
  throw new ConfigError('output', `unknown sink ${JSON.stringify(keys[0])}; expected one of ${KINDS.join(', ')}`);
}

/** `dir/name.ext` → `dir/name.w<index>.ext`; `dir/name` → `dir/name.w<index>`. */
export function workerPath(path: string, workerIndex: number): string {
  const base = basename(path);
  const ext = extname(base);
  const stem = base.slice(0, base.length - ext.length);
  const file = `${stem}.w${workerIndex}${ext}`;
  return join(dirname(path), file);
}
