// SPDX-License-Identifier: Apache-2.0
/**
 * A remote write receiver outage through the engine (real worker threads): a real Prometheus
 * 2.42 is stopped for 30 s while Strata keeps scraping, then started again on the same port and
 * data directory. With the buffer, nothing is lost: every scrape of every series is in
 * Prometheus afterwards (`count_over_time` equals the scrapes the targets answered), none was
 * refused as out of order (the outbox sends a remote write backlog oldest first), and the
 * accounts add up with nothing dropped. Needs `npm run build` (npm test does).
 */
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../src/engine/engine.js';
import { type Receiver, startPrometheus } from '../fixtures/prometheus-server.js';
import { resourcesYaml, serve, startEngine, statusOf, type TestServer, tempDir, waitFor, writeResources } from './helpers.js';

const TARGETS = 4;
const SERIES = 250;
const OUTAGE_MS = 30_000;

describe('remote write through a 30 s outage of Prometheus 2.42', () => {
  const closers: (() => Promise<void>)[] = [];
  let receiver: Receiver | undefined;
  let engine: Engine | undefined;
  afterAll(async () => {
    await engine?.stop();
    for (const close of closers) await close();
    await receiver?.stop();
  }, 60_000);

  it('loses nothing: every scrape arrives once the receiver is back, in order, and nothing is dropped', async () => {
    receiver = await startPrometheus();
    const r = receiver;
    const servers: TestServer[] = [];
    for (let t = 0; t < TARGETS; t++) {
      const s = await serve((_req, res, hit) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        let body = '# TYPE ro_series gauge\n';
        for (let i = 0; i < SERIES; i++) body += `ro_series{i="${i}"} ${hit}\n`;
        res.end(body);
      });
      servers.push(s);
    }
    closers.push(async () => {
      for (const s of servers) await s.close();
    });
    const dir = tempDir('strata-rw-outage-');
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = writeResources(
      dir,
      resourcesYaml(
        { name: 'ro', output: `{remoteWrite: {url: "${r.writeUrl}", timeoutSeconds: 5, maxSamplesPerSend: 20}}` },
        servers.map((s, t) => ({ url: s.url, labels: { t: String(t) } })),
        1,
      ),
    );
    engine = startEngine(file);
    await engine.start();
    const e = engine;
    await waitFor(() => statusOf(e, 'ro').sent > TARGETS * SERIES, 60_000, 'the first samples sent');

    await r.halt();
    const haltedAt = Date.now();
    await waitFor(() => statusOf(e, 'ro').sink.failingSince !== null, 30_000, 'the sink to see the outage');
    await new Promise((res) => setTimeout(res, Math.max(0, OUTAGE_MS - (Date.now() - haltedAt))));
    const backlog = statusOf(e, 'ro').buffer.memoryMessages;
    expect(backlog).toBeGreaterThan(0);
    await r.resume();
    await waitFor(
      () => {
        const st = statusOf(e, 'ro');
        return st.sink.failingSince === null && st.buffer.memoryMessages === 0 && Date.now() - haltedAt > OUTAGE_MS + 3000;
      },
      120_000,
      'the backlog to drain',
    );
    await engine.stop();
    const st = statusOf(engine, 'ro');
    const dropped = Object.values(st.dropped).reduce((x, y) => x + y, 0);
    expect(st.dropped).toEqual(Object.fromEntries(Object.keys(st.dropped).map((k) => [k, 0])));
    expect(st.collected).toBe(st.sent + st.filtered + dropped);

    // Every answered scrape of every series is stored: one sample per scrape.
    const hits = servers.map((s) => s.hits);
    const counts = await r.query('sum by (t) (count_over_time(ro_series{job="ro",i="0"}[15m]))');
    const got = Object.fromEntries(counts.map((c) => [c.metric['t'], Number(c.value[1])]));
    expect(got).toEqual(Object.fromEntries(hits.map((h, t) => [String(t), h])));
    const total = await r.query('sum(count_over_time(ro_series{job="ro"}[15m]))');
    expect(Number(total[0]?.value[1])).toBe(SERIES * hits.reduce((a, b) => a + b, 0));
  }, 300_000);
});
