// SPDX-License-Identifier: Apache-2.0
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../../src/engine/engine.js';

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Reads until `done` holds (every 500 ms), else fails naming `what` and the last reading. */
export async function eventually<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: T = await read();
  while (!done(last)) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last).slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 500));
    last = await read();
  }
  return last;
}

export interface TestServer {
  readonly url: string;
  readonly port: number;
  hits: number;
  close(): Promise<void>;
}

/** An HTTP server on 127.0.0.1 answering every request with `handler`. */
export async function serve(handler: (req: IncomingMessage, res: ServerResponse, hit: number) => void): Promise<TestServer> {
  const state = { hits: 0 };
  const server: Server = createServer((req, res) => handler(req, res, ++state.hits));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    port,
    get hits() {
      return state.hits;
    },
    set hits(v: number) {
      state.hits = v;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export interface CollectorYaml {
  name?: string;
  workers?: number;
  bufferSize?: number;
  output: string;
  extra?: string;
}

export function resourcesYaml(c: CollectorYaml, targets: { url: string; labels: Record<string, string> }[], intervalSeconds = 1): string {
  const name = c.name ?? 'it';
  return `apiVersion: strata.ctx.sh/v1beta1
kind: Collector
metadata: {name: ${name}, namespace: test}
spec:
  workers: ${c.workers ?? 1}
  bufferSize: ${c.bufferSize ?? 1000}
  output: ${c.output}
${c.extra ?? ''}
---
apiVersion: strata.ctx.sh/v1beta1
kind: Discovery
metadata: {name: ${name}, namespace: test}
spec:
  collector: [{name: ${name}}]
  intervalSeconds: ${intervalSeconds}
  static:
${targets.map((t) => `    - url: ${t.url}\n      labels: ${JSON.stringify(t.labels)}`).join('\n')}
`;
}

export function writeResources(dir: string, yaml: string): string {
  const f = join(dir, 'resources.yaml');
  writeFileSync(f, yaml);
  return f;
}

/** Every JSON line of every file the file sink wrote for `path` (one per worker, rotated ones too). */
export function readSinkLines(dir: string, stem: string): string[] {
  const lines: string[] = [];
  for (const f of readdirSync(dir).sort()) {
    if (!f.startsWith(stem)) continue;
    const text = readFileSync(join(dir, f), 'utf8');
    for (const l of text.split('\n')) if (l !== '') lines.push(l);
  }
  return lines;
}

/** `spreadTargets: false` queues each run's targets at once: for tests that need a burst. */
export function startEngine(file: string, graceMs = 5000, options: { spreadTargets?: boolean } = {}): Engine {
  const logs: string[] = [];
  const engine = new Engine({ files: [file], graceMs, watchIntervalMs: 100, log: (l) => logs.push(l), ...options });
  (engine as unknown as { logs: string[] }).logs = logs;
  return engine;
}

export function statusOf(engine: Engine, name = 'it') {
  const s = engine.collectorStatus(`test/${name}`);
  if (s === undefined) throw new Error(`no collector test/${name}`);
  return s;
}
