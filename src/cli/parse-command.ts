// SPDX-License-Identifier: Apache-2.0
/**
 * `strata parse FILE` (or `-` for standard input): parses an exposition and writes one JSON
 * sample per line, in input order, in the JSON encoder's format, with `"timestamp": null` where
 * the exposition gives none. On invalid input it writes `line N: reason` to stderr, writes no
 * samples (a body is all or nothing) and exits with status 1.
 *
 * Options: `--format prometheus|openmetrics` (default: by file name, `.om`/`.openmetrics` in it
 * selects OpenMetrics, else Prometheus), `--max-line-bytes N`.
 */
import { writeSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { JsonEncoder } from '../encode/json.js';
import { ParseError, UsageError } from '../errors.js';
import { ExpositionFormat, ExpositionParser } from '../parse/index.js';
import type { SampleBatch } from '../sample.js';
import { readInputFile } from './input-file.js';

const BLOCK_BYTES = 4 << 20;

/** Output held until the body has parsed: appended into 4 MiB blocks, one copy per byte. */
class OutputBlocks {
  readonly #full: Buffer[] = [];
  #block = Buffer.allocUnsafeSlow(BLOCK_BYTES);
  #pos = 0;

  readonly append = (bytes: Uint8Array): void => {
    let off = 0;
    while (off < bytes.length) {
      if (this.#pos === this.#block.length) {
        this.#full.push(this.#block);
        this.#block = Buffer.allocUnsafeSlow(BLOCK_BYTES);
        this.#pos = 0;
      }
      const n = Math.min(bytes.length - off, this.#block.length - this.#pos);
      this.#block.set(bytes.subarray(off, off + n), this.#pos);
      this.#pos += n;
      off += n;
    }
  };

  blocks(): Buffer[] {
    return [...this.#full, this.#block.subarray(0, this.#pos)];
  }
}

/** Bytes parsed between two encodes. */
const SLICE_BYTES = 1 << 20;

export const PARSE_USAGE = 'usage: strata parse [--format prometheus|openmetrics] [--max-line-bytes N] FILE|-';


const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `bytes` to standard output before returning (waits briefly on EAGAIN). */
function writeStdoutSync(bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) {
    try {
      off += writeSync(1, bytes, off, bytes.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(pause, 0, 0, 1); // a non-blocking pipe is full: the CLI owns no sockets, wait 1 ms
    }
  }
}

export interface CommandIO {
  readonly stdout: { write(chunk: Uint8Array | string): unknown };
  readonly stderr: { write(chunk: string): unknown };
}

export async function parseCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      format: { type: 'string' },
      'max-line-bytes': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'parse needs a FILE (or - for standard input)' : `unexpected argument ${JSON.stringify(positionals[1])}`);
  const file = positionals[0] as string;
  let format: ExpositionFormat;
  if (values.format === undefined) {
    format = /\.(om|openmetrics)(\.|$)/.test(file) ? ExpositionFormat.OpenMetrics : ExpositionFormat.Prometheus;
  } else if (values.format === 'prometheus' || values.format === 'openmetrics') {
    format = values.format;
  } else {
    throw new UsageError(`--format must be prometheus or openmetrics, got ${JSON.stringify(values.format)}`);
  }
  const maxLine = values['max-line-bytes'];
  const maxLineBytes = maxLine === undefined ? undefined : Number(maxLine);
  if (maxLineBytes !== undefined && !(Number.isInteger(maxLineBytes) && maxLineBytes > 0)) {
    throw new UsageError(`--max-line-bytes must be a positive integer, got ${JSON.stringify(maxLine)}`);
  }
  const parser = new ExpositionParser(maxLineBytes === undefined ? { format } : { format, maxLineBytes });
  // Parse and encode in slices: series die young (cheap garbage) instead of piling up, and the
  // output is held until the whole body has parsed (all or nothing), then written.
  const encoder = new JsonEncoder({ maxSamples: Number.MAX_SAFE_INTEGER, maxBytes: 1 << 20, memoise: false });
  const out = new OutputBlocks();
  const encode = (batch: SampleBatch): void => {
    encoder.encodeTo(batch, null, out.append);
  };
  try {
    if (file === '-') {
      for await (const chunk of process.stdin) {
        parser.push(chunk as Buffer);
        parser.takeSamples(encode);
      }
    } else {
      const data = readInputFile(file);
      for (let off = 0; off < data.length; off += SLICE_BYTES) {
        parser.push(data.subarray(off, Math.min(data.length, off + SLICE_BYTES)));
        parser.takeSamples(encode);
      }
    }
    parser.takeSamples(encode);
    const result = parser.end();
    encode(result.batch);
  } catch (e) {
    if (e instanceof ParseError) {
      io.stderr.write(`${e.message}\n`);
      return 1;
    }
    throw e;
  }
  if (io.stdout === process.stdout) {
    try {
      for (const block of out.blocks()) writeStdoutSync(block);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EPIPE') return 0; // the reader went away (| head)
      throw e;
    }
  } else {
    for (const block of out.blocks()) io.stdout.write(block);
  }
  return 0;
}
