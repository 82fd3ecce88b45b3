// SPDX-License-Identifier: Apache-2.0
/**
 * `strata validate -f FILE [-f FILE ...]` (`-` reads standard input): validates the Collector and
 * Discovery resources of multi-document YAML files, as `strata run -f` would read them.
 *
 * For each valid file it prints `FILE: N resources valid (X Collectors, Y Discoveries)` on stdout.
 * Every error of every file goes to stderr, one `FILE#DOC (Kind ns/name): path: reason` line
 * each. A resource defined twice, in one file or across files, is an error on the later one.
 * Exit status: 0 if all files are valid, 1 if any error was found, 2 if a file cannot be read
 * (nothing is validated then) or the command line is wrong (a UsageError).
 */
import { parseArgs } from 'node:util';
import { formatResourceError, parseResources } from '../config/index.js';
import { encoderWarning } from '../encode/create.js';
import { UsageError } from '../errors.js';
import { redactUrlsIn } from '../net/redact.js';
import { readInputFile, UnreadableFile } from './input-file.js';

export const VALIDATE_USAGE = 'usage: strata validate -f FILE|- [-f FILE|- ...]';

export interface ValidateIO {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  /** Standard input, for `-f -`; default `process.stdin`. */
  readonly stdin?: AsyncIterable<Uint8Array | string>;
}

const STDIN_NAME = '<stdin>';

async function readAll(input: AsyncIterable<Uint8Array | string>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of input) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk));
  return Buffer.concat(chunks).toString('utf8');
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export async function validateCommand(argv: string[], io: ValidateIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { file: { type: 'string', short: 'f', multiple: true } },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}: name files with -f`);
  const files = values.file ?? [];
  if (files.length === 0) throw new UsageError('validate needs at least one -f FILE');
  if (files.filter((f) => f === '-').length > 1) throw new UsageError('standard input (-f -) can be read only once');

  // Read everything first: a file that cannot be read is a usage problem, not an invalid file.
  const texts: { name: string; text: string }[] = [];
  let unreadable = false;
  for (const file of files) {
    if (file === '-') {
      texts.push({ name: STDIN_NAME, text: await readAll(io.stdin ?? process.stdin) });
      continue;
    }
    try {
      texts.push({ name: file, text: readInputFile(file).toString('utf8') });
    } catch (e) {
      if (!(e instanceof UnreadableFile)) throw e;
      io.stderr.write(`strata validate: ${e.message}\n`);
      unreadable = true;
    }
  }
  if (unreadable) return 2;

  const seen = new Map<string, string>();
  let failed = false;
  for (const { name, text } of texts) {
    const { resources, errors } = parseResources(text, name, { seen });
    if (errors.length > 0) {
      failed = true;
      for (const e of errors) io.stderr.write(`${redactUrlsIn(formatResourceError(e))}\n`);
      continue;
    }
    if (resources.length === 0) {
      io.stderr.write(`${name}: warning: no resources (a file for strata run needs at least one Collector)\n`);
      continue;
    }
    for (const r of resources) {
      const warning = r.kind === 'Collector' ? encoderWarning(r.spec) : null;
      if (warning !== null) io.stderr.write(`${name} (Collector ${r.metadata.namespace}/${r.metadata.name}): warning: ${warning}\n`);
    }
    const collectors = resources.filter((r) => r.kind === 'Collector').length;
    const discoveries = resources.length - collectors;
    io.stdout.write(
      `${name}: ${plural(resources.length, 'resource', 'resources')} valid ` +
        `(${plural(collectors, 'Collector', 'Collectors')}, ${plural(discoveries, 'Discovery', 'Discoveries')})\n`,
    );
  }
  return failed ? 1 : 0;
}
