// SPDX-License-Identifier: Apache-2.0
/**
 * Hostile targets: each fails alone, within its limit, while a healthy target keeps being
 * scraped by the same Scraper at the same time.
 */
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { constants, createGzip, crc32, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScrapeError, ScrapeFailure, Scraper } from '../../src/scrape/index.js';
import { EXPOSITION, type TestServer, httpServer, refusedUrl, tcpServer } from './helpers.js';

const LIMIT = 1 << 20;
const TIMEOUT_MS = 2_000;
/**
 * Timing tolerances that hold on a loaded machine. A deadline may seem to fire up to `EARLY_MS`
 * early: Node arms a timer from the event loop's cached clock, which lags by the length of the
 * task running when it is armed. It may fire up to `LATE_MS` late when the machine is busy.
 */
const EARLY_MS = 50;
const LATE_MS = 3_000;
const BOMB_CHUNK = 1 << 24;
const BOMB_CHUNKS = 70; // 70 × 16 MiB = 1.1 GiB of zeros

/**
 * A gzip stream of 1.1 GiB of zeros, about 1.1 MB long. Compressing 16 MiB of zeros with a full
 * flush after it resets the compressor, so every further 16 MiB compresses to the same bytes:
 * three chunks are compressed, the repeating one is copied, and the trailer is recomputed.
 */
async function gzipBomb(): Promise<Buffer> {
  const zero = Buffer.alloc(BOMB_CHUNK);
  const gzip = createGzip({ level: 9 });
  const parts: Buffer[] = [];
  let current: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => current.push(chunk));
  for (let i = 0; i < 3; i++) {
    gzip.write(zero);
    await new Promise<void>((resolve) => gzip.flush(constants.Z_FULL_FLUSH, () => resolve()));
    parts.push(Buffer.concat(current));
    current = [];
  }
  await new Promise<void>((resolve) => {
    gzip.on('end', resolve);
    gzip.end();
  });
  const tail = Buffer.concat(current);
  const [first, repeat, again] = parts as [Buffer, Buffer, Buffer];
  if (!repeat.equals(again)) throw new Error('full-flushed gzip chunks differ; cannot build the bomb');
  let crc = 0;
  for (let i = 0; i < BOMB_CHUNKS; i++) crc = crc32(zero, crc);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc >>> 0, 0);
  trailer.writeUInt32LE((BOMB_CHUNK * BOMB_CHUNKS) % 2 ** 32, 4);
  const middle: Buffer[] = Array.from({ length: BOMB_CHUNKS - 1 }, () => repeat);
  return Buffer.concat([first, ...middle, tail.subarray(0, tail.length - 8), trailer]);
}

interface Outcome {
  readonly err: ScrapeError | undefined;
  readonly ms: number;
}

async function outcome(promise: Promise<unknown>): Promise<Outcome> {
  const started = performance.now();
  try {
    await promise;
    return { err: undefined, ms: performance.now() - started };
  } catch (err) {
    if (!(err instanceof ScrapeError)) throw err;
    return { err, ms: performance.now() - started };
  }
}

/** Samples RSS and ArrayBuffer memory every 2 ms until stopped; returns the growth at the peak. */
function memoryProbe(): () => { rss: number; arrayBuffers: number } {
  const base = process.memoryUsage();
  let rss = base.rss;
  let arrayBuffers = base.arrayBuffers;
  const timer = setInterval(() => {
    const now = process.memoryUsage();
    rss = Math.max(rss, now.rss);
    arrayBuffers = Math.max(arrayBuffers, now.arrayBuffers);
  }, 2);
  return () => {
    clearInterval(timer);
    const now = process.memoryUsage();
    return {
      rss: Math.max(rss, now.rss) - base.rss,
      arrayBuffers: Math.max(arrayBuffers, now.arrayBuffers) - base.arrayBuffers,
    };
  };
}

describe('Scraper against hostile targets', () => {
  let bomb: Buffer;
  const servers: TestServer[] = [];
  const closedSockets = { slow: 0, silent: 0 };
  let healthy: TestServer;
  let bombServer: TestServer;
  let slow: TestServer;
  let bigLine: TestServer;
  let reset: TestServer;
  let hangUp: TestServer;
  let silent: TestServer;
  let keepAliveRace: TestServer;
  let wireBomb: TestServer;
  let refused: string;

  beforeAll(async () => {
    bomb = await gzipBomb();
    expect(bomb.length).toBeLessThan(4 << 20);

    healthy = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(EXPOSITION);
    });
    // (1) 1.1 MB of gzip inflating to 1.1 GiB, chunked so that no Content-Length gives it away.
    bombServer = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip' });
      res.end(bomb);
    });
    // (2) A line every 50 ms, forever.
    slow = await httpServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      let i = 0;
      const timer = setInterval(() => res.write(`slow_line ${i++}\n`), 50);
      req.socket.on('close', () => {
        clearInterval(timer);
        closedSockets.slow++;
      });
    });
    // (3) 10 MB on one line, chunked.
    bigLine = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(Buffer.alloc(10 << 20, 0x61));
    });
    // (4) Half a body, then a TCP reset.
    reset = await tcpServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n');
        socket.write(Buffer.alloc(30_000, 0x61), () => setTimeout(() => socket.resetAndDestroy(), 20));
      });
    });
    // (4b) Half a chunked body, then a clean close (FIN).
    hangUp = await tcpServer((socket) => {
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nup 1\n\r\n');
        setTimeout(() => socket.end(), 20);
      });
    });
    // (5) Accepts the connection and never answers.
    silent = await tcpServer((socket) => {
      socket.resume(); // reads (and ignores) the request, so the client's close is seen
      socket.on('close', () => closedSockets.silent++);
    });
    // Answers the first request of each connection; closes the connection on the second.
    keepAliveRace = await tcpServer((socket) => {
      let requests = 0;
      let pending = '';
      socket.on('data', (data: Buffer) => {
        pending += data.toString('latin1');
        while (pending.includes('\r\n\r\n')) {
          pending = pending.slice(pending.indexOf('\r\n\r\n') + 4);
          requests++;
          if (requests === 1) {
            socket.write(`HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: ${EXPOSITION.length}\r\n\r\n${EXPOSITION}`);
          } else {
            socket.destroy();
          }
        }
      });
    });
    // 1.5 MB of incompressible data, gzipped: over the limit on the wire. Made once, so that the
    // server spends no CPU on it during a test; sent chunked, with no Content-Length.
    const wireBody = gzipSync(randomBytes(24 * 64 * 1024), { level: 0 });
    wireBomb = await httpServer((_req, res) => {
      res.writeHead(200, { 'Content-Encoding': 'gzip' });
      let at = 0;
      const next = (): void => {
        while (at < wireBody.length) {
          const chunk = wireBody.subarray(at, at + 64 * 1024);
          at += chunk.length;
          if (!res.write(chunk)) {
            res.once('drain', next);
            return;
          }
        }
        res.end();
      };
      next();
    });
    refused = await refusedUrl();
    servers.push(healthy, bombServer, slow, bigLine, reset, hangUp, silent, keepAliveRace, wireBomb);
  });

  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  it('stops a gzip bomb at maxBodyBytes after decompression, with bounded memory', async () => {
    const scraper = new Scraper({ timeoutMs: 5_000, maxBodyBytes: LIMIT });
    try {
      const probe = memoryProbe();
      const { err, ms } = await outcome(scraper.scrape(bombServer.url));
      const growth = probe();
      expect(err?.reason).toBe(ScrapeFailure.BodyTooLarge);
      expect(err?.message).toBe(
        `scrape of ${bombServer.url} exceeded the body limit of 1048576 bytes (scrape.maxBodyBytes) after decompression`,
      );
      expect(ms).toBeLessThan(5_000); // stopped at the limit, well before the deadline
      // Inflating the whole bomb would take 1.1 GiB; the scrape holds about the limit.
      expect(growth.arrayBuffers).toBeLessThan(32 << 20);
      expect(growth.rss).toBeLessThan(128 << 20);
      // The failed socket is not reused: the next scrape opens a new connection.
      const before = healthy.connections();
      await scraper.scrape(healthy.url);
      await scraper.scrape(healthy.url);
      expect(healthy.connections()).toBe(before + 1);
    } finally {
      scraper.close();
    }
  });

  it('cuts an endless slow body at the total deadline and closes its socket', async () => {
    const scraper = new Scraper({ timeoutMs: 500, maxBodyBytes: LIMIT });
    try {
      const closed = closedSockets.slow;
      const { err, ms } = await outcome(scraper.scrape(slow.url));
      expect(err?.reason).toBe(ScrapeFailure.Timeout);
      expect(err?.retryable).toBe(true);
      expect(err?.message).toMatch(
        new RegExp(
          `^scrape of ${slow.url} exceeded the deadline of 500 ms \\(scrape\\.timeoutMs\\) while reading the body, after \\d+ bytes on the wire$`,
        ),
      );
      expect(ms).toBeGreaterThanOrEqual(500 - EARLY_MS);
      expect(ms).toBeLessThan(500 + LATE_MS);
      await expect.poll(() => closedSockets.slow).toBe(closed + 1);
    } finally {
      scraper.close();
    }
  });

  it('fails a 10 MB line over a 1 MB limit as body_too_large', async () => {
    const scraper = new Scraper({ timeoutMs: 5_000, maxBodyBytes: LIMIT });
    try {
      const { err } = await outcome(scraper.scrape(bigLine.url));
      expect(err?.reason).toBe(ScrapeFailure.BodyTooLarge);
      expect(err?.message).toBe(`scrape of ${bigLine.url} exceeded the body limit of 1048576 bytes (scrape.maxBodyBytes)`);
    } finally {
      scraper.close();
    }
  });

  it('fails a gzip body over the limit on the wire before inflating it', async () => {
    const scraper = new Scraper({ timeoutMs: 5_000, maxBodyBytes: LIMIT });
    try {
      const { err } = await outcome(scraper.scrape(wireBomb.url));
      expect(err?.reason).toBe(ScrapeFailure.BodyTooLarge);
      expect(err?.message).toBe(
        `scrape of ${wireBomb.url} exceeded the body limit of 1048576 bytes (scrape.maxBodyBytes) in gzip bytes on the wire`,
      );
    } finally {
      scraper.close();
    }
  });

  it('fails a connection reset mid-body, or closed mid-body, as reset', async () => {
    const scraper = new Scraper({ timeoutMs: 5_000, maxBodyBytes: LIMIT });
    try {
      const a = await outcome(scraper.scrape(reset.url));
      expect(a.err?.reason).toBe(ScrapeFailure.Reset);
      expect(a.err?.retryable).toBe(true);
      expect(a.err?.message).toBe(
        `scrape of ${reset.url} failed: the connection was closed (ECONNRESET) after 30000 bytes of the body were received, before the body was complete`,
      );
      const b = await outcome(scraper.scrape(hangUp.url));
      expect(b.err?.reason).toBe(ScrapeFailure.Reset);
      expect(b.err?.message).toMatch(new RegExp(`^scrape of ${hangUp.url} failed: the connection was closed \\(\\w+\\) after 5 bytes`));
    } finally {
      scraper.close();
    }
  });

  it('fails a target that never answers at the deadline and closes the socket', async () => {
    const scraper = new Scraper({ timeoutMs: 300, maxBodyBytes: LIMIT });
    try {
      const closed = closedSockets.silent;
      const { err, ms } = await outcome(scraper.scrape(silent.url));
      expect(err?.reason).toBe(ScrapeFailure.Timeout);
      expect(err?.message).toBe(
        `scrape of ${silent.url} exceeded the deadline of 300 ms (scrape.timeoutMs) while waiting for the response headers`,
      );
      expect(ms).toBeGreaterThanOrEqual(300 - EARLY_MS);
      expect(ms).toBeLessThan(300 + LATE_MS);
      await expect.poll(() => closedSockets.silent).toBe(closed + 1);
    } finally {
      scraper.close();
    }
  });

  it('retries once on a fresh socket when a reused keep-alive socket is closed under the request', async () => {
    const scraper = new Scraper({ timeoutMs: 2_000, maxBodyBytes: LIMIT });
    try {
      const before = keepAliveRace.connections();
      expect((await scraper.scrape(keepAliveRace.url)).body.toString()).toBe(EXPOSITION);
      expect((await scraper.scrape(keepAliveRace.url)).body.toString()).toBe(EXPOSITION);
      expect(keepAliveRace.connections()).toBe(before + 2);
    } finally {
      scraper.close();
    }
  });

  it('fails a connection closed before any answer on a fresh socket as reset', async () => {
    const rude = await tcpServer((socket) => socket.once('data', () => socket.destroy()));
    const scraper = new Scraper({ timeoutMs: 2_000, maxBodyBytes: LIMIT });
    try {
      const { err } = await outcome(scraper.scrape(rude.url));
      expect(err?.reason).toBe(ScrapeFailure.Reset);
      expect(err?.message).toBe(`scrape of ${rude.url} failed: the connection was closed (ECONNRESET) before the response headers`);
    } finally {
      scraper.close();
      await rude.close();
    }
  });

  it('fails a response that is not HTTP as reset, naming the parser error', async () => {
    const liar = await tcpServer((socket) => socket.once('data', () => socket.end('SSH-2.0-OpenSSH_9.6\r\n\r\n')));
    const scraper = new Scraper({ timeoutMs: 2_000, maxBodyBytes: LIMIT });
    try {
      const { err } = await outcome(scraper.scrape(liar.url));
      expect(err?.reason).toBe(ScrapeFailure.Reset);
      expect(err?.message).toMatch(
        new RegExp(`^scrape of ${liar.url} failed: the target sent an invalid HTTP response \\(HPE_\\w+: .+\\)$`),
      );
    } finally {
      scraper.close();
      await liar.close();
    }
  });

  it('aborts a scrape in flight by signal or by close', async () => {
    const scraper = new Scraper({ timeoutMs: 5_000, maxBodyBytes: LIMIT });
    const controller = new AbortController();
    const byClose = outcome(scraper.scrape(silent.url));
    const bySignal = outcome(scraper.scrape(silent.url, controller.signal));
    setTimeout(() => controller.abort(), 30);
    const signalled = await bySignal;
    expect(signalled.err?.reason).toBe(ScrapeFailure.Aborted);
    expect(signalled.err?.message).toBe(`scrape of ${silent.url} was aborted: This operation was aborted`);
    expect(signalled.ms).toBeLessThan(5_000); // the signal ended it, not the deadline
    scraper.close();
    const closed = await byClose;
    expect(closed.err?.reason).toBe(ScrapeFailure.Aborted);
    expect(closed.err?.message).toBe(`scrape of ${silent.url} was aborted: the scraper is closed`);
  });

  it('keeps scraping a healthy target while every hostile target fails alone, concurrently', async () => {
    const scraper = new Scraper({ timeoutMs: TIMEOUT_MS, maxBodyBytes: LIMIT });
    try {
      const probe = memoryProbe();
      const hostile = {
        bomb: outcome(scraper.scrape(bombServer.url)),
        slow: outcome(scraper.scrape(slow.url)),
        bigLine: outcome(scraper.scrape(bigLine.url)),
        reset: outcome(scraper.scrape(reset.url)),
        silent: outcome(scraper.scrape(silent.url)),
        refused: outcome(scraper.scrape(refused)),
        wireBomb: outcome(scraper.scrape(wireBomb.url)),
      };
      let done = false;
      const all = Promise.all(Object.values(hostile)).then(() => {
        done = true;
      });
      const latencies: number[] = [];
      while (!done) {
        const started = performance.now();
        const result = await scraper.scrape(healthy.url);
        latencies.push(performance.now() - started);
        expect(result.body.toString()).toBe(EXPOSITION);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await all;
      const growth = probe();

      const want = {
        bomb: ScrapeFailure.BodyTooLarge,
        slow: ScrapeFailure.Timeout,
        bigLine: ScrapeFailure.BodyTooLarge,
        reset: ScrapeFailure.Reset,
        silent: ScrapeFailure.Timeout,
        refused: ScrapeFailure.Connect,
        wireBomb: ScrapeFailure.BodyTooLarge,
      };
      for (const [name, promise] of Object.entries(hostile)) {
        const { err, ms } = await promise;
        expect({ name, reason: err?.reason }).toEqual({ name, reason: want[name as keyof typeof want] });
        if (err?.reason === ScrapeFailure.Timeout) {
          expect(ms).toBeGreaterThanOrEqual(TIMEOUT_MS - EARLY_MS);
          expect(ms).toBeLessThan(TIMEOUT_MS + LATE_MS);
        }
        // Any other reason failed the scrape before its deadline (else it would be a timeout).
      }
      expect(latencies.length).toBeGreaterThan(10);
      // A healthy scrape never waits out a hostile target's deadline.
      expect(Math.max(...latencies)).toBeLessThan(TIMEOUT_MS);
      expect(growth.arrayBuffers).toBeLessThan(64 << 20);
      expect(growth.rss).toBeLessThan(256 << 20);
    } finally {
      scraper.close();
    }
  });
});
