// SPDX-License-Identifier: Apache-2.0
/**
 * Disk spool throughput (src/buffer/spool.ts) against plain `fs.appendFile` of the same bytes,
 * in the same run.
 *
 *   npx tsx bench/spool.bench.ts                 (BENCH_TIME_MS, BENCH_ITERATIONS: bench/lib/env.ts)
 *   node --expose-gc --import tsx bench/spool.bench.ts
 *
 * Data sets "records-1k" and "records-64k": records of 1 KiB and 64 KiB of seeded random bytes,
 * each with a 40-byte id, in batches of 1 MiB of messages (1024 and 16 records). Files live in a
 * temporary directory under the OS temp dir (removed at the end).
 *
 * Cases, per record size (one iteration moves one batch; the median iteration is reported). The
 * cases of one size run interleaved, in 5 rounds of BENCH_TIME_MS / 5 each (see measureInterleaved):
 * - `spool round trip`: `append(batch)`, `peek(n)`, `ack(n)`: the path of a spool that the
 *   peer keeps up with. Once all is acknowledged the segment is deleted, so each iteration also
 *   creates one segment file and deletes it. Default durability (`syncIntervalMs` 1000).
 * - `spool round trip, fsync each append` (1 KiB only): the same with `syncIntervalMs: 0`.
 * - `spool backlog`: 32 batches appended, then drained by peek+ack of one batch at a time:
 *   an outage's backlog written and replayed; reported per batch (total time / 32).
 * - baseline `appendFile`: `fs.appendFile` of the batch's messages, concatenated untimed, to one
 *   file (truncated every 64 MiB, inside one iteration in 64: medians do not see it): the cost of putting the same bytes in the page
 *   cache with nothing read back, no framing, no checksum, no acknowledgement.
 * - baseline `appendFile per record`: one `fs.appendFile` per message.
 *
 * Reported: median ms per batch, records/s (in the samples/s column), MB/s of message bytes
 * (10^6 bytes; ids and framing not counted), speed-up against appendFile of the same batch.
 * Allocation is not measured (the cases are asynchronous; bench/lib/alloc.ts times sync calls).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { appendFile, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Spool, type SpoolRecord } from '../src/buffer/spool.js';
import { Rng } from '../src/demo/random.js';
import { env, machineLine } from './lib/env.js';
import type { Measured } from './lib/measure.js';
import { progress } from './lib/measure.js';
import { median, printTable, type Row, saveResults } from './lib/report.js';

const BATCH_BYTES = 1 << 20;
const BACKLOG_BATCHES = 32;
const BASELINE_ROTATE = 64 << 20;

const root = mkdtempSync(join(tmpdir(), `strata-bench-spool-${process.pid}-`));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => process.exit(130));

/** Seeded random bytes (the demo's generator), so every run spools the same bytes. */
function seededBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  const rng = new Rng(seed);
  for (let i = 0; i < n; i++) out[i] = rng.uint32() & 0xff;
  return out;
}

function batchOf(recordBytes: number): SpoolRecord[] {
  const n = Math.max(1, Math.floor(BATCH_BYTES / recordBytes));
  return Array.from({ length: n }, (_, i) => ({
    id: `collector-a/ns/pod-${String(i).padStart(6, '0')}/1700000000000/${i % 10}`.padEnd(40, '.'),
    samples: 100,
    createdAt: 1_700_000_000_000 + i,
    message: seededBytes(recordBytes, env.seed + i),
  }));
}

interface AsyncCase {
  readonly name: string;
  /** The row this one is compared to. */
  readonly vs?: string;
  readonly records: number;
  readonly bytes: number;
  /** One timed iteration. */
  readonly fn: () => Promise<unknown>;
  /** Divides each iteration's time (an iteration that moves several batches). */
  readonly per?: number;
}

/**
 * Runs the cases interleaved: ROUNDS rounds, each giving every case BENCH_TIME_MS / ROUNDS (and
 * at least one iteration), after two warm-up iterations each. The machine's swings then fall on
 * every case alike; each case's median is over all its iterations.
 */
const ROUNDS = 5;
async function measureInterleaved(cases: readonly AsyncCase[]): Promise<Row[]> {
  const times = cases.map(() => [] as number[]);
  for (const c of cases) for (let i = 0; i < 2; i++) await c.fn();
  for (let round = 0; round < ROUNDS; round++) {
    for (const [k, c] of cases.entries()) {
      progress(`${c.name} (round ${round + 1}/${ROUNDS})`);
      const t = times[k] as number[];
      const start = performance.now();
      const min = Math.ceil(env.iterations / ROUNDS);
      for (let n = 0; n < min || performance.now() - start < env.timeMs / ROUNDS; n++) {
        const t0 = performance.now();
        await c.fn();
        t.push((performance.now() - t0) / (c.per ?? 1));
      }
    }
  }
  return cases.map((c, k) => {
    const t = times[k] as number[];
    const medianMs = median(t);
    const measured: Measured = {
      name: c.name,
      medianMs,
      minMs: Math.min(...t),
      maxMs: Math.max(...t),
      runs: t.length,
      samples: c.records,
      bytes: c.bytes,
      samplesPerSec: c.records / (medianMs / 1000),
      mbPerSec: c.bytes / 1e6 / (medianMs / 1000),
      alloc: undefined,
      allocPerSample: undefined,
    };
    return c.vs === undefined ? { name: c.name, measured } : { name: c.name, vs: c.vs, measured };
  });
}

const rows: Row[] = [];
const notes: string[] = ['samples/s column = records/s; MB/s = message bytes (ids, framing not counted)'];

async function sizeCases(label: string, recordBytes: number): Promise<void> {
  const batch = batchOf(recordBytes);
  const records = batch.length;
  const bytes = records * recordBytes;
  const base = `appendFile ${label}`;
  const cases: AsyncCase[] = [];
  const spools: Spool[] = [];

  const roundTrip = async (name: string, syncIntervalMs: number): Promise<void> => {
    const spool = await Spool.open({ dir: join(root, name.replace(/\W+/g, '-')), maxBytes: 1 << 30, syncIntervalMs });
    spools.push(spool);
    cases.push({
      name,
      vs: base,
      records,
      bytes,
      fn: async () => {
        if (!(await spool.append(batch))) throw new Error('spool full');
        const got = await spool.peek(records);
        if (got.length !== records) throw new Error(`peeked ${got.length} of ${records}`);
        await spool.ack(records);
      },
    });
  };
  await roundTrip(`spool round trip ${label}`, 1000);
  if (recordBytes === 1024) await roundTrip(`spool round trip ${label}, fsync each append`, 0);

  const backlog = await Spool.open({ dir: join(root, `backlog-${label}`), maxBytes: 1 << 30 });
  spools.push(backlog);
  cases.push({
    name: `spool backlog ${label}`,
    vs: base,
    records,
    bytes,
    per: BACKLOG_BATCHES,
    fn: async () => {
      for (let i = 0; i < BACKLOG_BATCHES; i++) if (!(await backlog.append(batch))) throw new Error('spool full');
      for (let i = 0; i < BACKLOG_BATCHES; i++) {
        const got = await backlog.peek(records);
        if (got.length !== records) throw new Error(`peeked ${got.length} of ${records}`);
        await backlog.ack(records);
      }
    },
  });

  const file = join(root, `appendfile-${label}`);
  await writeFile(file, '');
  const joined = Buffer.concat(batch.map((r) => r.message));
  let written = 0;
  const rotate = async (): Promise<void> => {
    if (written >= BASELINE_ROTATE) {
      await truncate(file, 0);
      written = 0;
    }
  };
  cases.push({
    name: base,
    records,
    bytes,
    fn: async () => {
      await rotate();
      await appendFile(file, joined);
      written += joined.length;
    },
  });
  cases.push({
    name: `appendFile per record ${label}`,
    vs: base,
    records,
    bytes,
    fn: async () => {
      await rotate();
      for (const r of batch) await appendFile(file, r.message);
      written += joined.length;
    },
  });
  rows.push(...(await measureInterleaved(cases)));
  for (const spool of spools) await spool.close();
}

await sizeCases('1k', 1024);
await sizeCases('64k', 64 * 1024);

// Speed-up reads as "appendFile's median / this median": below 1 means slower than appendFile.
printTable('disk spool: append + peek + ack, 1 MiB batches', [machineLine(), `dir ${root}`, ...notes], rows);
saveResults('spool', 'records-1k, records-64k', machineLine(), rows, notes);
