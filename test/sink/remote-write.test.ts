// SPDX-License-Identifier: Apache-2.0
/**
 * The remote write sink and the shared HTTP POST helper against local HTTP(S) servers that
 * answer as told: the sink contract, the protocol headers, credentials, mutual TLS, and each
 * failure class (5xx, 429 with Retry-After, 400, refused, reset, no answer, abort).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateCommand } from '../../src/cli/validate-command.js';
import { parseResources as parse } from '../../src/config/index.js';
import { RemoteWriteEncoder } from '../../src/encode/remote-write.js';
import { SampleBatch } from '../../src/sample.js';
import { createSink } from '../../src/sink/create.js';
import { ABORTED_IN_FLIGHT, classifyStatus, MAX_RETRY_AFTER_MS, parseRetryAfter, postBody } from '../../src/sink/http-post.js';
import { RemoteWriteSink } from '../../src/sink/remote-write.js';
import { ABORTED } from '../../src/sink/sink.js';
import { decodeMessage } from '../fixtures/remote-write.js';
import { sinkContract } from './contract.js';

const never = (): AbortSignal => new AbortController().signal;

interface Received {
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

interface Peer {
  readonly url: string;
  readonly received: Received[];
  /** Holds every answer until the returned function is called. */
  hold(): () => void;
  close(): Promise<void>;
}

type Answer = (req: IncomingMessage, res: ServerResponse, body: Buffer, n: number) => void;

const okAnswer: Answer = (_req, res) => {
  res.writeHead(204);
  res.end();
};

async function peer(answer: Answer = okAnswer, tls?: { cert: string; key: string; ca?: string }): Promise<Peer> {
  const received: Received[] = [];
  let gate: Promise<void> = Promise.resolve();
  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      void gate.then(() => {
        received.push({ headers: req.headers, body });
        answer(req, res, body, received.length);
      });
    });
  };
  const server: Server =
    tls === undefined
      ? createHttpServer(handler)
      : createHttpsServer({ cert: tls.cert, key: tls.key, ...(tls.ca === undefined ? {} : { ca: tls.ca, requestCert: true, rejectUnauthorized: true }) }, handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${tls === undefined ? 'http' : 'https'}://127.0.0.1:${port}/api/v1/write`,
    received,
    hold() {
      let release!: () => void;
      gate = new Promise<void>((r) => (release = r));
      return () => release();
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('the remote write sink', () => {
  sinkContract('remoteWrite', async () => {
    const p = await peer();
    return {
      sink: new RemoteWriteSink({ url: p.url, timeoutSeconds: 30 }),
      readBack: async () => Buffer.concat(p.received.map((r) => r.body)),
      stall: () => p.hold(),
      cleanup: () => p.close(),
    };
  });

  it('POSTs each message with the remote write 1.0 headers, the configured ones and a bearer token from its file', async () => {
    const p = await peer();
    const dir = mkdtempSync(join(tmpdir(), 'strata-rw-auth-'));
    try {
      writeFileSync(join(dir, 'token'), 's3cret\n');
      const sink = createSink({ remoteWrite: { url: p.url, headers: { 'X-Scope-OrgID': 'tenant-a' }, bearerTokenFile: join(dir, 'token') } });
      const batch = SampleBatch.from([{ name: 'up', tags: { job: 'j' }, timestamp: 1000, type: 'gauge', value: 1 }]);
      const messages = new RemoteWriteEncoder().encode(batch, 0);
      expect(await sink.send(messages, never())).toEqual({ result: 'ok' });
      await sink.close();
      expect(p.received).toHaveLength(1);
      const r = p.received[0] as Received;
      expect(r.headers['content-encoding']).toBe('snappy');
      expect(r.headers['content-type']).toBe('application/x-protobuf');
      expect(r.headers['x-prometheus-remote-write-version']).toBe('0.1.0');
      expect(r.headers['x-scope-orgid']).toBe('tenant-a');
      expect(r.headers['authorization']).toBe('Bearer s3cret');
      expect(decodeMessage(r.body)[0]?.labels).toEqual([
        ['__name__', 'up'],
        ['job', 'j'],
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await p.close();
    }
  });

  it('sends basic auth from its password file, and rejects the send naming the setting when the file is missing', async () => {
    const p = await peer();
    const dir = mkdtempSync(join(tmpdir(), 'strata-rw-basic-'));
    try {
      writeFileSync(join(dir, 'pw'), 'pa:ss');
      const sink = new RemoteWriteSink({ url: p.url, basicAuth: { username: 'alice', passwordFile: join(dir, 'pw') } });
      expect(await sink.send([Buffer.from('x')], never())).toEqual({ result: 'ok' });
      expect(p.received[0]?.headers['authorization']).toBe(`Basic ${Buffer.from('alice:pa:ss').toString('base64')}`);
      await sink.close();
      const missing = new RemoteWriteSink({ url: p.url, basicAuth: { username: 'alice', passwordFile: join(dir, 'nope') } });
      const outcome = await missing.send([Buffer.from('x')], never());
      expect(outcome).toMatchObject({ result: 'reject', code: 'auth_file' });
      expect((outcome as { reason: string }).reason).toContain('basicAuth.passwordFile');
      expect((outcome as { reason: string }).reason).toContain('ENOENT');
      await missing.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await p.close();
    }
  });

  it('retries on 5xx and 429 (with Retry-After), rejects other 4xx with the status as code, and stops at the first failing message', async () => {
    const cases: { status: number; headers?: Record<string, string>; body: string; want: object }[] = [
      { status: 503, body: 'overloaded', want: { result: 'retry', code: 'http_503' } },
      { status: 500, headers: { 'Retry-After': '2' }, body: '', want: { result: 'retry', code: 'http_500', retryAfterMs: 2000 } },
      { status: 429, headers: { 'Retry-After': '7' }, body: 'slow down', want: { result: 'retry', code: 'http_429', retryAfterMs: 7000 } },
      { status: 400, body: 'out of order sample', want: { result: 'reject', code: 'http_400' } },
      { status: 404, body: 'not found', want: { result: 'reject', code: 'http_404' } },
      { status: 301, body: '', want: { result: 'reject', code: 'http_301' } },
    ];
    for (const c of cases) {
      // The first message is taken, the second fails: the send answers for the second.
      const p = await peer((_req, res, _body, n) => {
        if (n === 1) return okAnswer(_req, res, _body, n);
        res.writeHead(c.status, c.headers ?? {});
        res.end(c.body);
      });
      try {
        const sink = new RemoteWriteSink({ url: p.url });
        const outcome = await sink.send([Buffer.from('a'), Buffer.from('b'), Buffer.from('c')], never());
        expect(outcome, String(c.status)).toMatchObject(c.want);
        const reason = (outcome as { reason: string }).reason;
        expect(reason).toContain(`POST ${p.url}: HTTP ${c.status}`);
        if (c.body !== '') expect(reason).toContain(c.body);
        expect(reason).toContain('after 1 of 3 requests');
        expect(p.received.map((r) => r.body.toString())).toEqual(['a', 'b']);
        await sink.close();
      } finally {
        await p.close();
      }
    }
  });

  it('retries when the receiver refuses the connection, resets it, or does not answer in time', async () => {
    const gone = await peer();
    const url = gone.url;
    await gone.close();
    expect(await postBody(url, Buffer.from('x'))).toMatchObject({ result: 'retry', code: 'ECONNREFUSED' });

    const reset = await peer((req) => req.socket.destroy());
    try {
      expect(await postBody(reset.url, Buffer.from('x'))).toMatchObject({ result: 'retry', code: 'ECONNRESET' });
    } finally {
      await reset.close();
    }

    const silent = await peer(() => undefined);
    try {
      const outcome = await postBody(silent.url, Buffer.from('x'), { timeoutMs: 300 });
      expect(outcome).toMatchObject({ result: 'retry', code: 'timeout' });
      expect((outcome as { reason: string }).reason).toContain('within 300 ms');
    } finally {
      await silent.close();
    }
  });

  it('answers retry when its signal aborts a request in flight, and sends nothing for an aborted signal', async () => {
    const p = await peer(() => undefined);
    try {
      const controller = new AbortController();
      const sending = postBody(p.url, Buffer.from('x'), { signal: controller.signal });
      await new Promise((r) => setTimeout(r, 100));
      controller.abort();
      expect(await sending).toEqual({ result: 'retry', reason: ABORTED_IN_FLIGHT });
      expect(await postBody(p.url, Buffer.from('y'), { signal: controller.signal })).toEqual({ result: 'retry', reason: ABORTED });
    } finally {
      await p.close();
    }
  });

  it('reads Retry-After as seconds or as an HTTP date, capped', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('999999', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(classifyStatus(204, 'POST x', '')).toEqual({ result: 'ok' });
    expect(classifyStatus(418, 'POST x', 'teapot')).toEqual({ result: 'reject', reason: 'POST x: HTTP 418: teapot', code: 'http_418' });
  });

  it('speaks HTTPS with a CA and a client certificate read from files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-rw-tls-'));
    const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    const run = (...args: string[]): void => void execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: 'pipe' });
    run('req', '-x509', ...EC, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=rw test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
    for (const [name, usage, san] of [
      ['server', 'serverAuth', 'subjectAltName=IP:127.0.0.1'],
      ['client', 'clientAuth', 'subjectAltName=DNS:strata-client'],
    ] as const) {
      writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nextendedKeyUsage=${usage}\n${san}\n`);
      run('req', ...EC, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      run('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
    }
    const pem = (f: string) => readFileSync(join(dir, f), 'utf8');
    const p = await peer(okAnswer, { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt') });
    try {
      const tls = { ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') };
      const sink = new RemoteWriteSink({ url: p.url, tls });
      expect(await sink.send([Buffer.from('over tls')], never())).toEqual({ result: 'ok' });
      await sink.close();
      // Without the client certificate the server ends the handshake: a network failure, retried.
      const anonymous = new RemoteWriteSink({ url: p.url, tls: { ca: join(dir, 'ca.crt') } });
      expect((await anonymous.send([Buffer.from('no cert')], never())).result).toBe('retry');
      await anonymous.close();
      // Without the CA the server's certificate is not trusted.
      const untrusting = new RemoteWriteSink({ url: p.url });
      expect(await untrusting.send([Buffer.from('no ca')], never())).toMatchObject({ result: 'retry' });
      await untrusting.close();
      const missing = new RemoteWriteSink({ url: p.url, tls: { ca: join(dir, 'nope.crt') } });
      expect(await missing.send([Buffer.from('x')], never())).toMatchObject({ result: 'reject', code: 'tls_file' });
      await missing.close();
      expect(p.received.map((r) => r.body.toString())).toEqual(['over tls']);
    } finally {
      await p.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('remote write config', () => {
  const collector = (output: string) =>
    `apiVersion: strata.ctx.sh/v1beta1\nkind: Collector\nmetadata: {name: rw}\nspec:\n  output:\n    remoteWrite: ${output}\n`;

  it('defaults timeoutSeconds to 30, maxSamplesPerSend to 2000 and staleMarkers to true', () => {
    const { resources, errors } = parse(collector('{url: "http://prom:9090/api/v1/write"}'), 'f');
    expect(errors).toEqual([]);
    expect((resources[0] as { spec: { output: unknown } }).spec.output).toEqual({
      remoteWrite: { url: 'http://prom:9090/api/v1/write', timeoutSeconds: 30, maxSamplesPerSend: 2000, staleMarkers: true },
    });
  });

  it('refuses a bad URL, both auth kinds at once, protocol headers and a lone tls.cert', () => {
    const { errors } = parse(
      collector('{url: "prom:9090", headers: {Content-Type: x}, tls: {cert: /c}, maxSamplesPerSend: 0}'),
      'f',
    );
    // Checks across fields run once every field is valid.
    const both = parse(collector('{url: "http://p/api/v1/write", basicAuth: {username: a}, bearerTokenFile: /t}'), 'f').errors;
    expect(both.map((e) => `${e.path}: ${e.reason}`)).toEqual(['spec.output.remoteWrite.bearerTokenFile: cannot be set together with basicAuth']);
    expect(errors.map((e) => `${e.path}: ${e.reason}`).sort()).toEqual([
      'spec.output.remoteWrite.headers.Content-Type: is set by the remote write protocol or by basicAuth/bearerTokenFile, not here: "Content-Type"',
      'spec.output.remoteWrite.maxSamplesPerSend: must be ≥ 1, got 0',
      'spec.output.remoteWrite.tls.key: required when cert is set',
      'spec.output.remoteWrite.url: must be an absolute http or https URL, got "prom:9090"',
    ]);
  });

  it('makes strata validate warn that the encoder field is ignored, and still pass', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'strata-rw-validate-'));
    try {
      const file = join(dir, 'rw.yaml');
      writeFileSync(file, collector('{url: "http://prom:9090/api/v1/write"}').replace('spec:\n', 'spec:\n  encoder: statsd\n'));
      const out: string[] = [];
      const err: string[] = [];
      const io = { stdout: { write: (c: string) => out.push(c) }, stderr: { write: (c: string) => err.push(c) } };
      expect(await validateCommand(['-f', file], io)).toBe(0);
      expect(err.join('')).toBe(
        `${file} (Collector default/rw): warning: spec.encoder: "statsd" is ignored: output remoteWrite sends its own encoding (protobuf, snappy)\n`,
      );
      expect(out.join('')).toContain('1 resource valid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
