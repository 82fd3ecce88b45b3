// SPDX-License-Identifier: Apache-2.0
/**
 * The whole-process baseline for `strata parse FILE`: read the file, parse it with the line-split
 * parser, write one JSON sample per line to stdout in the JSON encoder's format
 * (`{"name":…,"tags":{…sorted…},"timestamp":null,"type":…,"value":…}`, non-finite values as
 * "NaN", "+Inf", "-Inf"): `JSON.stringify` per sample, written 4096 lines per `write` (a careful
 * baseline coalesces writes too; one write per sample would be a strawman).
 *
 * How it runs as plain `node`: compiled with tsc, not run through tsx, so the measured process
 * pays no TypeScript loader start-up that `strata parse` does not pay either:
 *
 *   npx tsc -p bench/tsconfig.baseline.json      (bench/cli.bench.ts does this itself)
 *   node dist/bench-baseline/bench/baseline/line-split-cli.js FILE
 *
 * A hand-written `.mjs` twin would start just as fast but would be a second copy of the parser to
 * keep equal; compiling keeps one source. (For a quick look, `npx tsx
 * bench/baseline/line-split-cli.ts FILE` works too, with tsx's start-up on top.)
 *
 * Exit status: 0, or 1 with a message when the file cannot be read or parsed, 2 on usage.
 */
import { readFileSync } from 'node:fs';
import { parseLineSplit } from './line-split-parser.js';
import { sampleToJson } from './json-line.js';

const LINES_PER_WRITE = 4096;

function main(argv: readonly string[]): number {
  const file = argv[0];
  if (file === undefined || argv.length !== 1) {
    process.stderr.write('usage: line-split-cli FILE\n');
    return 2;
  }
  let samples;
  try {
    samples = parseLineSplit(readFileSync(file));
  } catch (e) {
    process.stderr.write(`line-split-cli: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  let lines: string[] = [];
  for (const s of samples) {
    lines.push(sampleToJson(s, null));
    if (lines.length === LINES_PER_WRITE) {
      process.stdout.write(`${lines.join('\n')}\n`);
      lines = [];
    }
  }
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

// `… | head` closes the pipe early: stop quietly, as command-line tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});
process.exitCode = main(process.argv.slice(2));
