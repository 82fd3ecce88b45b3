// SPDX-License-Identifier: Apache-2.0
/**
 * Result tables: one row per case with the median time, samples/s, MB/s, bytes allocated per
 * sample, the speed-up over the case's baseline from the same run, and the target it is held to.
 * Tables go to stdout; the same rows are written as JSON to bench/results/<area>.json (ignored
 * by git) so `bench/run.ts` can summarise the targets at the end.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Measured } from './measure.js';

export interface Target {
  /** What the case is held to, e.g. `≥ 1.5M samples/s` or `≥ 8× parse-prometheus-text-format`. */
  readonly label: string;
  readonly met: boolean;
}

export interface Row {
  readonly name: string;
  readonly measured?: Measured;
  /** Why the case did not run (the module it needs does not exist yet, say). */
  readonly skipped?: string;
  /** Name of the row this one is compared to; the speed-up is its median / this median. */
  readonly vs?: string;
  readonly targets?: readonly Target[];
}

export function fmtRate(n: number): string {
  if (!Number.isFinite(n)) return '-';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(0);
}
export function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}
function fmtBytes(b: number | undefined): string {
  if (b === undefined) return '-';
  return b >= 100 ? b.toFixed(0) : b.toFixed(1);
}

export function speedup(rows: readonly Row[], row: Row): number | undefined {
  if (row.vs === undefined || row.measured === undefined) return undefined;
  const base = rows.find((r) => r.name === row.vs)?.measured;
  return base === undefined ? undefined : base.medianMs / row.measured.medianMs;
}

export function printTable(title: string, header: readonly string[], rows: readonly Row[]): void {
  const head = ['case', 'median ms', 'samples/s', 'MB/s', 'alloc B/sample', 'speed-up', 'target', 'met'];
  const body: string[][] = rows.map((r) => {
    const m = r.measured;
    if (m === undefined) return [r.name, 'skipped', '', '', '', '', '', ''];
    const x = speedup(rows, r);
    const targets = r.targets ?? [];
    return [
      r.name,
      fmtMs(m.medianMs),
      fmtRate(m.samplesPerSec),
      m.mbPerSec === undefined ? '-' : m.mbPerSec.toFixed(1),
      fmtBytes(m.allocPerSample),
      x === undefined ? (r.vs === undefined ? '' : '-') : `${x.toFixed(2)}× vs ${r.vs}`,
      targets.map((t) => t.label).join('; '),
      targets.map((t) => (t.met ? 'yes' : 'NO')).join('; '),
    ];
  });
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => (b[c] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, c) => (c === 0 || c >= 5 ? cell.padEnd(widths[c] as number) : cell.padStart(widths[c] as number))).join('  ').trimEnd();
  const skipped = rows.filter((r) => r.measured === undefined).map((r) => `   skipped ${r.name}: ${r.skipped ?? 'not run'}`);
  const out = [`\n## ${title}`, ...header.map((h) => `   ${h}`), '', line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), ...skipped, ''];
  process.stdout.write(`${out.join('\n')}\n`);
}

export function target(label: string, met: boolean): Target {
  return { label, met };
}

const RESULTS_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results');

/** Writes bench/results/<area>.json: the rows with their speed-ups and targets. */
export function saveResults(area: string, dataSet: string, machine: string, rows: readonly Row[], notes: readonly string[] = []): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = {
    area,
    dataSet,
    machine,
    date: new Date().toISOString(),
    notes,
    rows: rows.map((r) => ({ ...r, speedup: speedup(rows, r) })),
  };
  writeFileSync(path.join(RESULTS_DIR, `${area}.json`), `${JSON.stringify(json, null, 2)}\n`);
}

/** The median; NaN for no values. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}
