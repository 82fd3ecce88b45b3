// SPDX-License-Identifier: Apache-2.0
import http from 'node:http';
import { gzipSync, deflateSync } from 'node:zlib';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { ACCEPT_HEADER } from '../../src/parse/index.js';
import {
  DEFAULT_USER_AGENT,
  SCRAPE_ERROR_CODE,
  ScrapeError,
  ScrapeFailure,
  type ScrapeOptions,
  Scraper,
} from '../../src/scrape/index.js';
import { EXPOSITION, type TestServer, httpServer, refusedUrl } from './helpers.js';

const OPTIONS: ScrapeOptions = { timeoutMs: 2_000, maxBodyBytes: 1 << 20 };

async function failure(promise: Promise<unknown>): Promise<ScrapeError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScrapeError);
    return err as ScrapeError;
  }
  throw new Error('the scrape succeeded; a failure was expected');
}

describe('Scraper against a well-behaved target', () => {
  let server: TestServer;
  let scraper: Scraper;
  let lastHeaders: http.IncomingHttpHeaders = {};
  const gzipped = gzipSync(EXPOSITION);
  const deflated = deflateSync(EXPOSITION);

  beforeAll(async () => {
    server = await httpServer((req, res) => {
      lastHeaders = req.headers;
      const path = req.url ?? '';
      if (path === '/metrics') {
        res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
        res.end(EXPOSITION);
      } else if (path === '/gzip') {
        res.writeHead(200, { 'Content-Type': 'application/openmetrics-text; version=1.0.0', 'Content-Encoding': 'gzip' });
        res.end(gzipped);
      } else if (path === '/deflate') {
        res.writeHead(200, { 'Content-Encoding': 'deflate' });
        res.end(deflated);
      } else if (path === '/chunked') {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        for (let i = 0; i < 100; i++) res.write(`line_${i} ${i}\n`);
        res.end();
      } else if (path === '/no-type') {
        res.removeHeader('Content-Type');
        res.writeHead(200);
        res.end('up 1\n');
      } else if (path === '/empty') {
        res.writeHead(204);
        res.end();
      } else if (path === '/bad-gzip') {
        res.writeHead(200, { 'Content-Encoding': 'gzip' });
        res.end(Buffer.from('this is not gzip at all'));
      } else if (path === '/brotli') {
        res.writeHead(200, { 'Content-Encoding': 'br' });
        res.end('whatever');
      } else if (path === '/declared-large') {
        res.writeHead(200, { 'Content-Length': String(2 << 20) });
        res.write('up 1\n');
      } else if (path.startsWith('/status/')) {
        const status = Number(path.slice('/status/'.length));
        res.writeHead(status, { 'Content-Type': 'text/plain' });
        res.end('nope\n');
      } else {
        res.writeHead(404);
        res.end();
      }
    }, '');
    scraper = new Scraper(OPTIONS);
  });

  afterAll(async () => {
    scraper.close();
    await server.close();
  });

  it('returns a plain body with its content type, status and sizes', async () => {
    const result = await scraper.scrape(`${server.url}/metrics`);
    expect(result.body.toString()).toBe(EXPOSITION);
    expect(result.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(result.status).toBe(200);
    expect(result.bytes).toBe(Buffer.byteLength(EXPOSITION));
    expect(result.bytesOnWire).toBe(Buffer.byteLength(EXPOSITION));
    expect(result.durationMs).toBeGreaterThan(0);
    expect(result.durationMs).toBeLessThan(OPTIONS.timeoutMs);
  });

  it('sends the Accept, Accept-Encoding, User-Agent and scrape timeout headers', async () => {
    await scraper.scrape(`${server.url}/metrics`);
    expect(lastHeaders['accept']).toBe(ACCEPT_HEADER);
    expect(lastHeaders['accept-encoding']).toBe('gzip');
    expect(lastHeaders['user-agent']).toBe(DEFAULT_USER_AGENT);
    expect(DEFAULT_USER_AGENT).toMatch(/^strata\/\d+\.\d+\.\d+$/);
    expect(lastHeaders['x-prometheus-scrape-timeout-seconds']).toBe('2');
    const custom = new Scraper({ timeoutMs: 1_500, maxBodyBytes: 1024, userAgent: 'strata-test/1' });
    try {
      await custom.scrape(`${server.url}/metrics`);
      expect(lastHeaders['user-agent']).toBe('strata-test/1');
      expect(lastHeaders['x-prometheus-scrape-timeout-seconds']).toBe('1.5');
    } finally {
      custom.close();
    }
  });

  it('decompresses a gzip body and counts wire and decompressed bytes apart', async () => {
    const result = await scraper.scrape(`${server.url}/gzip`);
    expect(result.body.toString()).toBe(EXPOSITION);
    expect(result.contentType).toBe('application/openmetrics-text; version=1.0.0');
    expect(result.bytesOnWire).toBe(gzipped.length);
    expect(result.bytes).toBe(Buffer.byteLength(EXPOSITION));
  });

  it('decompresses a deflate body', async () => {
    const result = await scraper.scrape(`${server.url}/deflate`);
    expect(result.body.toString()).toBe(EXPOSITION);
    expect(result.bytesOnWire).toBe(deflated.length);
  });

  it('joins a chunked body in order', async () => {
    const result = await scraper.scrape(`${server.url}/chunked`);
    const want = Array.from({ length: 100 }, (_, i) => `line_${i} ${i}\n`).join('');
    expect(result.body.toString()).toBe(want);
    expect(result.contentType).toBe('text/plain');
  });

  it('streams a gzip body to a consumer as it arrives, keeping none of it', async () => {
    const parts: string[] = [];
    const types = new Set<string | undefined>();
    const result = await scraper.scrape(`${server.url}/gzip`, undefined, (chunk, contentType) => {
      parts.push(chunk.toString());
      types.add(contentType);
    });
    expect(parts.join('')).toBe(EXPOSITION);
    expect([...types]).toEqual(['application/openmetrics-text; version=1.0.0']);
    expect(result.chunks).toEqual([]);
    expect(result.body.length).toBe(0);
    expect(result.bytes).toBe(Buffer.byteLength(EXPOSITION));
  });

  it('fails the scrape with what the consumer throws, and frees the socket', async () => {
    const boom = new Error('the parser refused line 3');
    await expect(
      scraper.scrape(`${server.url}/chunked`, undefined, () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    const again = await scraper.scrape(`${server.url}/metrics`);
    expect(again.body.toString()).toBe(EXPOSITION);
  });

  it('passes a missing content type through as undefined and accepts an empty 204', async () => {
    expect((await scraper.scrape(`${server.url}/no-type`)).contentType).toBeUndefined();
    const empty = await scraper.scrape(`${server.url}/empty`);
    expect(empty.status).toBe(204);
    expect(empty.body.length).toBe(0);
  });

  it('reuses one keep-alive socket for sequential scrapes', async () => {
    const own = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(EXPOSITION);
    });
    const s = new Scraper(OPTIONS);
    try {
      for (let i = 0; i < 5; i++) {
        expect((await s.scrape(own.url)).body.toString()).toBe(EXPOSITION);
      }
      expect(own.connections()).toBe(1);
    } finally {
      s.close();
      await own.close();
    }
  });

  it('opens no more than maxSockets connections to one origin', async () => {
    const own = await httpServer((_req, res) => {
      setTimeout(() => res.end(EXPOSITION), 20);
    });
    const s = new Scraper({ ...OPTIONS, maxSockets: 2 });
    try {
      const results = await Promise.all(Array.from({ length: 8 }, () => s.scrape(own.url)));
      expect(results.every((r) => r.body.toString() === EXPOSITION)).toBe(true);
      expect(own.connections()).toBe(2);
    } finally {
      s.close();
      await own.close();
    }
  });

  it('reads at most maxBodies bodies at once; the others wait their turn, and all complete', async () => {
    // Two slow bodies (two parts, 150 ms apart) take both turns; three quick ones must wait.
    const own = await httpServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('a 1\n');
      if (req.url?.endsWith('slow') === true) setTimeout(() => res.end('b 2\n'), 150);
      else res.end('b 2\n');
    });
    const s = new Scraper({ ...OPTIONS, maxSockets: 8, maxBodies: 2 });
    const t0 = performance.now();
    const firstChunk: number[] = [];
    const lastChunk: number[] = [];
    const scrape = (url: string, k: number): Promise<number> =>
      s.scrape(url, undefined, () => {
        firstChunk[k] ??= performance.now() - t0;
        lastChunk[k] = performance.now() - t0;
      }).then((r) => r.bytes);
    try {
      const slow = [scrape(`${own.url}?slow`, 0), scrape(`${own.url}?slow`, 1)];
      await new Promise((r) => setTimeout(r, 50));
      const quick = [2, 3, 4].map((k) => scrape(own.url, k));
      expect(await Promise.all([...slow, ...quick])).toEqual([8, 8, 8, 8, 8]);
      const slowDone = Math.min(lastChunk[0] as number, lastChunk[1] as number);
      for (const k of [2, 3, 4]) expect(firstChunk[k] as number, `quick scrape ${k}`).toBeGreaterThanOrEqual(slowDone);
      expect(own.connections()).toBe(5); // every request went out; only the reading waited
    } finally {
      s.close();
      await own.close();
    }
  });

  it('times out a scrape that waits too long for its turn, naming the wait; the turn is handed on', async () => {
    const own = await httpServer((req, res) => {
      const hold = req.url?.endsWith('hold') === true;
      const late = req.url?.endsWith('late') === true;
      setTimeout(
        () => {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          if (hold) res.write('a 1\n'); // never ends: holds the only turn until its deadline
          else res.end('b 2\n');
        },
        late ? 100 : 0,
      );
    });
    const s = new Scraper({ ...OPTIONS, timeoutMs: 400, maxBodies: 1 });
    try {
      // The late one is sent first (its deadline comes first), the holder takes the turn
      // while the late one still waits for its headers.
      const late = failure(s.scrape(`${own.url}?late`));
      await new Promise((r) => setTimeout(r, 20));
      const held = failure(s.scrape(`${own.url}?hold`));
      const waiting = await late;
      expect(waiting.reason).toBe(ScrapeFailure.Timeout);
      expect(waiting.message).toContain('while waiting its turn to read the body (at most 1 are read at once)');
      // Waiting when the holder times out, this one gets the turn and completes.
      const next = s.scrape(own.url);
      expect((await held).message).toContain('while reading the body');
      expect((await next).body.toString()).toBe('b 2\n');
    } finally {
      s.close();
      await own.close();
    }
  });

  it.each([
    { status: 404, retryable: false, want: 'returned HTTP status 404 (Not Found); only 2xx is a success' },
    { status: 500, retryable: true, want: 'returned HTTP status 500 (Internal Server Error); only 2xx is a success' },
    { status: 503, retryable: true, want: 'returned HTTP status 503 (Service Unavailable); only 2xx is a success' },
    { status: 429, retryable: true, want: 'returned HTTP status 429 (Too Many Requests); only 2xx is a success' },
    { status: 301, retryable: false, want: 'returned HTTP status 301 (Moved Permanently); only 2xx is a success' },
  ])('fails a $status answer with reason http_status', async ({ status, retryable, want }) => {
    const url = `${server.url}/status/${status}`;
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.HttpStatus);
    expect(err.status).toBe(status);
    expect(err.retryable).toBe(retryable);
    expect(err.code).toBe(SCRAPE_ERROR_CODE);
    expect(err.code).toBe('STRATA_E_SCRAPE');
    expect(err.message).toBe(`scrape of ${url} ${want}`);
  });

  it('fails a body that is not gzip with reason decompress', async () => {
    const url = `${server.url}/bad-gzip`;
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.Decompress);
    expect(err.message).toMatch(
      new RegExp(`^scrape of ${url} returned a gzip body that cannot be decompressed after 23 bytes on the wire: `),
    );
  });

  it('refuses a Content-Encoding it did not ask for', async () => {
    const url = `${server.url}/brotli`;
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.Decompress);
    expect(err.message).toBe(`scrape of ${url} returned Content-Encoding "br", which strata does not decode (it asks for gzip)`);
  });

  it('fails a declared Content-Length over the limit before reading the body', async () => {
    const url = `${server.url}/declared-large`;
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.BodyTooLarge);
    expect(err.message).toBe(
      `scrape of ${url} declared a body of 2097152 bytes (Content-Length), over the body limit of 1048576 bytes (scrape.maxBodyBytes)`,
    );
  });

  it('still works after every failure above', async () => {
    expect((await scraper.scrape(`${server.url}/metrics`)).body.toString()).toBe(EXPOSITION);
  });
});

describe.each([
  ['synchronous inflater', true],
  ['streaming zlib', false],
])('Scraper inflating with the %s', (_name, syncInflate) => {
  // ~1.5 MB of text in many 64 KiB pieces of output, sent in small chunks on the wire.
  const text = Buffer.from(Array.from({ length: 30_000 }, (_, i) => `m{i="${i}",h="${(i * 7919).toString(36)}"} ${i}\n`).join(''));
  const gzipped = gzipSync(text, { level: 1 });
  const twoMembers = Buffer.concat([gzipSync(text.subarray(0, 500_000)), gzipSync(text.subarray(500_000))]);
  // Each wire chunk of this one inflates to several slices of output.
  const repetitive = Buffer.from(Array.from({ length: 200_000 }, (_, i) => `r{i="${i % 10}"} ${i % 3}\n`).join(''));
  const repetitiveGzip = gzipSync(repetitive, { level: 9 });
  let server: TestServer;
  let scraper: Scraper;

  beforeAll(async () => {
    server = await httpServer((req, res) => {
      const body =
        req.url === '/members'
          ? twoMembers
          : req.url === '/truncated'
            ? gzipped.subarray(0, gzipped.length - 50)
            : req.url === '/repetitive'
              ? repetitiveGzip
              : gzipped;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' });
      let at = 0;
      const next = (): void => {
        if (at >= body.length) {
          res.end();
          return;
        }
        res.write(body.subarray(at, at + 7_777), next);
        at += 7_777;
      };
      next();
    }, '');
    scraper = new Scraper({ timeoutMs: 5_000, maxBodyBytes: 4 << 20, syncInflate });
  });

  afterAll(async () => {
    scraper.close();
    await server.close();
  });

  it('collects the whole body when there is no consumer', async () => {
    const result = await scraper.scrape(`${server.url}/metrics`);
    expect(result.body.equals(text)).toBe(true);
    expect(result.bytes).toBe(text.length);
    expect(result.bytesOnWire).toBe(gzipped.length);
  });

  it('hands a consumer the body in order, in pieces it may not keep', async () => {
    const copies: Buffer[] = [];
    await scraper.scrape(`${server.url}/metrics`, undefined, (chunk) => copies.push(Buffer.from(chunk)));
    expect(copies.length).toBeGreaterThan(1);
    expect(Buffer.concat(copies).equals(text)).toBe(true);
  });

  it('keeps order when one wire chunk inflates to many slices, with and without a consumer', async () => {
    expect(repetitiveGzip.length * 50).toBeLessThan(repetitive.length);
    const copies: Buffer[] = [];
    await scraper.scrape(`${server.url}/repetitive`, undefined, (chunk) => copies.push(Buffer.from(chunk)));
    expect(Buffer.concat(copies).equals(repetitive)).toBe(true);
    expect((await scraper.scrape(`${server.url}/repetitive`)).body.equals(repetitive)).toBe(true);
  });

  it('inflates a body of two gzip members', async () => {
    expect((await scraper.scrape(`${server.url}/members`)).body.equals(text)).toBe(true);
  });

  it('fails a truncated body as decompress and keeps working', async () => {
    const url = `${server.url}/truncated`;
    const err = await failure(scraper.scrape(url, undefined, () => {}));
    expect(err.reason).toBe(ScrapeFailure.Decompress);
    expect(err.message).toBe(
      `scrape of ${url} returned a gzip body that cannot be decompressed after ${gzipped.length - 50} bytes on the wire: unexpected end of file`,
    );
    expect((await scraper.scrape(`${server.url}/metrics`)).body.equals(text)).toBe(true);
  });

  it('stops at the body limit after decompression, and at a consumer that throws', async () => {
    const small = new Scraper({ timeoutMs: 5_000, maxBodyBytes: 300_000, syncInflate });
    try {
      const url = `${server.url}/metrics`;
      const err = await failure(small.scrape(url, undefined, () => {}));
      expect(err.reason).toBe(ScrapeFailure.BodyTooLarge);
      expect(err.message).toBe(`scrape of ${url} exceeded the body limit of 300000 bytes (scrape.maxBodyBytes) after decompression`);
    } finally {
      small.close();
    }
    const boom = new Error('refused');
    let calls = 0;
    await expect(
      scraper.scrape(`${server.url}/metrics`, undefined, () => {
        calls++;
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(calls).toBe(1);
  });
});

describe('Scraper failures that need no target', () => {
  let scraper: Scraper;
  beforeAll(() => {
    scraper = new Scraper(OPTIONS);
  });
  afterEach(() => undefined);
  afterAll(() => scraper.close());

  it.each([
    { url: 'not a url', want: 'scrape of "not a url" was refused: it is not a valid URL' },
    { url: 'ftp://127.0.0.1/metrics', want: 'scrape of "ftp://127.0.0.1/metrics" was refused: its scheme "ftp" is not http or https' },
    { url: '', want: 'scrape of "" was refused: it is not a valid URL' },
  ])('refuses $url with reason invalid_url', async ({ url, want }) => {
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.InvalidUrl);
    expect(err.message).toBe(want);
    expect(err.retryable).toBe(false);
  });

  it('fails a refused connection with reason connect', async () => {
    const url = await refusedUrl();
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.Connect);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(new RegExp(`^scrape of ${url} could not connect: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+$`));
  });

  // A host that does not resolve fails with reason dns: see dns.test.ts.

  it('redacts a password in the URL from messages', async () => {
    const url = await refusedUrl();
    const withAuth = url.replace('http://', 'http://user:s3cret@');
    const err = await failure(scraper.scrape(withAuth));
    expect(err.message).not.toContain('s3cret');
    expect(err.url).toBe(url.replace('http://', 'http://user:xxxxx@'));
  });

  it('redacts a secret-looking query parameter from messages', async () => {
    const url = await refusedUrl();
    const err = await failure(scraper.scrape(`${url}?module=m&access_token=s3cret`));
    expect(err.message).not.toContain('s3cret');
    expect(err.url).toBe(`${url}?module=m&access_token=xxxxx`);
    expect(err.message).toMatch(new RegExp(`^scrape of ${url.replace(/[.?]/g, '\\$&')}\\?module=m&access_token=xxxxx could not connect: `));
  });

  it('fails an already aborted signal with reason aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    const err = await failure(scraper.scrape('http://127.0.0.1:1/metrics', controller.signal));
    expect(err.reason).toBe(ScrapeFailure.Aborted);
    expect(err.message).toBe('scrape of http://127.0.0.1:1/metrics was aborted: shutting down');
  });

  it('rejects scrapes after close, with reason aborted', async () => {
    const s = new Scraper(OPTIONS);
    s.close();
    s.close();
    const err = await failure(s.scrape('http://127.0.0.1:1/metrics'));
    expect(err.reason).toBe(ScrapeFailure.Aborted);
    expect(err.message).toBe('scrape of http://127.0.0.1:1/metrics was aborted: the scraper is closed');
  });

  it.each([
    { options: { timeoutMs: 0, maxBodyBytes: 1 }, field: 'scrape.timeoutMs' },
    { options: { timeoutMs: Number.NaN, maxBodyBytes: 1 }, field: 'scrape.timeoutMs' },
    { options: { timeoutMs: 1000, maxBodyBytes: 0 }, field: 'scrape.maxBodyBytes' },
    { options: { timeoutMs: 1000, maxBodyBytes: 1.5 }, field: 'scrape.maxBodyBytes' },
    { options: { timeoutMs: 1000, maxBodyBytes: 1, maxSockets: 0 }, field: 'scrape.maxSockets' },
    { options: { timeoutMs: 1000, maxBodyBytes: 1, userAgent: 'a\r\nb: c' }, field: 'scrape.userAgent' },
    { options: { timeoutMs: 1000, maxBodyBytes: 1, tls: { ca: 'not a pem' } }, field: 'tls.ca' },
    { options: { timeoutMs: 1000, maxBodyBytes: 1, tls: { cert: 'x' } }, field: 'tls.key' },
  ] as { options: ScrapeOptions; field: string }[])('refuses options with a bad $field', ({ options, field }) => {
    let thrown: unknown;
    try {
      new Scraper(options).close();
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).field).toBe(field);
  });
});
