// SPDX-License-Identifier: Apache-2.0
/**
 * Tags of series the series cache records: their entries keep no tag object, and decode their
 * tags from the bytes the cache holds when `tags` is read (CacheEntry). These tests check that
 * what is read equals what an uncached parse builds, on the first scrape and on later ones, and
 * that a series object handed out keeps its tags once the cache has let go of its bytes (the
 * series vanished and the arena was compacted, the scrape failed, the target tags changed, the
 * cache was cleared).
 */
import { describe, expect, it } from 'vitest';
import { ExpositionParser, type ParseOptions, parseExposition, SeriesCache } from '../../src/parse/index.js';
import { JsonEncoder } from '../../src/encode/json.js';
import { type Sample, SampleBatch, type Series } from '../../src/sample.js';

const BODY = [
  '# TYPE lat histogram',
  'lat_bucket{path="/a",le="0.50"} 1',
  'lat_bucket{path="/a",le="1e0"} 2',
  'lat_bucket{path="/a",le="+Inf"} 3',
  'lat_sum{path="/a"} 4.5',
  'lat_count{path="/a"} 3',
  'lat_bucket{path="/b"} 7',
  '# TYPE rpc summary',
  'rpc{quantile="0.990",svc="x"} 0.2',
  'rpc_count{svc="x"} 9',
  'esc{p="C:\\\\DIR\\\\F.TXT",e="no file:\\n\\"F\\"",t="a\\tb"} 1',
  'utf{city="Zürich",emoji="📈"} 2',
  'blanks { z = "1" , a="2", } 3',
  'bare 4',
  'empty{} 5',
  'job_label{job="mine",instance="i:1"} 6',
  '',
].join('\n');

const OM_BODY = ['# TYPE c counter', 'c_total{a="1"} 1 # {trace="x"} 1', 'c_created{a="1"} 1', 'g{b="2"} 3', '# EOF', ''].join('\n');

function samples(body: string, options: ParseOptions): Sample[] {
  return parseExposition(Buffer.from(body), options).batch.toSamples(null);
}

const TARGET = { instance: 't:9', job: 'scrape', zone: 'eu' };

describe('tags of cached series', () => {
  const configs: { name: string; options: ParseOptions; body: string }[] = [
    { name: 'without target tags', options: {}, body: BODY },
    { name: 'with target tags', options: { targetTags: TARGET }, body: BODY },
    { name: 'with honorLabels false', options: { targetTags: TARGET, honorLabels: false }, body: BODY },
    { name: 'in OpenMetrics', options: { contentType: 'application/openmetrics-text; version=1.0.0', targetTags: TARGET }, body: OM_BODY },
  ];
  for (const { name, options, body } of configs) {
    it(`equal those of an uncached parse on the first and later scrapes (${name})`, () => {
      const want = samples(body, options);
      const cache = new SeriesCache();
      for (let scrape = 0; scrape < 3; scrape++) {
        expect(samples(body, { ...options, cache }), `scrape ${scrape}`).toEqual(want);
      }
      expect(cache.size).toBeGreaterThan(0);
    });
  }

  it('reads the same tags however many times they are read', () => {
    const cache = new SeriesCache();
    const { batch } = parseExposition(Buffer.from(BODY), { cache, targetTags: TARGET });
    const a = batch.series[0] as Series;
    const b = batch.series[1] as Series;
    const first = a.tags;
    expect(b.tags).toEqual({ bucket: '1', instance: 't:9', job: 'scrape', path: '/a', zone: 'eu' });
    expect(a.tags).toEqual(first);
    expect(Object.keys(a.tags).map((k) => a.tags[k])).toEqual(['0.5', 't:9', 'scrape', '/a', 'eu']);
  });

  it('stay right on series that vanished, after the arena was compacted around them', () => {
    const cache = new SeriesCache();
    const body = (gen: number): string => {
      let text = '';
      for (let k = 0; k < 2000; k++) text += `pod_info{namespace="ns-${k % 7}",pod="pod-${gen}-${k}",node="node-${k % 13}.example.internal"} ${k}\n`;
      return text;
    };
    const kept: { series: Series; tags: Record<string, string> }[] = [];
    let ever = 0;
    for (let gen = 0; gen < 6; gen++) {
      const text = body(gen);
      ever += Buffer.byteLength(text);
      const { batch } = parseExposition(Buffer.from(text), { cache, targetTags: { instance: 'x' } });
      for (let i = 0; i < batch.length; i += 97) {
        const series = batch.series[i] as Series;
        kept.push({ series, tags: { instance: 'x', namespace: `ns-${i % 7}`, node: `node-${i % 13}.example.internal`, pod: `pod-${gen}-${i}` } });
      }
    }
    // Every series of a generation is replaced by the next: the arena must have been rebuilt.
    expect(cache.arenaBytes).toBeLessThan(ever / 2);
    for (const { series, tags } of kept) expect(series.tags).toEqual(tags);
  });

  it('stay right on series of a failed scrape handed out before it failed', () => {
    const cache = new SeriesCache();
    parseExposition(Buffer.from('a{k="0"} 1\n'), { cache });
    const handed: Series[] = [];
    const parser = new ExpositionParser({ cache });
    parser.push(Buffer.from('a{k="0"} 1\nb{k="new",v="1"} 2\n'));
    parser.takeSamples((batch) => {
      for (let i = 0; i < batch.length; i++) handed.push(batch.series[i] as Series);
    });
    expect(() => parser.push(Buffer.from('c{k="x" 1\n'))).toThrow();
    // Later scrapes that replace everything, so that the arena is rebuilt without those bytes.
    for (let gen = 0; gen < 4; gen++) {
      let text = '';
      for (let k = 0; k < 3000; k++) text += `z{gen="${gen}",k="${k}",pad="${'p'.repeat(40)}"} 1\n`;
      parseExposition(Buffer.from(text), { cache });
    }
    expect(handed.map((s) => s.tags)).toEqual([{ k: '0' }, { k: 'new', v: '1' }]);
  });

  it('stay right when the target tags change and when the cache is cleared', () => {
    const cache = new SeriesCache();
    const first = parseExposition(Buffer.from('a{k="1"} 1\nb{k="2"} 2\n'), { cache, targetTags: { job: 'one' } }).batch;
    const a = first.series[0] as Series;
    const second = parseExposition(Buffer.from('c{k="3"} 3\n'), { cache, targetTags: { job: 'two' } }).batch;
    const c = second.series[0] as Series;
    parseExposition(Buffer.from('d{k="4"} 4\n'.repeat(1)), { cache, targetTags: { job: 'two' } });
    cache.clear();
    parseExposition(Buffer.from('e{k="5"} 5\n'), { cache });
    expect(a.tags).toEqual({ job: 'one', k: '1' });
    expect(first.series[1]?.tags).toEqual({ job: 'one', k: '2' });
    expect(c.tags).toEqual({ job: 'two', k: '3' });
  });

  it('are built when the series is made, for series the cache does not record', () => {
    const cache = new SeriesCache({ maxSeries: 1 });
    const { batch } = parseExposition(Buffer.from('a{k="1"} 1\nb{k="2"} 2\n'), { cache });
    expect(batch.toSamples(null).map((x) => x.tags)).toEqual([{ k: '1' }, { k: '2' }]);
    expect(cache.size).toBe(1);
  });

  it('are written by the JSON encoder as it writes the same tags of a series made from objects', () => {
    const body = `${BODY}tab{raw="x\ty"} 1\nctl{c="\u0001"} 2\nunknown{v="a\\tb"} 3\nq{q="\\q"} 4\n`;
    for (const targetTags of [{}, TARGET, { 'we"ird': 'va\\l"ue\n', job: 'ünï' }]) {
      const cache = new SeriesCache();
      for (let scrape = 0; scrape < 2; scrape++) {
        const { batch } = parseExposition(Buffer.from(body), { cache, targetTags });
        const cached = Buffer.concat(new JsonEncoder().encode(batch, 7)).toString();
        const plain = Buffer.concat(new JsonEncoder().encode(SampleBatch.from(batch.toSamples(null)), 7)).toString();
        expect(cached).toBe(plain);
        expect(cached.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Sample)).toHaveLength(batch.length);
      }
    }
  });
});
