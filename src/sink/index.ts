/** Public surface of the sinks. */
export { ABORTED, byteLength, OK, reject, retry, SendResult, SINK_ERROR_CODE, SinkError } from './sink.js';
export type { SendMeta, SendOutcome, Sink } from './sink.js';
export { ABORTED_WHILE_WRITING, StdoutSink } from './stdout.js';
export type { StdoutSinkOptions } from './stdout.js';
export { FILE_DEFAULT_MAX_FILES, FileSink } from './file.js';
export type { FileLike, FileOps, FileSinkOptions } from './file.js';
export { createSink, workerPath } from './create.js';
export type { FileOutput, SinkContext, SinkOutput, StdoutOutput } from './create.js';
