// SPDX-License-Identifier: Apache-2.0
/**
 * `strata scrape URL`: one scrape of one target, the quickest way to check an exporter from a
 * shell. It scrapes as a Collector would (same client, limits, gzip, OpenMetrics negotiation),
 * parses the body as a Collector would, and prints either the samples as JSON lines on stdout
 * (`--output json`, default) or a table of series (`--output table`), then a summary line on
 * stderr: HTTP status, duration, bytes on the wire and decompressed, series, samples, and the
 * error if any.
 *
 * Exit status: 0 when the scrape and parse succeeded, 1 when the target failed (the summary
 * names the reason: `timeout`, `connect`, `http_status`, `parse`, …), 2 on a usage error.
 */
import { parseArgs } from 'node:util';
import { JsonEncoder } from '../encode/json.js';
import { ParseError, UsageError } from '../errors.js';
import { ExpositionParser } from '../parse/index.js';
import { redactUrl } from '../net/redact.js';
import { type ScrapeResult, ScrapeError, Scraper } from '../scrape/index.js';
import type { SampleBatch } from '../sample.js';
import type { CommandIO } from './parse-command.js';

export const SCRAPE_USAGE = 'usage: strata scrape URL [--output json|table] [--timeout-seconds 10] [--max-body-bytes N]';

export const SCRAPE_HELP = `${SCRAPE_USAGE}

Scrapes URL once, as a Collector would, and prints its samples.
  --output json         one JSON sample per line on stdout (default)
  --output table        one line per sample: name, labels, value
  --timeout-seconds N   total deadline of the scrape (default 10)
  --max-body-bytes N    largest body accepted after decompression (default 64 MiB)
A summary goes to stderr: status, duration, bytes, series, samples, and the error if any.
Exit status: 0 success, 1 the target failed, 2 usage error.
`;

export async function scrapeCommand(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      output: { type: 'string' },
      'timeout-seconds': { type: 'string' },
      'max-body-bytes': { type: 'string' },
    },
  });
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'scrape needs a URL' : `unexpected argument ${JSON.stringify(positionals[1])}`);
  const url = positionals[0] as string;
  if (!/^https?:\/\//i.test(url)) throw new UsageError(`URL must start with http:// or https://, got ${JSON.stringify(redactUrl(url))}`);
  const output = values.output ?? 'json';
  if (output !== 'json' && output !== 'table') throw new UsageError(`--output must be json or table, got ${JSON.stringify(output)}`);
  const timeoutSeconds = positive('timeout-seconds', values['timeout-seconds'], 10);
  const maxBodyBytes = positive('max-body-bytes', values['max-body-bytes'], 64 * 1024 * 1024);

  const scraper = new Scraper({ timeoutMs: timeoutSeconds * 1000, maxBodyBytes });
  const started = performance.now();
  let parser: ExpositionParser | undefined;
  const open = (contentType: string | undefined): ExpositionParser =>
    new ExpositionParser(contentType === undefined ? {} : { contentType });
  let res: ScrapeResult | undefined;
  let batch: SampleBatch | undefined;
  let failure: { reason: string; message: string } | undefined;
  try {
    res = await scraper.scrape(url, undefined, (chunk, contentType) => {
      parser ??= open(contentType);
      parser.push(chunk);
    });
    parser ??= open(res.contentType);
    batch = parser.end().batch;
  } catch (e) {
    parser?.abort();
    if (e instanceof ScrapeError) failure = { reason: e.reason, message: e.message };
    else if (e instanceof ParseError) failure = { reason: 'parse', message: e.message };
    else throw e;
  } finally {
    scraper.close();
  }
  const ms = performance.now() - started;
  if (batch !== undefined) {
    if (output === 'json') {
      const encoder = new JsonEncoder({ maxSamples: Number.MAX_SAFE_INTEGER, maxBytes: 1 << 20, memoise: false });
      encoder.encodeTo(batch, Date.now(), (message) => {
        io.stdout.write(new Uint8Array(message));
      });
    } else {
      io.stdout.write(table(batch));
    }
  }
  const series = batch === undefined ? 0 : new Set(batch.series.slice(0, batch.length)).size;
  const parts = [
    `strata scrape ${redactUrl(url)}:`,
    res === undefined ? 'no answer' : `status ${res.status}`,
    `${ms.toFixed(0)} ms`,
    res === undefined ? '' : `${res.bytesOnWire} bytes on the wire, ${res.bytes} decompressed`,
    `${series} series`,
    `${batch?.length ?? 0} samples`,
  ].filter((p) => p !== '');
  io.stderr.write(`${parts.join(' · ')}\n`);
  if (failure !== undefined) {
    io.stderr.write(`strata scrape: failed (${failure.reason}): ${failure.message}\n`);
    return 1;
  }
  return 0;
}

function positive(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || raw.trim() === '') throw new UsageError(`--${name} must be a number > 0, got ${JSON.stringify(raw)}`);
  return n;
}

/** `name{labels} value` lines, the labels sorted, as `promtool` would print a series. */
function table(batch: SampleBatch): string {
  const lines: string[] = [];
  for (let i = 0; i < batch.length; i++) {
    const s = batch.series[i];
    if (s === undefined) continue;
    const tags = Object.entries(s.tags)
      .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
      .join(',');
    lines.push(`${s.name}${tags === '' ? '' : `{${tags}}`} ${String(batch.values[i])}  (${s.type})`);
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
