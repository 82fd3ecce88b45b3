// SPDX-License-Identifier: Apache-2.0
/**
 * Remote write encoding: samples/s through the remote write encoder (protobuf WriteRequest +
 * snappy block) at 1, 100, 1000 and 2000 samples per send, and bytes per sample on the wire,
 * against baselines in the same run.
 *
 *   node --expose-gc --import tsx bench/remote-write.bench.ts
 *   npx tsx bench/remote-write.bench.ts
 *
 * Input: the cluster-mix-100k scrape-0 payload (BENCH_SERIES series) parsed once by Strata's
 * parser with the target labels a remote write Collector adds (`job`, `instance`, plus one
 * static label), ~100k samples. Default timestamp = a fixed scrape time. Memos are warm after
 * the first iteration (a target scraped repeatedly); "new series" rows rebuild the Series
 * objects before every iteration (untimed) and pay the memo: a target's first scrape.
 *
 * Rows, for each samples-per-send N:
 * - `rw N`: RemoteWriteEncoder.encode (hand-written protobuf into a kept buffer, then snappy:
 *   native when the `snappy` package loads, which the header line says);
 * - `rw N, js snappy`: the same encoder with `nativeSnappy: false` (the hand-written compressor
 *   into a kept buffer, one copy out per message): what a platform without the native module gets;
 * - `json N` (baseline): the JSON encoder with maxSamples N, the default Collector encoding;
 * - `snappy N` / `snappyjs N`: compressing the same uncompressed WriteRequests (made once,
 *   untimed) with `src/encode/snappy.ts` and with the snappyjs package: the reason for the
 *   hand-written fallback;
 * - `native N` / `native N, external`: the same with the `snappy` package's `compressSync`, its
 *   output copied into V8's heap (`copyOutputData`, what the encoder uses) and as an external
 *   buffer wrapping the module's memory (its default), against `snappy N`;
 * - `rw N, new series`: as `rw N` with cold memos.
 * Also printed: bytes per sample on the wire (compressed) and uncompressed, for Strata and for
 * snappyjs; Prometheus sends about 48 B/sample (issue 12, measured with its agent here).
 *
 * Reported: medians (tinybench), samples/s = input samples / median, MB/s = output bytes /
 * median, bytes allocated per input sample (bench/lib/alloc.ts), speed-up over the row's
 * baseline.
 */
import { createRequire } from 'node:module';
import snappyjs from 'snappyjs';
import { RemoteWriteEncoder, remoteWriteTargetLabels } from '../src/encode/remote-write.js';
import { JsonEncoder } from '../src/encode/json.js';
import { BlockCompressor, maxCompressedLength, SnappyCompressor } from '../src/encode/snappy.js';
import { parseExposition, SeriesCache } from '../src/parse/index.js';
import { SampleBatch, Series } from '../src/sample.js';
import { consume } from './lib/alloc.js';
import { machineLine } from './lib/env.js';
import { measure, progress } from './lib/measure.js';
import { clusterMix, payloadLine } from './lib/payloads.js';
import { type Row, printTable, saveResults, target } from './lib/report.js';

const SCRAPE_TIME = 1_700_000_015_000;
const SIZES = [1, 100, 1000, 2000] as const;
const PROMETHEUS_BYTES_PER_SAMPLE = 48;

type CompressSync = (input: Uint8Array, options?: { copyOutputData?: boolean }) => Uint8Array;
/** The `snappy` package's compressSync, or null where it does not load (its rows are left out). */
const native: CompressSync | null = (() => {
  try {
    return (createRequire(import.meta.url)('snappy') as { compressSync: CompressSync }).compressSync;
  } catch {
    return null;
  }
})();

const payload = clusterMix(0);
const tags = remoteWriteTargetLabels({ url: 'http://10.42.0.17:9100/metrics', labels: { cluster: 'bench' }, discovery: 'monitoring/cluster-mix' });
const source: SampleBatch = parseExposition(payload.body, { cache: new SeriesCache(), targetTags: tags }).batch;
const n = source.length;
const notes: string[] = [
  `input: strata parseExposition with target labels ${JSON.stringify(tags)}, ${n} samples`,
  `rw rows compress with: ${new BlockCompressor().implementation} snappy`,
];
const rows: Row[] = [];

/** A batch of the same samples with fresh Series objects (cold memos). */
function freshBatch(): SampleBatch {
  const b = new SampleBatch(n);
  for (let i = 0; i < n; i++) {
    const s = source.series[i] as Series;
    b.push(new Series(s.name, s.type, s.tags), source.values[i] as number, source.timestamps[i] as number);
  }
  return b;
}

function total(messages: readonly Uint8Array[]): number {
  let t = 0;
  for (const m of messages) t += m.byteLength;
  return t;
}

const wire: string[] = [];
for (const size of SIZES) {
  progress(`samples per send ${size}`);
  const rw = new RemoteWriteEncoder({ maxSamplesPerSend: size });
  const messages = rw.encode(source, SCRAPE_TIME);
  const rwBytes = total(messages);
  const rawBytes = rw.lastRawBytes;
  // The uncompressed WriteRequests, for the compressor rows (and a check of our output).
  const raws = messages.map((m) => snappyjs.uncompress(new Uint8Array(m)));
  const rawTotal = total(raws);
  if (rawTotal !== rawBytes) throw new Error(`snappyjs decoded ${rawTotal} bytes, the encoder wrote ${rawBytes}`);
  const jsBytes = total(raws.map((r) => snappyjs.compress(r)));
  const json = new JsonEncoder({ maxSamples: size, maxBytes: 1 << 30 });
  const jsonBytes = total(json.encode(source, SCRAPE_TIME));
  wire.push(
    `${size}/send: rw ${(rwBytes / n).toFixed(1)} B/sample on the wire (${(rawBytes / n).toFixed(1)} uncompressed, ` +
      `snappyjs ${(jsBytes / n).toFixed(1)}); json ${(jsonBytes / n).toFixed(1)} B/sample uncompressed`,
  );

  rows.push({ name: `json ${size}`, measured: measure({ name: `json ${size}`, fn: () => json.encode(source, SCRAPE_TIME), samples: n, bytes: jsonBytes }) });
  const rwRow: Row = {
    name: `rw ${size}`,
    vs: `json ${size}`,
    measured: measure({ name: `rw ${size}`, fn: () => rw.encode(source, SCRAPE_TIME), samples: n, bytes: rwBytes }),
  };
  rows.push({
    ...rwRow,
    // Held at the default of 2000 samples per send, as Prometheus' figure was measured with its defaults.
    targets: size === 2000 ? [target(`≤ ${PROMETHEUS_BYTES_PER_SAMPLE} B/sample on the wire`, rwBytes / n <= PROMETHEUS_BYTES_PER_SAMPLE)] : [],
  });
  const rwJs = new RemoteWriteEncoder({ maxSamplesPerSend: size, nativeSnappy: false });
  rows.push({
    name: `rw ${size}, js snappy`,
    vs: `json ${size}`,
    measured: measure({ name: `rw ${size}, js snappy`, fn: () => rwJs.encode(source, SCRAPE_TIME), samples: n, bytes: total(rwJs.encode(source, SCRAPE_TIME)) }),
  });
  let fresh = freshBatch();
  const cold = new RemoteWriteEncoder({ maxSamplesPerSend: size });
  rows.push({
    name: `rw ${size}, new series`,
    vs: `json ${size}`,
    measured: measure({
      name: `rw ${size}, new series`,
      beforeEach: () => {
        fresh = freshBatch();
      },
      fn: () => cold.encode(fresh, SCRAPE_TIME),
      samples: n,
      bytes: rwBytes,
      iterations: 3,
    }),
  });
  rows.push({
    name: `snappyjs ${size}`,
    measured: measure({ name: `snappyjs ${size}`, fn: () => consume(raws.map((r) => snappyjs.compress(r))), samples: n, bytes: rawTotal }),
  });
  const ours = new SnappyCompressor();
  const out = new Uint8Array(maxCompressedLength(Math.max(...raws.map((r) => r.length))));
  rows.push({
    name: `snappy ${size}`,
    vs: `snappyjs ${size}`,
    measured: measure({
      name: `snappy ${size}`,
      fn: () => {
        let bytes = 0;
        for (const r of raws) bytes += ours.compressInto(r, 0, r.length, out, 0);
        return bytes;
      },
      samples: n,
      bytes: rawTotal,
    }),
  });
  if (native !== null) {
    const compressSync = native;
    const buffers = raws.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength));
    for (const [name, options] of [[`native ${size}`, { copyOutputData: true }], [`native ${size}, external`, {}]] as const) {
      rows.push({
        name,
        vs: `snappy ${size}`,
        measured: measure({ name, fn: () => consume(buffers.map((r) => compressSync(r, options))), samples: n, bytes: rawTotal }),
      });
    }
  }
}

notes.push(...wire);
printTable('remote write encoding: cluster-mix batch', [machineLine(), payloadLine(payload), ...notes], rows);
saveResults('remote-write', payload.description.name, machineLine(), rows, notes);
