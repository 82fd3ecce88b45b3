// SPDX-License-Identifier: Apache-2.0
/**
 * The demo target: an HTTP server exposing the demo exposition on `/metrics`, for the quick
 * start, tests and benchmarks.
 *
 * - `GET /metrics` (any query string) renders scrape n (n = scrapes served before this one), so
 *   every scrape has new values; `Content-Type: text/plain; version=0.0.4; charset=utf-8`, gzip
 *   (level `gzipLevel`, default 1: fast, as a busy exporter would) when `Accept-Encoding` allows
 *   it. `HEAD /metrics` answers the headers only and does not count as a scrape.
 * - With `prerender` K, scrapes 0…K−1 are rendered and compressed once at start and scrape n
 *   serves number n mod K: consecutive scrapes still differ (for K ≥ 2), and the target costs
 *   almost no CPU, so a benchmark's collector gets the machine's cores (counters restart every K
 *   scrapes, as after an exporter restart).
 * - Churn (series replaced by new ones every scrape, as pods are rescheduled; see
 *   `exposition.ts`): `GET /metrics?churn=C` with C a share in 0..1, or the `churn` option as the
 *   default of requests that do not say. Churn scrapes are counted per query string (at most
 *   `MAX_CHURN_KEYS` of them; more share one count), so collectors that scrape the same target
 *   with different queries (`?churn=0.1&copy=2`) each see a share C of new series per scrape of
 *   theirs. Churn scrape k of a query serves `render(k, {churn: C, churnScrape: k})` (values and
 *   series both follow k). Right after serving scrape k, the target renders and compresses scrape
 *   k + 1 of that query ahead (one body per query is kept), so a collector's next scrape is
 *   answered at once instead of waiting for a rendering (at 20 targets scraped together, the
 *   renderings queue up); when the next request comes before it is ready, it is rendered then.
 *   A malformed C answers 400. Churn 0 (the default) serves exactly what the target served
 *   before churn existed.
 * - Anything else: 404 (405 for other methods on `/metrics`).
 * - Keep-alive; `close()` stops listening and closes idle and active connections.
 *
 * Output buffers are recycled (at most `POOL_SIZE` kept): a buffer goes back to the pool once its
 * body has been handed to the socket ('finish') or compressed; a response that ends otherwise
 * (client gone) leaves its buffer to the garbage collector, so a buffer is never rewritten while
 * anything may still read it. Recycling matters because a fresh multi-megabyte buffer per scrape
 * is paid in page faults, which cost more than the rendering itself (docs/performance.md).
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import { gzip, gzipSync } from 'node:zlib';
import { ConfigError } from '../errors.js';
import { type DemoDescription, createDemoExposition } from './exposition.js';
import { listen } from '../net/listen.js';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface DemoTargetOptions {
  /** Sample lines per scrape. */
  readonly series: number;
  /** Port to listen on; 0 (the default) picks a free one. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Seed of the exposition; default 1. */
  readonly seed?: number;
  /** zlib level for gzip responses, 1–9; default 1. */
  readonly gzipLevel?: number;
  /** Scrapes rendered once at start and served in turn; 0 (the default) renders every scrape. */
  readonly prerender?: number;
  /** Share of the series replaced per scrape when the request has no `churn` query; default 0. */
  readonly churn?: number;
}

export interface DemoTarget {
  /** `http://host:port/metrics`. */
  readonly url: string;
  readonly port: number;
  readonly description: DemoDescription;
  close(): Promise<void>;
  /** Scrapes served (GET /metrics requests answered or being answered). */
  scrapes(): number;
}

const POOL_SIZE = 4;
const MAX_PRERENDER = 64;
const KEEP_ALIVE_MS = 30_000;
const MAX_CHURN_KEYS = 64;

/** One churning query's scrapes: the next churn scrape number, and its body when rendered ahead. */
interface ChurnState {
  readonly churn: number;
  next: number;
  ahead: { readonly k: number; readonly plain: Buffer; readonly gzipped: Buffer } | null;
  rendering: boolean;
}

/** The `churn` share of a query string: the default when absent, null when malformed. */
export function churnOf(query: string, fallback: number): number | null {
  const raw = new URLSearchParams(query).get('churn');
  if (raw === null) return fallback;
  if (!/^(?:0|1|0?\.\d+|1\.0*)$/.test(raw)) return null;
  return Number(raw);
}

/** True when `header` accepts gzip (`gzip`, `x-gzip` or `*`, with a q-value above 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (header === undefined) return false;
  for (const part of header.split(',')) {
    const [token = '', ...params] = part.split(';');
    const name = token.trim().toLowerCase();
    if (name !== 'gzip' && name !== 'x-gzip' && name !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

export async function startDemoTarget(options: DemoTargetOptions): Promise<DemoTarget> {
  const { series, port = 0, host = '127.0.0.1', seed = 1, gzipLevel = 1 } = options;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError('port', `must be an integer in 0..65535, got ${String(port)}`);
  if (!Number.isInteger(gzipLevel) || gzipLevel < 1 || gzipLevel > 9) {
    throw new ConfigError('gzipLevel', `must be an integer in 1..9, got ${String(gzipLevel)}`);
  }
  const prerender = options.prerender ?? 0;
  const defaultChurn = options.churn ?? 0;
  if (!(defaultChurn >= 0 && defaultChurn <= 1)) throw new ConfigError('churn', `must be a share in 0..1, got ${String(defaultChurn)}`);
  /** Churning queries, by query string (and churn share: the shared overflow state may see several). */
  const churnStates = new Map<string, ChurnState>();
  let closed = false;

  /** Renders and compresses churn scrape `st.next` of `st` ahead, unless it is being done. */
  const renderAhead = (st: ChurnState): void => {
    if (st.rendering || closed) return;
    st.rendering = true;
    const k = st.next;
    setImmediate(() => {
      const plain = exposition.render(k, { churn: st.churn, churnScrape: k });
      gzip(plain, { level: gzipLevel }, (err, gzipped) => {
        st.rendering = false;
        if (err !== null || closed) return;
        if (st.next === k) st.ahead = { k, plain, gzipped };
        else renderAhead(st); // a request took k meanwhile: render the one after
      });
    });
  };

  const serveChurn = (res: ServerResponse, headers: Record<string, string | number>, gz: boolean, query: string, churn: number): void => {
    let key = `${churn} ${query}`;
    if (!churnStates.has(key) && churnStates.size >= MAX_CHURN_KEYS) key = `${churn} *`;
    let st = churnStates.get(key);
    if (st === undefined) {
      st = { churn, next: 0, ahead: null, rendering: false };
      churnStates.set(key, st);
    }
    const k = st.next++;
    const ready = st.ahead?.k === k ? st.ahead : null;
    st.ahead = null;
    renderAhead(st);
    if (ready !== null) {
      const body = gz ? ready.gzipped : ready.plain;
      headers['Content-Length'] = body.length;
      res.writeHead(200, headers).end(body);
      return;
    }
    const plain = exposition.render(k, { churn, churnScrape: k });
    if (!gz) {
      headers['Content-Length'] = plain.length;
      res.writeHead(200, headers).end(plain);
      return;
    }
    gzip(plain, { level: gzipLevel }, (err, zipped) => {
      if (res.destroyed) return;
      if (err !== null) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`gzip failed: ${err.message}\n`);
        return;
      }
      headers['Content-Length'] = zipped.length;
      res.writeHead(200, headers).end(zipped);
    });
  };
  if (!Number.isInteger(prerender) || prerender < 0 || prerender > MAX_PRERENDER) {
    throw new ConfigError('prerender', `must be an integer in 0..${MAX_PRERENDER}, got ${String(prerender)}`);
  }
  const exposition = createDemoExposition({ series, seed });
  const rendered: { plain: Buffer; gzipped: Buffer }[] = [];
  for (let n = 0; n < prerender; n++) {
    const buf = Buffer.allocUnsafe(exposition.maxBytes);
    const plain = Buffer.from(buf.subarray(0, exposition.renderInto(n, buf)));
    rendered.push({ plain, gzipped: gzipSync(plain, { level: gzipLevel }) });
  }
  const free: Buffer[] = [];
  let scrapes = 0;

  const release = (buf: Buffer): void => {
    if (free.length < POOL_SIZE) free.push(buf);
  };

  const serveMetrics = (req: IncomingMessage, res: ServerResponse, query: string): void => {
    const head = req.method === 'HEAD';
    if (req.method !== 'GET' && !head) {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    const gz = acceptsGzip(req.headers['accept-encoding']);
    const headers: Record<string, string | number> = { 'Content-Type': METRICS_CONTENT_TYPE, Vary: 'Accept-Encoding' };
    if (gz) headers['Content-Encoding'] = 'gzip';
    if (head) {
      res.writeHead(200, headers).end();
      return;
    }
    const churn = churnOf(query, defaultChurn);
    if (churn === null) {
      res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('churn must be a share in 0..1 (churn=0.1)\n');
      return;
    }
    const scrapeNo = scrapes++;
    if (churn > 0) {
      serveChurn(res, headers, gz, query, churn);
      return;
    }
    const ready = rendered[scrapeNo % Math.max(1, rendered.length)];
    if (ready !== undefined) {
      const body = gz ? ready.gzipped : ready.plain;
      headers['Content-Length'] = body.length;
      res.writeHead(200, headers).end(body);
      return;
    }
    const buf = free.pop() ?? Buffer.allocUnsafe(exposition.maxBytes);
    const body = buf.subarray(0, exposition.renderInto(scrapeNo, buf));
    if (!gz) {
      headers['Content-Length'] = body.length;
      res.once('finish', () => release(buf));
      res.writeHead(200, headers).end(body);
      return;
    }
    gzip(body, { level: gzipLevel }, (err, zipped) => {
      release(buf);
      if (res.destroyed) return;
      if (err !== null) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`gzip failed: ${err.message}\n`);
        return;
      }
      headers['Content-Length'] = zipped.length;
      res.writeHead(200, headers).end(zipped);
    });
  };

  const server: Server = createServer((req, res) => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path === '/metrics') {
      try {
        serveMetrics(req, res, q < 0 ? '' : url.slice(q + 1));
      } catch (e) {
        if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(`${e instanceof Error ? e.message : String(e)}\n`);
      }
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('not found; try /metrics\n');
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;

  const listening = await listen(server, port, host);
  return {
    url: `${listening.origin}/metrics`,
    port: listening.port,
    description: exposition.describe(),
    scrapes: () => scrapes,
    close: () => {
      closed = true;
      churnStates.clear();
      return listening.close();
    },
  };
}
