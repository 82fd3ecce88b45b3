// SPDX-License-Identifier: Apache-2.0
/**
 * The operator HTTP endpoints, on their own port:
 * - `GET /metrics`: the self-metrics (`StrataMetrics.metrics()`), Prometheus text 0.0.4.
 * - `GET /healthz`: 200 `ok` while the process serves requests at all (liveness).
 * - `GET /readyz`: 200 `ready` when `ready()` is true (or `{ ready: true }`), else 503
 *   `not ready`, followed by `: ` and the reasons (`; `-separated) when `ready()` gives them (a
 *   throwing `ready()` counts as not ready, with its message).
 * - `GET /status`: `status()` as JSON (it may return a promise).
 * - anything else: 404; other methods than GET and HEAD on a known path: 405.
 *
 * A failing `status()`, `ready()` or `metrics()` answers 500 (503 for readiness) with the
 * error's message; the server never throws because of one. Keep-alive is on (idle connections
 * kept `KEEP_ALIVE_MS`); `close()` closes idle and active connections.
 */
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { StrataMetrics } from './metrics.js';
import { listen } from '../net/listen.js';

export interface TelemetryServerOptions {
  /** 0 picks a free port. */
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly metrics: StrataMetrics;
  readonly status: () => unknown;
  readonly ready: () => boolean | Readiness;
}

/** Readiness with the reasons it is not (one per line of the answer's reasons). */
export interface Readiness {
  readonly ready: boolean;
  readonly reasons: readonly string[];
}

export interface TelemetryServer {
  /** `http://host:port`, without a path. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const KEEP_ALIVE_MS = 30_000;
const TEXT = 'text/plain; charset=utf-8';
const PATHS = new Set(['/metrics', '/healthz', '/readyz', '/status']);

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void {
  if (res.destroyed) return;
  const bytes = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': bytes.length, 'Cache-Control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : bytes);
}

export async function startTelemetryServer(options: TelemetryServerOptions): Promise<TelemetryServer> {
  const { port, host = '127.0.0.1', metrics, status, ready } = options;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (!PATHS.has(path)) return send(req, res, 404, TEXT, 'not found; try /metrics, /healthz, /readyz or /status\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return send(req, res, 405, TEXT, 'method not allowed\n');
    }
    switch (path) {
      case '/healthz':
        return send(req, res, 200, TEXT, 'ok\n');
      case '/readyz': {
        let r: boolean | Readiness;
        try {
          r = ready();
        } catch (e) {
          return send(req, res, 503, TEXT, `not ready: ${message(e)}\n`);
        }
        if (r === true || (typeof r === 'object' && r.ready === true)) return send(req, res, 200, TEXT, 'ready\n');
        const reasons = typeof r === 'object' ? r.reasons : [];
        return send(req, res, 503, TEXT, reasons.length === 0 ? 'not ready\n' : `not ready: ${reasons.join('; ')}\n`);
      }
      case '/status': {
        let body: string;
        try {
          body = `${JSON.stringify((await status()) ?? null) ?? 'null'}\n`;
        } catch (e) {
          return send(req, res, 500, 'application/json; charset=utf-8', `${JSON.stringify({ error: message(e) })}\n`);
        }
        return send(req, res, 200, 'application/json; charset=utf-8', body);
      }
      default: {
        let text: string;
        try {
          text = await metrics.metrics();
        } catch (e) {
          return send(req, res, 500, TEXT, `collecting metrics failed: ${message(e)}\n`);
        }
        return send(req, res, 200, metrics.contentType, text);
      }
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      // Only a failure to write the response itself gets here.
      if (!res.headersSent) send(req, res, 500, TEXT, `${message(e)}\n`);
      else res.destroy();
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;

  const listening = await listen(server, port, host);
  return {
    url: listening.origin,
    port: listening.port,
    close: listening.close,
  };
}
