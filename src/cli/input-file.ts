// SPDX-License-Identifier: Apache-2.0
/**
 * Reading a file named on the command line, the same way in every command: a file that cannot
 * be read is an `UnreadableFile` error whose message is `cannot read PATH: REASON` (the reason
 * in words for the common errnos), which the CLI prints as `strata COMMAND: …` and exits with
 * status 2, as for any other usage problem: nothing was run or validated.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { UsageError } from '../errors.js';

const READ_ERRORS: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
};

/** A file named on the command line cannot be read. */
export class UnreadableFile extends UsageError {
  readonly path: string;

  constructor(path: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException | undefined)?.code;
    const why = (code !== undefined ? READ_ERRORS[code] : undefined) ?? (cause instanceof Error ? cause.message : String(cause));
    super(`cannot read ${path}: ${why}`);
    this.name = 'UnreadableFile';
    this.path = path;
  }
}

/** The bytes of `path`, or an `UnreadableFile`. */
export function readInputFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UnreadableFile(path, e);
  }
}

/** Throws `UnreadableFile` for the first of `paths` that is not a readable regular file. */
export function checkReadable(paths: readonly string[]): void {
  for (const path of paths) {
    try {
      if (statSync(path).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
      accessSync(path, constants.R_OK);
    } catch (e) {
      throw new UnreadableFile(path, e);
    }
  }
}
