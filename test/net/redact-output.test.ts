// SPDX-License-Identifier: Apache-2.0
/**
 * Every place that shows a configured URL redacts it: `validate` output, the stderr line of a
 * rejected reload, discovery errors from a target file.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { validateCommand } from '../../src/cli/validate-command.js';
import { Engine } from '../../src/engine/engine.js';
import { FileSource } from '../../src/discovery/file-source.js';
import { StrataMetrics } from '../../src/telemetry/index.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-redact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SECRETS = ['hunter2', 's3cret', 'zzz'];

function discoveryYaml(url: string): string {
  return [
    'apiVersion: strata.ctx.sh/v1beta1',
    'kind: Discovery',
    'metadata: {name: d}',
    'spec:',
    '  collector: [{name: c}]',
    '  intervalSeconds: 60',
    '  static:',
    `    - url: ${JSON.stringify(url)}`,
    '',
  ].join('\n');
}

describe('shown URLs', () => {
  it('are redacted in validate output', async () => {
    const file = join(dir, 'validate.yaml');
    writeFileSync(file, discoveryYaml('ftp://bob:hunter2@host/m?token=zzz&x=1'));
    let out = '';
    let err = '';
    const code = await validateCommand(['-f', file], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) } });
    expect(code).toBe(1);
    expect(err).toContain('spec.static[0].url: must be an absolute http or https URL, got "ftp://bob:xxxxx@host/m?token=xxxxx&x=1"');
    for (const secret of SECRETS) expect(out + err).not.toContain(secret);
  });

  it('are redacted in the stderr line of a rejected reload', async () => {
    const file = join(dir, 'run.yaml');
    writeFileSync(file, discoveryYaml('http://alice:s3cret@127.0.0.1:1/metrics?token=zzz'));
    const lines: string[] = [];
    const metrics = new StrataMetrics({ defaultMetrics: false });
    const engine = new Engine({ files: [file], watch: false, log: (line) => lines.push(line), metrics });
    try {
      await engine.start();
      writeFileSync(file, discoveryYaml('gopher://alice:hunter2@127.0.0.1:1/metrics?api_key=s3cret'));
      await engine.reload();
      expect(engine.reloads.rejected).toBe(1);
    } finally {
      await engine.stop();
      metrics.close();
    }
    const rejected = lines.find((l) => l.includes('configuration change rejected'));
    expect(rejected).toContain('got "gopher://alice:xxxxx@127.0.0.1:1/metrics?api_key=xxxxx"');
    for (const secret of SECRETS) expect(lines.join('\n')).not.toContain(secret);
  });

  it('are redacted in the error of a target file', async () => {
    const file = join(dir, 'targets.json');
    writeFileSync(file, JSON.stringify([{ url: 'http//alice:hunter2@host/m?token=zzz' }]));
    const source = new FileSource(file);
    await expect(source.discover()).rejects.toThrow(`${file}: [0].url: not an absolute URL: "http//alice:xxxxx@host/m?token=xxxxx"`);
  });
});
