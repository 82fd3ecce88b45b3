// SPDX-License-Identifier: Apache-2.0
/** Public surface of the sinks. */
export { ABORTED, byteLength, OK, reject, retry, SendResult, SINK_ERROR_CODE, SinkError } from './sink.js';
export type { SendMeta, SendOutcome, Sink } from './sink.js';
export { ABORTED_WHILE_WRITING, READER_GONE, STEAL_AFTER_MS, StdoutShare, StdoutSink, watchStdout } from './stdout.js';
export type { StdoutSinkOptions, StdoutWatch } from './stdout.js';
export { CHECK_PATH_MS, FILE_DEFAULT_MAX_FILES, FileSink } from './file.js';
export type { FileIdentity, FileLike, FileOps, FileSinkOptions, FileStat } from './file.js';
export { NatsSink } from './nats.js';
export type { NatsSinkOptions } from './nats.js';
export { KafkaSink, kafkaSinkOptions } from './kafka.js';
export type { KafkaOutput, KafkaSinkOptions } from './kafka.js';
export { RemoteWriteSink } from './remote-write.js';
export type { RemoteWriteOutput } from './remote-write.js';
export { createAgent, HttpAuth, postBody } from './http-post.js';
export { HttpSink, httpContentType } from './http.js';
export type { HttpSinkOptions } from './http.js';
export { packDatagrams, StatsdSink } from './statsd.js';
export type { StatsdSinkOptions } from './statsd.js';
export { chunkOf, FluentSink } from './fluent.js';
export type { FluentSinkOptions } from './fluent.js';
export { createSink, workerPath } from './create.js';
export type { FileOutput, SinkContext, SinkOutput, StdoutOutput } from './create.js';
