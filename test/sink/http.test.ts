// SPDX-License-Identifier: Apache-2.0
/**
 * The http sink against a real local HTTP and HTTPS server (certificates made by openssl in the
 * test) that answers each request as the test scripts it: good answers, 5xx, 429 with
 * `Retry-After` in seconds and as an HTTP date, 400, 401, connection resets and answers slower
 * than the sink's timeout. The server keeps every request's headers and body as it arrived.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpSink, type HttpSinkOptions } from '../../src/sink/http.js';
import { doc, parse, specOf } from '../config/helpers.js';
import { makeCerts, type TestCerts } from '../fixtures/tls-certs.js';
import { expectSameBytes, sinkContract } from './contract.js';

const never = (): AbortSignal => new AbortController().signal;

/** How the server answers one request. */
type Answer =
  | { readonly status: number; readonly headers?: Record<string, string>; readonly body?: string }
  | { readonly reset: true }
  | { readonly delayMs: number };

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
  readonly socket: Socket;
}

class ScriptedServer {
  readonly requests: Received[] = [];
  readonly sockets = new Set<Socket>();
  /** Answers for the next requests, in order; an empty script answers 200. */
  readonly script: Answer[] = [];
  #held: (() => void)[] | null = null;
  connections = 0;

  private constructor(readonly server: Server) {}

  static async start(tls?: { cert: string; key: string }): Promise<ScriptedServer> {
    let self: ScriptedServer | undefined;
    const handler = (req: IncomingMessage, res: ServerResponse): void => self?.handle(req, res);
    const server = tls === undefined ? createHttpServer(handler) : createHttpsServer(tls, handler);
    self = new ScriptedServer(server);
    server.on('connection', (socket: Socket) => {
      self.connections++;
      self.sockets.add(socket);
      socket.on('close', () => self.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    return self;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(https = false): string {
    return `${https ? 'https' : 'http'}://127.0.0.1:${this.port}/ingest?x=1`;
  }

  /** Holds every answer until the returned function is called. */
  hold(): () => void {
    const held: (() => void)[] = [];
    this.#held = held;
    return () => {
      this.#held = null;
      for (const go of held) go();
    };
  }

  /** Bodies as they arrived, gunzipped when the request said gzip. */
  bodies(): Buffer[] {
    return this.requests.map((r) => (r.headers['content-encoding'] === 'gzip' ? gunzipSync(r.body) : r.body));
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      this.requests.push({ headers: req.headers, body: Buffer.concat(chunks), socket: req.socket });
      const answer = this.script.shift() ?? { status: 200 };
      const respond = (): void => {
        if ('reset' in answer) {
          req.socket.resetAndDestroy();
        } else if ('delayMs' in answer) {
          const timer = setTimeout(() => res.writeHead(200).end(), answer.delayMs);
          res.on('close', () => clearTimeout(timer));
        } else {
          res.writeHead(answer.status, answer.headers).end(answer.body ?? '');
        }
      };
      if (this.#held === null) respond();
      else this.#held.push(respond);
    });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

async function withServer<T>(run: (s: ScriptedServer) => Promise<T>, tls?: { cert: string; key: string }): Promise<T> {
  const server = await ScriptedServer.start(tls);
  try {
    return await run(server);
  } finally {
    await server.close();
  }
}

async function withSink<T>(options: HttpSinkOptions, run: (s: HttpSink) => Promise<T>): Promise<T> {
  const sink = new HttpSink(options);
  try {
    return await run(sink);
  } finally {
    await sink.close();
  }
}

const line = (s: string): Buffer => Buffer.from(`${s}\n`);

describe('the http sink', () => {
  let certs: TestCerts;
  let dir: string;
  beforeAll(() => {
    certs = makeCerts();
    dir = mkdtempSync(join(tmpdir(), 'strata-http-sink-'));
  });
  afterAll(() => {
    certs.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const https of [false, true]) {
    describe(https ? 'over HTTPS' : 'over HTTP', () => {
      sinkContract(https ? 'http (TLS)' : 'http', async () => {
        const server = await ScriptedServer.start(https ? { cert: certs.pem('server.crt'), key: certs.pem('server.key') } : undefined);
        return {
          sink: new HttpSink({ url: server.url(https), ...(https ? { tls: { ca: certs.path('ca.crt') } } : {}) }),
          readBack: async () => Buffer.concat(server.bodies()),
          stall: () => server.hold(),
          cleanup: () => server.close(),
        };
      });
    });
  }

  it('POSTs each message with its content type, id header, own headers and one kept-alive connection', async () => {
    await withServer((server) =>
      withSink({ url: server.url(), headers: { 'X-Scope-OrgID': 'team-a' } }, async (sink) => {
        const messages = [line('{"a":1}'), line('{"b":2}'), line('{"c":3}')];
        expect(await sink.send(messages, never(), { ids: ['c/t/1', 'c/t/2', 'c/t/3'] })).toEqual({ result: 'ok' });
        expect(await sink.send([line('{"d":4}')], never())).toEqual({ result: 'ok' });
        expect(server.bodies().map(String)).toEqual(['{"a":1}\n', '{"b":2}\n', '{"c":3}\n', '{"d":4}\n']);
        expect(server.requests.map((r) => r.headers['strata-msg-id'])).toEqual(['c/t/1', 'c/t/2', 'c/t/3', undefined]);
        for (const r of server.requests) {
          expect(r.headers['content-type']).toBe('application/x-ndjson');
          expect(r.headers['x-scope-orgid']).toBe('team-a');
          expect(r.headers['content-encoding']).toBeUndefined();
        }
        expect(server.connections).toBe(1);
      }),
    );
  });

  it('gzips bodies with compression: gzip, and a large body arrives whole', async () => {
    const big = randomBytes(3 * 1024 * 1024);
    await withServer((server) =>
      withSink({ url: server.url(), compression: 'gzip' }, async (sink) => {
        expect(await sink.send([line('{"a":1}'), big], never())).toEqual({ result: 'ok' });
        expect(server.requests.map((r) => r.headers['content-encoding'])).toEqual(['gzip', 'gzip']);
        const bodies = server.bodies();
        expect(String(bodies[0])).toBe('{"a":1}\n');
        expectSameBytes(bodies[1] as Buffer, big);
      }),
    );
  });

  it('sends a bearer token and basic auth read from files', async () => {
    const token = join(dir, 'token');
    const password = join(dir, 'password');
    writeFileSync(token, 'tok-123\n');
    writeFileSync(password, 'pa:ss\n');
    await withServer(async (server) => {
      await withSink({ url: server.url(), bearerTokenFile: token }, (sink) => sink.send([line('1')], never()));
      await withSink({ url: server.url(), basicAuth: { username: 'u', passwordFile: password } }, (sink) => sink.send([line('2')], never()));
      expect(server.requests.map((r) => r.headers.authorization)).toEqual([
        'Bearer tok-123',
        `Basic ${Buffer.from('u:pa:ss').toString('base64')}`,
      ]);
    });
  });

  it('rejects with code auth_file when the token file cannot be read, sending nothing', async () => {
    await withServer((server) =>
      withSink({ url: server.url(), bearerTokenFile: join(dir, 'missing-token') }, async (sink) => {
        const outcome = await sink.send([line('1')], never());
        expect(outcome).toMatchObject({ result: 'reject', code: 'auth_file' });
        expect((outcome as { reason: string }).reason).toMatch(/bearerTokenFile: cannot read .*missing-token.* \(ENOENT\)/);
        expect(server.requests).toEqual([]);
      }),
    );
  });

  const answers: { name: string; answer: Answer; want: Record<string, unknown>; reason?: RegExp }[] = [
    { name: '503', answer: { status: 503, body: 'overloaded' }, want: { result: 'retry', code: 'http_503' }, reason: /HTTP 503: overloaded/ },
    { name: '500', answer: { status: 500 }, want: { result: 'retry', code: 'http_500' } },
    { name: '429 with Retry-After in seconds', answer: { status: 429, headers: { 'Retry-After': '7' } }, want: { result: 'retry', code: 'http_429', retryAfterMs: 7000 } },
    { name: '400', answer: { status: 400, body: 'bad sample on line 1' }, want: { result: 'reject', code: 'http_400' }, reason: /HTTP 400: bad sample on line 1/ },
    { name: '401', answer: { status: 401, body: 'who are you' }, want: { result: 'reject', code: 'http_401' } },
    { name: 'a connection reset', answer: { reset: true }, want: { result: 'retry', code: 'ECONNRESET' } },
  ];
  for (const { name, answer, want, reason } of answers) {
    it(`answers ${String(want['result'])} to ${name}, and delivers on the next send`, async () => {
      await withServer((server) =>
        withSink({ url: server.url() }, async (sink) => {
          server.script.push(answer);
          const outcome = await sink.send([line('first')], never());
          expect(outcome).toMatchObject(want);
          if (reason !== undefined) expect((outcome as { reason: string }).reason).toMatch(reason);
          expect((outcome as { reason: string }).reason).toContain(`POST http://127.0.0.1:${server.port}/ingest`);
          expect(await sink.send([line('second')], never())).toEqual({ result: 'ok' });
          expect(server.bodies().map(String)).toEqual(['first\n', 'second\n']);
        }),
      );
    });
  }

  it('takes a Retry-After HTTP date as the time left until then', async () => {
    await withServer((server) =>
      withSink({ url: server.url() }, async (sink) => {
        server.script.push({ status: 429, headers: { 'Retry-After': new Date(Date.now() + 120_000).toUTCString() } });
        const outcome = await sink.send([line('x')], never());
        expect(outcome).toMatchObject({ result: 'retry', code: 'http_429' });
        const after = (outcome as { retryAfterMs: number }).retryAfterMs;
        // The date has one-second resolution and the test may run slowly.
        expect(after).toBeGreaterThan(100_000);
        expect(after).toBeLessThanOrEqual(120_000);
      }),
    );
  });

  it('answers retry with code timeout when the answer is slower than timeoutSeconds', async () => {
    await withServer((server) =>
      withSink({ url: server.url(), timeoutSeconds: 0.3 }, async (sink) => {
        server.script.push({ delayMs: 5_000 });
        const outcome = await sink.send([line('slow')], never());
        expect(outcome).toMatchObject({ result: 'retry', code: 'timeout' });
        expect(await sink.send([line('fast')], never())).toEqual({ result: 'ok' });
      }),
    );
  });

  it('ends a send at the first message that fails and says which it was', async () => {
    await withServer((server) =>
      withSink({ url: server.url() }, async (sink) => {
        server.script.push({ status: 200 }, { status: 400, body: 'no' });
        const outcome = await sink.send([line('1'), line('2'), line('3')], never());
        expect(outcome).toMatchObject({ result: 'reject', code: 'http_400' });
        expect((outcome as { reason: string }).reason).toMatch(/^message 2 of 3: POST /);
        expect(server.bodies().map(String)).toEqual(['1\n', '2\n']);
      }),
    );
  });

  it('answers retry with code ECONNREFUSED when nothing listens', async () => {
    const server = await ScriptedServer.start();
    const url = server.url();
    await server.close();
    await withSink({ url }, async (sink) => {
      expect(await sink.send([line('x')], never())).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });
    });
  });

  describe('with TLS settings', () => {
    const tlsServer = (): { cert: string; key: string } => ({ cert: certs.pem('server.crt'), key: certs.pem('server.key') });

    it('refuses a server certificate another CA signed, and sends nothing', async () => {
      await withServer(
        (server) =>
          withSink({ url: server.url(true), tls: { ca: certs.path('other-ca.crt') } }, async (sink) => {
            const outcome = await sink.send([line('x')], never());
            expect(outcome.result).toBe('retry');
            expect((outcome as { reason: string }).reason).toMatch(/certificate/);
            expect(server.requests).toEqual([]);
          }),
        tlsServer(),
      );
    });

    it('delivers with insecureSkipVerify whatever signed the certificate', async () => {
      await withServer(
        (server) =>
          withSink({ url: server.url(true), tls: { insecureSkipVerify: true } }, async (sink) => {
            expect(await sink.send([line('x')], never())).toEqual({ result: 'ok' });
          }),
        tlsServer(),
      );
    });

    it('answers retry with code tls_files when a TLS file cannot be read', async () => {
      await withSink({ url: 'https://127.0.0.1:1/', tls: { ca: join(dir, 'missing-ca.pem') } }, async (sink) => {
        expect(await sink.send([line('x')], never())).toMatchObject({ result: 'retry', code: 'tls_files' });
      });
    });
  });
});

describe('output.http validation', () => {
  const output = (yaml: string): string => doc('Collector', `output:\n  http: ${yaml}`);
  it('fills in the defaults', () => {
    expect((specOf(output('{url: "https://collector:8443/in"}')) as { output: unknown }).output).toEqual({
      http: { url: 'https://collector:8443/in', compression: 'none', timeoutSeconds: 30 },
    });
  });
  const cases: { input: string; errors: string[] }[] = [
    { input: '{}', errors: ['spec.output.http.url: required'] },
    { input: '{url: "ftp://x/"}', errors: ['spec.output.http.url: must be an absolute http or https URL, got "ftp://x/"'] },
    { input: '{url: "http://x/", compression: zstd}', errors: ['spec.output.http.compression: must be one of none, gzip, got "zstd"'] },
    { input: '{url: "http://x/", timeoutSeconds: 0}', errors: ['spec.output.http.timeoutSeconds: must be > 0, got 0'] },
    { input: '{url: "http://x/", headers: {"Content-Type": "text/plain"}}', errors: ['spec.output.http.headers.Content-Type: is set by the sink, not here'] },
    { input: '{url: "http://x/", headers: {"bad header": "v"}}', errors: [`spec.output.http.headers["bad header"]: must be an HTTP header name (letters, digits and !#$%&'*+.^_\`|~-), got "bad header"`] },
    { input: '{url: "http://x/", headers: {X-A: "a\\nb"}}', errors: ['spec.output.http.headers.X-A: must not hold control characters (CR, LF, …)'] },
    { input: '{url: "http://x/", bearerTokenFile: /t, basicAuth: {username: u}}', errors: ['spec.output.http.bearerTokenFile: must not be set together with basicAuth (a request sends one Authorization header)'] },
    { input: '{url: "http://x/", bearerTokenFile: /t, headers: {Authorization: "x"}}', errors: ['spec.output.http.headers.Authorization: must not be set together with basicAuth or bearerTokenFile'] },
    { input: '{url: "http://x/", basicAuth: {username: "a:b"}}', errors: ['spec.output.http.basicAuth.username: must not hold ":" or control characters (RFC 7617), got "a:b"'] },
    { input: '{url: "http://x/", tls: {ca: /ca.pem}}', errors: ['spec.output.http.tls: only applies to an https URL'] },
    { input: '{url: "https://x/", tls: {cert: /c.pem}}', errors: ['spec.output.http.tls.key: required when cert is set'] },
    { input: '{url: "https://x/", proxy: "http://p"}', errors: ['spec.output.http.proxy: unknown field'] },
  ];
  it.each(cases)('reports $input', ({ input, errors }) => {
    expect(parse(output(input)).errors).toEqual(errors);
  });
});
