// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { validateCommand } from '../../src/cli/validate-command.js';
import { UsageError } from '../../src/errors.js';
import { doc } from './helpers.js';

const quickstart = new URL('../../examples/quickstart.yaml', import.meta.url).pathname;

function capture(stdin?: string) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (c: string) => out.push(c) },
      stderr: { write: (c: string) => err.push(c) },
      ...(stdin === undefined ? {} : { stdin: Readable.from([Buffer.from(stdin)]) }),
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'strata-validate-'));
function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const collector = doc('Collector', undefined);
const discovery = doc('Discovery', 'collector: [{name: main}]');

describe('strata validate', () => {
  it('prints a summary of a valid file and exits 0', async () => {
    const c = capture();
    expect(await validateCommand(['-f', quickstart], c.io)).toBe(0);
    expect(c.out()).toBe(`${quickstart}: 2 resources valid (1 Collector, 1 Discovery)\n`);
    expect(c.err()).toBe('');
  });

  it('counts each kind, in plural where there are several', async () => {
    const f = file('three.yaml', `${collector}---\n${doc('Collector', undefined, 'b')}---\n${discovery}`);
    const c = capture();
    expect(await validateCommand(['--file', f], c.io)).toBe(0);
    expect(c.out()).toBe(`${f}: 3 resources valid (2 Collectors, 1 Discovery)\n`);
  });

  it('prints every error of every file on stderr and exits 1, still summing up the valid files', async () => {
    const good = file('good.yaml', doc('Collector', undefined, 'other'));
    const bad = file('bad.yaml', `${doc('Collector', 'workers: 0\noutput: {file: {}}')}---\n${doc('Discovery', 'intervalSeconds: 0')}`);
    const c = capture();
    expect(await validateCommand(['-f', bad, '-f', good], c.io)).toBe(1);
    expect(c.err()).toBe(
      `${bad}#1 (Collector default/main): spec.workers: must be ≥ 1, got 0\n` +
        `${bad}#1 (Collector default/main): spec.output.file.path: required\n` +
        `${bad}#2 (Discovery default/main): spec.intervalSeconds: must be ≥ 1, got 0\n` +
        `${bad}#2 (Discovery default/main): spec.collector: required\n`,
    );
    expect(c.out()).toBe(`${good}: 1 resource valid (1 Collector, 0 Discoveries)\n`);
  });

  it('reports a resource defined in two files on the later one', async () => {
    const a = file('a.yaml', collector);
    const b = file('b.yaml', collector);
    const c = capture();
    expect(await validateCommand(['-f', a, '-f', b], c.io)).toBe(1);
    expect(c.err()).toBe(`${b}#1 (Collector default/main): metadata.name: duplicate Collector default/main, first defined in ${a}#1 (Collector default/main)\n`);
    expect(c.out()).toBe(`${a}: 1 resource valid (1 Collector, 0 Discoveries)\n`);
  });

  it('reads standard input for -f -', async () => {
    const c = capture(`${collector}---\n${discovery}`);
    expect(await validateCommand(['-f', '-'], c.io)).toBe(0);
    expect(c.out()).toBe('<stdin>: 2 resources valid (1 Collector, 1 Discovery)\n');
    const bad = capture('kind: Collector\n');
    expect(await validateCommand(['-f', '-'], bad.io)).toBe(1);
    expect(bad.err()).toBe('<stdin>#1 (Collector): apiVersion: required\n<stdin>#1 (Collector): metadata: required\n');
  });

  it('accepts a file without resources, with a warning', async () => {
    const f = file('empty.yaml', '# nothing yet\n');
    const c = capture();
    expect(await validateCommand(['-f', f], c.io)).toBe(0);
    expect(c.out()).toBe('');
    expect(c.err()).toBe(`${f}: warning: no resources (a file for strata run needs at least one Collector)\n`);
  });

  it('exits 2 with a message when a file cannot be read, validating nothing', async () => {
    const missing = join(dir, 'missing.yaml');
    const c = capture();
    expect(await validateCommand(['-f', quickstart, '-f', missing, '-f', dir], c.io)).toBe(2);
    expect(c.err()).toBe(`strata validate: cannot read ${missing}: no such file or directory\nstrata validate: cannot read ${dir}: is a directory\n`);
    expect(c.out()).toBe('');
  });

  it('throws a UsageError for a wrong command line', async () => {
    const c = capture();
    await expect(validateCommand([], c.io)).rejects.toThrow(UsageError);
    await expect(validateCommand([], c.io)).rejects.toThrow('validate needs at least one -f FILE');
    await expect(validateCommand([quickstart], c.io)).rejects.toThrow(/unexpected argument ".*quickstart.yaml": name files with -f/);
    await expect(validateCommand(['-f', '-', '-f', '-'], c.io)).rejects.toThrow('standard input (-f -) can be read only once');
    await expect(validateCommand(['--strict', '-f', quickstart], c.io)).rejects.toMatchObject({ code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  });

  it('prints its usage for --help', async () => {
    const c = capture();
    expect(await main(['validate', '--help'], c.io)).toBe(0);
    expect(c.out()).toMatch(/^usage: strata validate -f FILE\|- \[-f FILE\|- \.\.\.\]\n/);
  });

  it('runs as `strata validate`, with a usage error exiting 2', async () => {
    const ok = capture();
    expect(await main(['validate', '-f', quickstart], ok.io)).toBe(0);
    expect(ok.out()).toBe(`${quickstart}: 2 resources valid (1 Collector, 1 Discovery)\n`);
    const usage = capture();
    expect(await main(['validate'], usage.io)).toBe(2);
    expect(usage.err()).toMatch(/^strata validate: validate needs at least one -f FILE\n/);
  });
});
