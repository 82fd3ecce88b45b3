// SPDX-License-Identifier: Apache-2.0
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/strata.js');

function capture(): { io: { stdout: { write(c: Uint8Array | string): boolean }; stderr: { write(c: string): boolean } }; out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: {
      stdout: { write: (c) => (out.push(typeof c === 'string' ? c : Buffer.from(c).toString('utf8')), true) },
      stderr: { write: (c) => (err.push(c), true) },
    },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

function tmpFile(name: string, content: string | Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'strata-cli-'));
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

describe('strata parse', () => {
  it('writes one JSON sample per line in input order, with null timestamps where none is given', async () => {
    const file = tmpFile('a.prom', '# TYPE b gauge\nb{x="1"} 2\na 1 1700000000000\n');
    const c = capture();
    expect(await main(['parse', file], c.io)).toBe(0);
    expect(c.out()).toBe(
      '{"name":"b","tags":{"x":"1"},"timestamp":null,"type":"gauge","value":2}\n' +
        '{"name":"a","tags":{},"timestamp":1700000000000,"type":"untyped","value":1}\n',
    );
    expect(c.err()).toBe('');
  });

  it('prints "line N: reason" on stderr, no samples, and exits 1 on invalid input', async () => {
    const file = tmpFile('bad.prom', 'a 1\nb{x="1",x="2"} 1\n');
    const c = capture();
    expect(await main(['parse', file], c.io)).toBe(1);
    expect(c.out()).toBe('');
    expect(c.err()).toBe('line 2: duplicate label name "x"\n');
  });

  it('chooses OpenMetrics by --format or by an .om file name', async () => {
    const body = '# TYPE a counter\na_total 1 # {id="x"} 1\n# EOF\n';
    const c1 = capture();
    expect(await main(['parse', '--format', 'openmetrics', tmpFile('x.txt', body)], c1.io)).toBe(0);
    const c2 = capture();
    expect(await main(['parse', tmpFile('x.om.txt', body)], c2.io)).toBe(0);
    expect(c1.out()).toBe('{"name":"a_total","tags":{},"timestamp":null,"type":"counter","value":1}\n');
    expect(c2.out()).toBe(c1.out());
  });

  it('exits 2 with usage on a wrong command line', async () => {
    for (const argv of [['parse'], ['parse', '--format', 'xml', 'f'], ['nope'], ['parse', '--bogus', 'f']]) {
      const c = capture();
      expect(await main(argv, c.io)).toBe(2);
      expect(c.err()).toMatch(/^strata( parse)?: /);
      expect(c.err().split('usage: strata').length, 'the usage is printed once').toBeLessThanOrEqual(2);
    }
  });

  it('exits 2 when the file does not exist', async () => {
    const c = capture();
    expect(await main(['parse', '/nonexistent/file.prom'], c.io)).toBe(2);
    expect(c.err()).toBe('strata parse: cannot read /nonexistent/file.prom: no such file or directory\n');
  });

  it('runs as a process, reading standard input with "-"', () => {
    expect(existsSync(join(root, 'dist/src/cli/main.js')), 'run `npm run build` first (npm test does)').toBe(true);
    const ok = spawnSync(process.execPath, [bin, 'parse', '-'], { input: 'a{x="y"} 1\nb 2', encoding: 'utf8' });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe(
      '{"name":"a","tags":{"x":"y"},"timestamp":null,"type":"untyped","value":1}\n{"name":"b","tags":{},"timestamp":null,"type":"untyped","value":2}\n',
    );
    const bad = spawnSync(process.execPath, [bin, 'parse', '-'], { input: 'a 1\r\n', encoding: 'utf8' });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe('line 1: line ends with a carriage return (CRLF line endings are not supported)\n');
  });

  it('parses the shipped example', async () => {
    const c = capture();
    expect(await main(['parse', join(root, 'examples/node-exporter.prom')], c.io)).toBe(0);
    const lines = c.out().trim().split('\n');
    expect(lines.length).toBeGreaterThan(100);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
  });
});
