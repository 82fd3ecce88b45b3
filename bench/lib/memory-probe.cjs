// SPDX-License-Identifier: Apache-2.0
/**
 * A memory probe preloaded into a Node process for bench/memory.bench.ts:
 *   STRATA_MEMORY_PROBE_PORT=P node --require bench/lib/memory-probe.cjs bin/strata.js run …
 *
 * `--require` runs this in the main thread and in every worker thread the process starts (worker
 * threads inherit the process's execArgv; Piscina does not override it), so the process is
 * measured through Node's public interfaces only, whatever the code under test does inside.
 * - Main thread: an HTTP server on 127.0.0.1:P (unref'd: it never keeps the process alive).
 *   `GET /memory` answers JSON `{ threads: [ThreadMemory…] }`, the main thread first, then every
 *   worker that answered within 2 s; `GET /memory?gc=1` runs a full GC in every thread first
 *   (then the readings are the live memory). `GET /snapshot?thread=<threadId>&path=<file>` writes
 *   that thread's heap snapshot (`v8.writeHeapSnapshot`) and answers `{ path }` when it is done.
 * - Every thread: a `BroadcastChannel('strata-memory-probe')` (unref'd) over which the main
 *   thread asks and the workers answer `{ op: 'reply', id, thread }`.
 * ThreadMemory: `{ threadId, main, memoryUsage: process.memoryUsage(), heap:
 * v8.getHeapStatistics(), spaces: v8.getHeapSpaceStatistics() }`. In a worker, heapTotal,
 * heapUsed, external and arrayBuffers are that thread's isolate's; rss is the process's.
 * A full GC needs `gc` (--expose-gc, which Strata sets for its workers; the benchmark passes it
 * to the main thread): without it `gc` is reported false and nothing is collected.
 * Recovery: a thread that fails to answer is left out of the reply; a failed snapshot answers 500.
 */
'use strict';
const v8 = require('node:v8');
const { isMainThread, threadId, BroadcastChannel } = require('node:worker_threads');
const vm = require('node:vm');

const CHANNEL = 'strata-memory-probe';
const WAIT_MS = 2000;

function fullGc() {
  let gc = globalThis.gc;
  if (typeof gc !== 'function') {
    try {
      gc = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
    } catch {
      gc = undefined;
    }
  }
  if (typeof gc !== 'function') return false;
  gc();
  return true;
}

function reading(gcRan) {
  return {
    threadId,
    main: isMainThread,
    gc: gcRan,
    memoryUsage: process.memoryUsage(),
    heap: v8.getHeapStatistics(),
    spaces: v8.getHeapSpaceStatistics(),
  };
}

function answer(msg) {
  if (msg.op === 'memory') return reading(msg.gc ? fullGc() : false);
  if (msg.op === 'snapshot' && msg.thread === threadId) return { path: v8.writeHeapSnapshot(msg.path) };
  return undefined;
}

const channel = new BroadcastChannel(CHANNEL);
channel.unref();

if (!isMainThread) {
  channel.onmessage = (ev) => {
    const msg = ev.data;
    if (msg === null || typeof msg !== 'object' || msg.op === 'reply') return;
    let thread;
    try {
      thread = answer(msg);
    } catch (e) {
      thread = { error: String(e) };
    }
    if (thread !== undefined) channel.postMessage({ op: 'reply', id: msg.id, thread });
  };
} else {
  const port = Number(process.env.STRATA_MEMORY_PROBE_PORT);
  if (Number.isInteger(port) && port > 0) {
    const http = require('node:http');
    let next = 1;
    const waiting = new Map();
    channel.onmessage = (ev) => {
      const msg = ev.data;
      if (msg !== null && typeof msg === 'object' && msg.op === 'reply') waiting.get(msg.id)?.push(msg.thread);
    };
    /** Asks the workers; resolves with their answers after `until(answers)` or WAIT_MS. */
    const ask = (msg, until) =>
      new Promise((resolve) => {
        const id = next++;
        const answers = [];
        waiting.set(id, answers);
        const done = () => {
          clearInterval(poll);
          clearTimeout(timer);
          waiting.delete(id);
          resolve(answers);
        };
        const poll = setInterval(() => {
          if (until(answers)) done();
        }, 20);
        const timer = setTimeout(done, msg.op === 'snapshot' ? 600_000 : WAIT_MS);
        channel.postMessage({ ...msg, id });
      });
    const server = http.createServer(async (req, res) => {
      const url = new URL(req.url ?? '/', 'http://probe');
      const reply = (status, body) => {
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(`${JSON.stringify(body)}\n`);
      };
      try {
        if (url.pathname === '/memory') {
          const gc = url.searchParams.get('gc') === '1';
          const workers = await ask({ op: 'memory', gc }, () => false);
          const main = reading(gc ? fullGc() : false);
          reply(200, { threads: [main, ...workers.filter((w) => w.error === undefined)] });
        } else if (url.pathname === '/snapshot') {
          const thread = Number(url.searchParams.get('thread'));
          const path = url.searchParams.get('path') ?? undefined;
          if (thread === threadId) return reply(200, { path: v8.writeHeapSnapshot(path) });
          const answers = await ask({ op: 'snapshot', thread, path }, (a) => a.length > 0);
          const a = answers[0];
          if (a === undefined || a.error !== undefined) return reply(500, { error: a?.error ?? `thread ${thread} did not answer` });
          reply(200, a);
        } else {
          reply(404, { error: 'GET /memory[?gc=1] or /snapshot?thread=N[&path=FILE]' });
        }
      } catch (e) {
        reply(500, { error: String(e) });
      }
    });
    server.listen(port, '127.0.0.1');
    server.unref();
  }
}
