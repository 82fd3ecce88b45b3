// SPDX-License-Identifier: Apache-2.0
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import snappy from 'snappyjs';
import { describe, expect, it } from 'vitest';
import { collectorEncoder } from '../../src/encode/create.js';
import { exposedLabels, RemoteWriteEncoder, remoteWriteTargetLabels, ScrapeSeries, STALE_NAN_BITS, StaleTracker } from '../../src/encode/remote-write.js';
import { BlockCompressor, maxCompressedLength, SnappyCompressor } from '../../src/encode/snappy.js';
import { writeInt64, writeVarint, varintSize } from '../../src/encode/protobuf.js';
import { parseExposition, SeriesCache } from '../../src/parse/index.js';
import { SampleBatch, Series } from '../../src/sample.js';
import { seeded } from '../sink/contract.js';
import { decodeMessage, type DecodedSeries, seriesText } from '../fixtures/remote-write.js';

const corpus = (name: string) => readFileSync(new URL(`../fixtures/corpus/${name}`, import.meta.url));

/** Go's ParseFloat for the values an exposition holds. */
function goFloat(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Number.POSITIVE_INFINITY;
  if (text === '-Inf') return Number.NEGATIVE_INFINITY;
  if (text === 'NaN') return Number.NaN;
  return Number(text);
}

/**
 * The series of an exposition as its lines write them, read independently of the parser:
 * `name{labels sorted, target tags added, empty ones left out}` → value. `le` and `quantile` are compared as numbers.
 */
function expositionSeries(text: string, extra: Record<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (m === null) throw new Error(`unreadable line ${line}`);
    const labels: Record<string, string> = { ...extra };
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      const k = l[1] as string;
      const v = (l[2] as string).replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      // Prometheus treats an empty label as absent.
      if (v === '') delete labels[k];
      else labels[k] = k === 'le' || k === 'quantile' ? String(goFloat(v)) : v;
    }
    const value = goFloat(m[3] as string);
    out.set(key(m[1] as string, labels), value);
  }
  return out;
}

function key(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`)
    .join(',')}}`;
}

function decodedSeries(messages: readonly Uint8Array[]): DecodedSeries[] {
  return messages.flatMap((m) => decodeMessage(m));
}

/** The same keys as `expositionSeries` for what the receiver would get. */
function decodedMap(series: readonly DecodedSeries[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of series) {
    const labels: Record<string, string> = {};
    let name = '';
    for (const [k, v] of s.labels) {
      if (k === '__name__') name = v;
      else labels[k] = k === 'le' || k === 'quantile' ? String(goFloat(v)) : v;
    }
    expect(s.samples).toHaveLength(1);
    out.set(key(name, labels), (s.samples[0] as { value: number }).value);
  }
  return out;
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

describe('remote write encoder', () => {
  it.each(['prometheus.prom', 'node-exporter.prom'])('sends back every series of %s as exposed, buckets and quantiles included', (file) => {
    const text = corpus(file).toString('utf8');
    const tags = { env: 'test', instance: '10.0.0.1:9100', job: 'node' };
    const { batch } = parseExposition(Buffer.from(text), { targetTags: tags });
    const encoder = new RemoteWriteEncoder();
    const messages = encoder.encode(batch, 1_700_000_000_000);
    const got = decodedMap(decodedSeries(messages));
    const want = expositionSeries(text, tags);
    // The parser drops NaN quantiles, counters, gauges and untyped samples (DESIGN "Samples").
    for (const [k, v] of want) if (Number.isNaN(v) && !/_(bucket|sum|count)\{/.test(k)) want.delete(k);
    expect([...got.keys()].sort()).toEqual([...want.keys()].sort());
    for (const [k, v] of want) expect(got.get(k), k).toBe(v);
    if (file === 'prometheus.prom') {
      expect(got.has(key('prometheus_http_request_duration_seconds_bucket', { ...tags, handler: '/metrics', le: '0.1' }))).toBe(true);
      expect(got.has(key('go_gc_duration_seconds', { ...tags, quantile: '0.25' }))).toBe(true);
    }
  });

  it('writes labels sorted by their bytes, __name__ among them, and the sample with its timestamp', () => {
    const batch = SampleBatch.from([
      { name: 'up', tags: { Zone: 'a', job: 'x', _a: '1' }, timestamp: null, type: 'gauge', value: 1 },
      { name: 'temp', tags: {}, timestamp: 1_600_000_000_123, type: 'gauge', value: -2.5 },
    ]);
    const series = decodedSeries(new RemoteWriteEncoder().encode(batch, 1_700_000_000_000));
    expect(series).toEqual([
      {
        labels: [
          ['Zone', 'a'],
          ['__name__', 'up'],
          ['_a', '1'],
          ['job', 'x'],
        ],
        samples: [{ value: 1, bits: 0x3ff0000000000000n, timestamp: 1_700_000_000_000 }],
      },
      { labels: [['__name__', 'temp']], samples: [{ value: -2.5, bits: 0xc004000000000000n, timestamp: 1_600_000_000_123 }] },
    ]);
    for (const s of series) {
      const names = s.labels.map(([k]) => k);
      expect([...names].sort(byteOrder)).toEqual(names);
    }
  });

  it('sends NaN and both infinities as they are, and stale markers with their own bits', () => {
    const batch = SampleBatch.from([
      { name: 'a', tags: {}, timestamp: 5, type: 'gauge', value: Number.NaN },
      { name: 'b', tags: {}, timestamp: 5, type: 'gauge', value: Number.POSITIVE_INFINITY },
      { name: 'c', tags: {}, timestamp: 5, type: 'gauge', value: Number.NEGATIVE_INFINITY },
    ]);
    const encoder = new RemoteWriteEncoder();
    const values = decodedSeries(encoder.encode(batch, 0)).map((s) => s.samples[0]?.value);
    expect(values).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    const stale = decodedSeries(encoder.staleMarkers(batch.series.slice(0, 2), 42));
    expect(stale.map((s) => [seriesText(s.labels), s.samples[0]?.bits, s.samples[0]?.timestamp])).toEqual([
      ['a{}', STALE_NAN_BITS, 42],
      ['b{}', STALE_NAN_BITS, 42],
    ]);
  });

  it('turns histogram buckets back into _bucket{le} and leaves _sum and _count alone, with or without the parser', () => {
    const text =
      '# TYPE h histogram\nh_bucket{le="0.5"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3\nh_count 2\n' +
      '# TYPE h_sum histogram\nh_sum_bucket{le="1"} 7\nh_sum_sum 1\nh_sum_count 7\n' +
      '# TYPE s summary\ns{quantile="0.9"} 4\ns_sum 9\ns_count 3\n';
    const { batch } = parseExposition(Buffer.from(text));
    const got = decodedSeries(new RemoteWriteEncoder().encode(batch, 1)).map((s) => `${seriesText(s.labels)} ${s.samples[0]?.value}`);
    expect(got).toEqual([
      'h_bucket{le="0.5"} 1',
      'h_bucket{le="+Inf"} 2',
      'h_sum{} 3',
      'h_count{} 2',
      'h_sum_bucket{le="1"} 7',
      'h_sum_sum{} 1',
      'h_sum_count{} 7',
      's{quantile="0.9"} 4',
      's_sum{} 9',
      's_count{} 3',
    ]);
    // Built without the parser: the name decides.
    expect(exposedLabels(new Series('h', 'histogram', { bucket: '1' }))).toEqual([
      ['__name__', 'h_bucket'],
      ['le', '1'],
    ]);
    expect(exposedLabels(new Series('h_count', 'histogram', { bucket: 'x' }))).toEqual([
      ['__name__', 'h_count'],
      ['bucket', 'x'],
    ]);
  });

  it('leaves out empty labels and makes tag names valid label names', () => {
    expect(exposedLabels(new Series('m', 'gauge', { 'app.kubernetes.io/name': 'web', '9lives': 'y', empty: '' }))).toEqual([
      ['_9lives', 'y'],
      ['__name__', 'm'],
      ['app_kubernetes_io_name', 'web'],
    ]);
  });

  it('writes label values in UTF-8 whatever their length', () => {
    const long = 'ü'.repeat(200);
    const batch = SampleBatch.from([{ name: 'm', tags: { city: 'Zürich', emoji: '🦀', long }, timestamp: 1, type: 'gauge', value: 1 }]);
    expect(decodedSeries(new RemoteWriteEncoder().encode(batch, 0))[0]?.labels).toEqual([
      ['__name__', 'm'],
      ['city', 'Zürich'],
      ['emoji', '🦀'],
      ['long', long],
    ]);
  });

  it('puts at most maxSamplesPerSend samples in a message and loses none', () => {
    const samples = Array.from({ length: 4501 }, (_, i) => ({ name: `m${i % 7}`, tags: { i: String(i) }, timestamp: i, type: 'counter' as const, value: i }));
    const encoder = new RemoteWriteEncoder({ maxSamplesPerSend: 2000 });
    const messages = encoder.encode(SampleBatch.from(samples), 0);
    expect(messages.map((m) => decodeMessage(m).length)).toEqual([2000, 2000, 501]);
    const values = decodedSeries(messages).map((s) => s.samples[0]?.value);
    expect(values).toEqual(samples.map((s) => s.value));
    const counts: number[] = [];
    encoder.encodeTo(SampleBatch.from(samples), 0, (_m, n) => counts.push(n));
    expect(counts).toEqual([2000, 2000, 501]);
  });

  it('memoises a series once and gives the same bytes on the next scrape', () => {
    const batch = SampleBatch.from([{ name: 'x', tags: { a: 'b' }, timestamp: 9, type: 'gauge', value: 3 }]);
    const encoder = new RemoteWriteEncoder();
    const first = encoder.encode(batch, 0);
    const memo = batch.series[0]?.memo;
    expect(batch.series[0]?.memoOwner).toBe(encoder);
    expect(encoder.encode(batch, 0)).toEqual(first);
    expect(batch.series[0]?.memo).toBe(memo);
  });

  it('writes negative and large timestamps as int64 varints', () => {
    for (const t of [0, 1, 127, 128, 2 ** 31, 2 ** 42 + 5, Number.MAX_SAFE_INTEGER, -1, -1_000_000_000_000]) {
      const batch = SampleBatch.from([{ name: 't', tags: {}, timestamp: t, type: 'gauge', value: 0 }]);
      expect(decodedSeries(new RemoteWriteEncoder().encode(batch, 0))[0]?.samples[0]?.timestamp).toBe(t);
    }
    const buf = new Uint8Array(16);
    expect(writeInt64(buf, 0, -1)).toBe(10);
    for (const v of [0, 127, 128, 16383, 16384, 2 ** 35, Number.MAX_SAFE_INTEGER]) expect(writeVarint(buf, 0, v)).toBe(varintSize(v));
  });

  it('is chosen for a remoteWrite output whatever the encoder field says', () => {
    const e = collectorEncoder({ encoder: 'json', batch: { maxSamples: 10 }, output: { remoteWrite: { url: 'http://x/api/v1/write', maxSamplesPerSend: 77 } } });
    expect(e).toBeInstanceOf(RemoteWriteEncoder);
    expect((e as RemoteWriteEncoder).maxSamples).toBe(77);
    expect(collectorEncoder({ encoder: 'json', output: { stdout: {} } }).kind).toBe('json');
  });

  it('adds job and instance to a target that has none, as Prometheus does', () => {
    expect(remoteWriteTargetLabels({ url: 'http://10.1.2.3:9100/metrics', labels: { team: 'a' }, discovery: 'monitoring/nodes' })).toEqual({
      team: 'a',
      job: 'nodes',
      instance: '10.1.2.3:9100',
    });
    expect(remoteWriteTargetLabels({ url: 'https://host.example/metrics', labels: {}, discovery: 'd' })).toEqual({ job: 'd', instance: 'host.example:443' });
    expect(remoteWriteTargetLabels({ url: 'http://[::1]/m', labels: { job: 'mine', instance: 'i' }, discovery: 'ns/d' })).toEqual({ job: 'mine', instance: 'i' });
    expect(remoteWriteTargetLabels({ url: 'http://[::1]/m', labels: {}, discovery: 'ns/d' }).instance).toBe('[::1]:80');
  });
});

describe('stale tracking and scrape series', () => {
  it('names the series a scrape no longer has, skips series with their own timestamps, and gives all on a failed scrape', () => {
    const text = (lines: string) => Buffer.from(`# TYPE a gauge\n${lines}`);
    const cache = new SeriesCache();
    const encoder = new RemoteWriteEncoder();
    const tracker = new StaleTracker();
    const scrape = (lines: string) => {
      const { batch } = parseExposition(text(lines), { cache });
      encoder.encode(batch, 1000);
      return tracker.vanished(batch).map((s) => seriesText(exposedLabels(s)));
    };
    expect(scrape('a{x="1"} 1\na{x="2"} 2\na{x="3"} 3 1234\n')).toEqual([]);
    expect(scrape('a{x="2"} 2\na{x="4"} 4\n')).toEqual(['a{x="1"}']);
    expect(scrape('a{x="4"} 4\n')).toEqual(['a{x="2"}']);
    expect(tracker.all().map((s) => seriesText(exposedLabels(s)))).toEqual(['a{x="4"}']);
    expect(tracker.all()).toEqual([]);
  });

  it('tracks series it did not memoise, by identity', () => {
    const tracker = new StaleTracker();
    const a = new Series('a', 'gauge', {});
    const b = new Series('b', 'gauge', {});
    const batch = new SampleBatch();
    batch.push(a, 1, Number.NaN);
    batch.push(b, 1, Number.NaN);
    expect(tracker.vanished(batch)).toEqual([]);
    batch.clear();
    batch.push(b, 1, Number.NaN);
    expect(tracker.vanished(batch)).toEqual([a]);
  });

  it('appends up, scrape_duration_seconds, scrape_samples_scraped and scrape_series_added with the target labels', () => {
    const series = new ScrapeSeries(remoteWriteTargetLabels({ url: 'http://h:9/m', labels: {}, discovery: 'ns/d' }));
    const batch = new SampleBatch();
    series.appendTo(batch, { up: true, durationSeconds: 0.25, samplesScraped: 120, seriesAdded: 3 });
    series.appendTo(batch, { up: false, durationSeconds: 1.5, samplesScraped: 0, seriesAdded: 0 });
    const got = decodedSeries(new RemoteWriteEncoder().encode(batch, 7000)).map((s) => `${seriesText(s.labels)} ${s.samples[0]?.value} @${s.samples[0]?.timestamp}`);
    expect(got).toEqual([
      'up{instance="h:9",job="d"} 1 @7000',
      'scrape_duration_seconds{instance="h:9",job="d"} 0.25 @7000',
      'scrape_samples_scraped{instance="h:9",job="d"} 120 @7000',
      'scrape_series_added{instance="h:9",job="d"} 3 @7000',
      'up{instance="h:9",job="d"} 0 @7000',
      'scrape_duration_seconds{instance="h:9",job="d"} 1.5 @7000',
      'scrape_samples_scraped{instance="h:9",job="d"} 0 @7000',
      'scrape_series_added{instance="h:9",job="d"} 0 @7000',
    ]);
    expect(batch.series[0]).toBe(batch.series[4]);
    expect(series.includes(batch.series[1] as Series)).toBe(true);
    expect(series.includes(new Series('up', 'gauge', { instance: 'h:9', job: 'd' }))).toBe(false);
  });
});

describe('snappy compressor', () => {
  it('makes blocks snappyjs decodes to the input, for random, repetitive and empty inputs of every size class', () => {
    const random = seeded(7);
    const compressor = new SnappyCompressor();
    const sizes = [0, 1, 15, 16, 17, 100, 4096, 65535, 65536, 65537, 200_000, 300_001];
    for (const n of sizes) {
      for (const alphabet of [1, 4, 256]) {
        const input = new Uint8Array(n);
        for (let i = 0; i < n; i++) {
          input[i] = random() < 0.6 && i > 40 ? (input[i - 1 - Math.floor(random() * 40)] as number) : Math.floor(random() * alphabet);
        }
        const out = compressor.compress(input);
        expect(out.length).toBeLessThanOrEqual(maxCompressedLength(n));
        expect(Buffer.from(snappy.uncompress(out)).equals(Buffer.from(input)), `size ${n} alphabet ${alphabet}`).toBe(true);
      }
    }
  });

  it('compresses repeated series text well', () => {
    const text = Buffer.from('node_cpu_seconds_total{cpu="0",mode="idle"} 1\n'.repeat(1000));
    expect(new SnappyCompressor().compress(text).length).toBeLessThan(text.length / 10);
  });
});

/** Whether the `snappy` package (native) loads here, read independently of BlockCompressor. */
const nativeLoads = (() => {
  try {
    return typeof (createRequire(import.meta.url)('snappy') as { compressSync?: unknown }).compressSync === 'function';
  } catch {
    return false;
  }
})();

describe('block compressor', () => {
  it('uses the native module where it loads and the JavaScript compressor when told not to', () => {
    expect(new BlockCompressor().implementation).toBe(nativeLoads ? 'native' : 'js');
    expect(new BlockCompressor({ native: false }).implementation).toBe('js');
  });

  it.each([true, false])('makes blocks snappyjs decodes to the first len bytes of its input (native allowed: %s)', (allowed) => {
    const random = seeded(11);
    const compressor = new BlockCompressor(allowed ? {} : { native: false });
    for (const n of [0, 1, 17, 511, 512, 4096, 65536, 65537, 300_001]) {
      const input = Buffer.alloc(n + 7, 0xee); // 7 bytes past len that must not be compressed
      for (let i = 0; i < n; i++) input[i] = random() < 0.7 && i > 8 ? (input[i - 1 - Math.floor(random() * 8)] as number) : Math.floor(random() * 256);
      const out = compressor.compress(input, n);
      expect(out.length).toBeLessThanOrEqual(maxCompressedLength(n));
      expect(Buffer.from(snappy.uncompress(new Uint8Array(out))).equals(input.subarray(0, n)), `size ${n}`).toBe(true);
    }
  });

  it('says which results are the caller\'s to keep: native ones are, JavaScript ones are reused', () => {
    const a = Buffer.from('abcdabcdabcdabcdabcdabcd-first');
    const b = Buffer.from('wxyzwxyzwxyzwxyz-second'); // shorter: fits the memory `a` used
    const js = new BlockCompressor({ native: false });
    const first = js.compress(a, a.length);
    expect(js.fresh).toBe(false);
    const kept = Buffer.from(first);
    js.compress(b, b.length);
    expect(Buffer.from(first).equals(kept)).toBe(false); // the same memory, overwritten
    const def = new BlockCompressor();
    def.compress(a, a.length);
    expect(def.fresh).toBe(false); // too small to be worth the native call
    const c = Buffer.from('0123456789'.repeat(100));
    const d = Buffer.from('9876543210'.repeat(100));
    const one = def.compress(c, c.length);
    expect(def.fresh).toBe(nativeLoads);
    if (nativeLoads) {
      const two = def.compress(d, d.length);
      expect(Buffer.from(snappy.uncompress(new Uint8Array(one))).equals(c)).toBe(true);
      expect(Buffer.from(snappy.uncompress(new Uint8Array(two))).equals(d)).toBe(true);
    }
  });

  it('gives the encoder the same requests with either compressor, each message intact after the next is made', () => {
    const samples = Array.from({ length: 4501 }, (_, i) => ({ name: `m${i % 7}`, tags: { i: String(i % 300) }, timestamp: i, type: 'counter' as const, value: i / 3 }));
    // Decoded only once all are made: a message sharing memory with the next would come out wrong.
    const requests = (nativeSnappy: boolean): Buffer[] => {
      const messages = new RemoteWriteEncoder({ maxSamplesPerSend: 2000, nativeSnappy }).encode(SampleBatch.from(samples), 0);
      return messages.map((m) => Buffer.from(snappy.uncompress(new Uint8Array(m))));
    };
    const js = requests(false);
    const def = requests(true);
    expect(js).toHaveLength(3);
    expect(def.map((r) => r.toString('hex'))).toEqual(js.map((r) => r.toString('hex')));
    expect(decodedSeries(new RemoteWriteEncoder({ nativeSnappy: false }).encode(SampleBatch.from(samples), 0)).map((s) => s.samples[0]?.value)).toEqual(samples.map((s) => s.value));
  });
});

describe('stale tracker over many scrapes', () => {
  it('names exactly the series of the scrape before that the next one lacks, and never changes an answer it gave', () => {
    const random = seeded(5);
    const pool = Array.from({ length: 60 }, (_, i) => new Series(`s${i}`, 'gauge', {}));
    const encoder = new RemoteWriteEncoder();
    const tracker = new StaleTracker();
    let previous: Series[] = [];
    const answers: { got: Series[]; want: Series[] }[] = [];
    for (let scrape = 0; scrape < 40; scrape++) {
      const batch = new SampleBatch();
      // Some series memoised by the encoder, some not; now and then one with its own timestamp.
      const current = pool.filter(() => random() < 0.6);
      for (const s of current) batch.push(s, 1, random() < 0.1 ? 5 : Number.NaN);
      if (scrape % 3 === 0) encoder.encode(batch, 1000);
      const tracked = current.filter((_, i) => Number.isNaN(batch.timestamps[i] as number));
      if (scrape % 13 === 12) {
        const all = tracker.all();
        answers.push({ got: all, want: [...previous] });
        previous = [];
        continue;
      }
      const gone = tracker.vanished(batch);
      answers.push({ got: gone, want: previous.filter((s) => !tracked.includes(s)) });
      previous = tracked;
    }
    for (const [i, { got, want }] of answers.entries()) expect(got, `scrape ${i}`).toEqual(want);
  });
});

describe('remote write message memory', () => {
  /** A batch whose messages are large enough (≥ 16 KiB) to come from the encoder's own memory. */
  const big = () => SampleBatch.from(Array.from({ length: 3000 }, (_, i) => ({ name: `metric_${i % 50}`, tags: { pod: `pod-${i}`, zone: `z${i % 3}` }, timestamp: i, type: 'gauge' as const, value: Math.sqrt(i) })));

  it('keeps a handed-out message as a copy, and reuses only the memory it made once it comes back', () => {
    const encoder = new RemoteWriteEncoder({ maxSamplesPerSend: 3000 });
    const views: Uint8Array[] = [];
    encoder.encodeTo(big(), 0, (m) => views.push(encoder.keep(m)));
    const first = views[0] as Uint8Array;
    expect(first.length).toBeGreaterThanOrEqual(16 * 1024);
    const want = decodedSeries([first]).map((s) => s.samples[0]?.value);
    expect(want).toHaveLength(3000);
    // Not recycled: a new message gets other memory, and the first is intact.
    const second: Uint8Array[] = [];
    encoder.encodeTo(big(), 0, (m) => second.push(encoder.keep(m)));
    expect(second[0]?.buffer).not.toBe(first.buffer);
    expect(decodedSeries([first]).map((s) => s.samples[0]?.value)).toEqual(want);
    // Recycled: the next message is written into the first one's memory.
    const foreign = new Uint8Array(1 << 20);
    encoder.recycle([first, foreign]);
    const third: Uint8Array[] = [];
    encoder.encodeTo(big(), 0, (m) => third.push(encoder.keep(m)));
    expect(third[0]?.buffer).toBe(first.buffer);
    expect(decodedSeries(third).map((s) => s.samples[0]?.value)).toEqual(want);
    // Memory it did not make is never handed out.
    const fourth: Uint8Array[] = [];
    encoder.encodeTo(big(), 0, (m) => fourth.push(encoder.keep(m)));
    expect(fourth[0]?.buffer).not.toBe(foreign.buffer);
  });

  it('gives encode() messages that stay intact while later ones are made, pooled or not', () => {
    const encoder = new RemoteWriteEncoder({ maxSamplesPerSend: 1000, nativeSnappy: false });
    const a = encoder.encode(big(), 0);
    encoder.recycle(a.slice(0, 1));
    const b = encoder.encode(big(), 0);
    expect(b.some((m) => m.buffer === a[0]?.buffer)).toBe(true);
    const values = big().values;
    expect(decodedSeries(b).map((s) => s.samples[0]?.value)).toEqual([...values.subarray(0, 3000)]);
    expect(decodedSeries(a.slice(1)).map((s) => s.samples[0]?.value)).toEqual([...values.subarray(1000, 3000)]);
  });
});
