// SPDX-License-Identifier: Apache-2.0
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createSink, FileSink, type SinkOutput, StdoutSink, workerPath } from '../../src/sink/index.js';

describe('createSink', () => {
  it('makes a stdout sink for output.stdout', async () => {
    const sink = createSink({ stdout: {} });
    expect(sink).toBeInstanceOf(StdoutSink);
    expect(sink.kind).toBe('stdout');
    await sink.close();
  });

  it('makes a file sink for output.file, with its settings', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'strata-create-'));
    try {
      const sink = createSink({ file: { path: join(dir, 'out.ndjson'), maxBytes: 100, maxFiles: 2 } });
      expect(sink).toBeInstanceOf(FileSink);
      expect((sink as FileSink).maxFiles).toBe(2);
      expect(await sink.send([Buffer.from('x\n')], new AbortController().signal)).toEqual({ result: 'ok' });
      await sink.close();
      expect((await readFile(join(dir, 'out.ndjson'))).toString()).toBe('x\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('gives each worker its own file', () => {
    const sink = createSink({ file: { path: '/var/log/strata.ndjson', maxBytes: 100 } }, { workerIndex: 3 });
    expect((sink as FileSink).path).toBe('/var/log/strata.w3.ndjson');
  });

  const paths: { input: [string, number]; want: string }[] = [
    { input: ['/var/log/strata.ndjson', 0], want: '/var/log/strata.w0.ndjson' },
    { input: ['/var/log/strata', 1], want: '/var/log/strata.w1' },
    { input: ['out.log', 2], want: 'out.w2.log' },
    { input: ['/tmp/.hidden', 4], want: '/tmp/.hidden.w4' },
  ];
  for (const { input, want } of paths) {
    it(`names worker ${input[1]}'s file for ${input[0]} ${want}`, () => {
      expect(workerPath(...input)).toBe(want);
    });
  }

  const invalid: { input: unknown; err: string }[] = [
    { input: {}, err: 'output: exactly one of stdout, file, nats, kafka, remoteWrite, http, statsd, fluent must be set; got none' },
    { input: { stdout: {}, file: { path: 'x', maxBytes: 1 } }, err: 'output: exactly one of stdout, file, nats, kafka, remoteWrite, http, statsd, fluent must be set; got stdout, file' },
    { input: { nats: { managed: true, subject: 's' } }, err: 'output.nats.managed: a managed NATS server is run by strata operator only; set output.nats.url to run standalone' },
    { input: { s3: {} }, err: 'output: unknown sink "s3"; expected one of stdout, file, nats, kafka, remoteWrite, http, statsd, fluent' },
    { input: { file: { path: 'x', maxBytes: -1 } }, err: 'output.file.maxBytes: must be an integer ≥ 1; got -1' },
  ];
  for (const { input, err } of invalid) {
    it(`refuses ${JSON.stringify(input)} with a ConfigError`, () => {
      expect(() => createSink(input as SinkOutput)).toThrow(ConfigError);
      expect(() => createSink(input as SinkOutput)).toThrow(err);
    });
  }
});
