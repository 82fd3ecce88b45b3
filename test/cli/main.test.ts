// SPDX-License-Identifier: Apache-2.0
/**
 * The command line as a whole: every command answers --help, --version prints the package's
 * version, a usage error prints the usage once, and a file that cannot be read gives the same
 * message and exit status in every command that reads one.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main, strataVersion } from '../../src/cli/main.js';
import { STRATA_VERSION } from '../../src/scrape/scraper.js';
import { resourcesYaml, serve, tempDir, writeResources } from '../integration/helpers.js';

const root = join(import.meta.dirname, '../..');

function capture(): { io: { stdout: { write(s: string | Uint8Array): boolean }; stderr: { write(s: string): boolean } }; out(): string; err(): string } {
  let out = '';
  let err = '';
  return {
    io: {
      stdout: { write: (s) => ((out += typeof s === 'string' ? s : Buffer.from(s).toString()), true) },
      stderr: { write: (s) => ((err += s), true) },
    },
    out: () => out,
    err: () => err,
  };
}

describe('strata', () => {
  it.each(['run', 'validate', 'parse', 'scrape', 'demo-target'])('answers `strata %s --help` with its usage and exit 0', async (command) => {
    for (const flag of ['--help', '-h']) {
      const c = capture();
      expect(await main([command, flag], c.io)).toBe(0);
      expect(c.out()).toMatch(new RegExp(`^usage: strata ${command} `));
      expect(c.err()).toBe('');
    }
  });

  it('prints the version of package.json for --version, as the User-Agent sends it', async () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const c = capture();
    expect(await main(['--version'], c.io)).toBe(0);
    expect(c.out()).toBe(`strata ${pkg.version}\n`);
    expect(strataVersion()).toBe(pkg.version);
    expect(STRATA_VERSION).toBe(pkg.version);
  });

  it('lists every command for --help, and exits 2 with the list when no command is given', async () => {
    const help = capture();
    expect(await main(['--help'], help.io)).toBe(0);
    for (const command of ['run', 'validate', 'parse', 'scrape', 'demo-target']) expect(help.out()).toContain(`  ${command} `);
    const none = capture();
    expect(await main([], none.io)).toBe(2);
    expect(none.err()).toBe(help.out());
  });

  it('gives one message and exit 2 for a missing file, in run, validate and parse', async () => {
    const missing = '/nonexistent/strata.yaml';
    const want = `cannot read ${missing}: no such file or directory\n`;
    for (const argv of [['run', '-f', missing, '--no-progress'], ['validate', '-f', missing], ['parse', missing]]) {
      const c = capture();
      expect(await main(argv, c.io), argv.join(' ')).toBe(2);
      expect(c.err()).toBe(`strata ${argv[0]}: ${want}`);
    }
  });
});

describe('strata run, refusing to start', () => {
  it('exits 2 before scraping when the telemetry port is in use', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    const port = (busy.address() as AddressInfo).port;
    let scraped = 0;
    const target = await serve((_req, res) => {
      scraped++;
      res.end('a 1\n');
    });
    try {
      const dir = tempDir('strata-main-');
      const file = writeResources(dir, resourcesYaml({ output: '{stdout: {}}' }, [{ url: target.url, labels: {} }], 1));
      const c = capture();
      expect(await main(['run', '-f', file, '--telemetry-port', String(port), '--no-progress'], c.io)).toBe(2);
      expect(c.err()).toMatch(new RegExp(`^strata run: cannot serve telemetry on 127\\.0\\.0\\.1:${port} \\(--telemetry-port\\): .*EADDRINUSE`));
      expect(scraped).toBe(0);
    } finally {
      busy.close();
      await target.close();
    }
  });

  it('exits 1 on a configuration without a Collector', async () => {
    const dir = tempDir('strata-main-');
    const file = join(dir, 'empty.yaml');
    writeFileSync(file, '# nothing yet\n');
    const c = capture();
    expect(await main(['run', '-f', file, '--telemetry-port', '0', '--no-progress'], c.io)).toBe(1);
    expect(c.err()).toContain(`strata run: no Collector in ${file}: nothing to run`);
  });
});

describe('strata scrape', () => {
  const body = '# TYPE req_total counter\nreq_total{code="200"} 7\n# TYPE lat histogram\nlat_bucket{le="1"} 2\nlat_bucket{le="+Inf"} 3\nlat_sum 1.5\nlat_count 3\n';

  it('prints the samples as JSON lines and a summary with status, bytes, series and samples', async () => {
    const target = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
      res.end(body);
    });
    try {
      const c = capture();
      expect(await main(['scrape', target.url], c.io)).toBe(0);
      const samples = c.out().trim().split('\n').map((l) => JSON.parse(l) as { name: string; tags: Record<string, string>; value: number; type: string });
      expect(samples[0]).toMatchObject({ name: 'req_total', tags: { code: '200' }, value: 7, type: 'counter' });
      expect(samples.map((s) => s.name)).toEqual(['req_total', 'lat', 'lat', 'lat_sum', 'lat_count']);
      expect(c.err()).toMatch(/status 200 · \d+ ms · \d+ bytes on the wire, \d+ decompressed · 5 series · 5 samples\n$/);
    } finally {
      await target.close();
    }
  });

  it('prints a table with --output table', async () => {
    const target = await serve((_req, res) => res.end('up{job="x"} 1\n'));
    try {
      const c = capture();
      expect(await main(['scrape', target.url, '--output', 'table'], c.io)).toBe(0);
      expect(c.out()).toBe('up{job="x"} 1  (untyped)\n');
    } finally {
      await target.close();
    }
  });

  it('exits 1 naming the reason when the target fails, and redacts a password in the URL', async () => {
    const target = await serve((_req, res) => {
      res.writeHead(503);
      res.end('down');
    });
    try {
      const url = target.url.replace('http://', 'http://alice:secret@');
      const c = capture();
      expect(await main(['scrape', url], c.io)).toBe(1);
      expect(c.out()).toBe('');
      expect(c.err()).toContain('status 503');
      expect(c.err()).toContain('failed (http_status)');
      expect(c.err()).not.toContain('secret');
    } finally {
      await target.close();
    }
  });

  it('exits 1 with reason parse on a malformed exposition, printing no sample', async () => {
    const target = await serve((_req, res) => res.end('ok 1\nbad{ 2\n'));
    try {
      const c = capture();
      expect(await main(['scrape', target.url], c.io)).toBe(1);
      expect(c.out()).toBe('');
      expect(c.err()).toMatch(/failed \(parse\): line 2: /);
    } finally {
      await target.close();
    }
  });
});
