// SPDX-License-Identifier: Apache-2.0
/**
 * The delivery stage: what happens to one target's parsed samples, filter → encode → buffer →
 * sink, and the accounting that makes every sample end up counted once.
 *
 * Accounting (the project's core promise: collected = sent + filtered + dropped by reason, once
 * nothing is held). The caller counts `collected` and holds the samples in the pool's control
 * word (control.ts); each sample is then released exactly where it is counted:
 * - `filtered`: removed by the exclude and clip filters (`clamped` counts changed ones, apart);
 * - `dropped{non_finite}`: skipped by an encoder that cannot write them (statsd);
 * - `dropped{encode}`: the encoder threw; the samples of no finished message are dropped (the
 *   messages finished before the error go out);
 * - `sent`: written by `writeNow` straight from the encoder's scratch memory, or later when the
 *   sink answers ok for a message the outbox sent;
 * - `dropped{sink_rejected|buffer_full|too_old|shutdown}`: by the outbox (src/buffer/outbox.ts);
 * - moved to the spool: released and counted in the `spoolSamples` gauge; a spooled sample is
 *   later `sent` or `dropped` (and leaves the gauge), in this process or, replayed, the next.
 * A thread terminated past its grace period leaves its held samples to the pool, which counts
 * them `dropped{shutdown}`; released samples are never held, so none is counted twice.
 *
 * Message ids: message n (from 0, in encoding order) of a scrape is `<target id>.<scrape time in
 * ms>.<n>`, the target id a hash of the collector and the target (see `targetId`): the same for
 * a message retried or replayed from the spool.
 *
 * Per-message samples: `encodeTo` gives them. An encoder without it (fluent, statsd) gives only
 * messages, so the samples of one encode are spread over its messages in order (each full to
 * `maxSamples` but the last); a total stays exact, only which message carries which of a
 * scrape's samples may be off when some of them are sent and others dropped.
 */
import { createHash } from 'node:crypto';
import type { OutboxEntry, Outbox, OutboxListener, FailedOutcome, BufferDropReason } from '../buffer/outbox.js';
import type { Encoder } from '../encode/index.js';
import type { CompiledFilter } from '../filter/index.js';
import type { SampleBatch, Series } from '../sample.js';
import type { Control } from '../channel/control.js';
import { DropReason, type SharedCounters } from '../channel/counters.js';
import type { SinkHealth } from './sink-health.js';

/** A short, stable id of a target within a collector (base64url of a SHA-256 prefix). */
export function targetId(collector: string, targetKey: string): string {
  return createHash('sha256').update(collector).update('\u0000').update(targetKey).digest('base64url').slice(0, 16);
}

/** Counts what the outbox reports, and releases the samples it settles. */
export class SampleAccounting implements OutboxListener {
  readonly #counters: SharedCounters;
  readonly #held: Control;
  readonly #health: SinkHealth | null;
  readonly #encoder: Encoder | null;

  constructor(counters: SharedCounters, held: Control, health: SinkHealth | null = null, encoder: Encoder | null = null) {
    this.#counters = counters;
    this.#held = held;
    this.#health = health;
    this.#encoder = encoder;
  }

  sent(samples: number, messages: number, fromSpool: boolean): void {
    this.#counters.add('sent', samples);
    this.#counters.add('sentMessages', messages);
    this.#release(samples, fromSpool);
  }

  dropped(reason: BufferDropReason, samples: number, fromSpool: boolean): void {
    this.#counters.drop(reason, samples);
    this.#release(samples, fromSpool);
  }

  spooled(samples: number): void {
    this.#counters.add('spoolSamples', samples);
    this.#held.hold(0, -samples);
  }

  failed(outcome: FailedOutcome): void {
    this.#health?.fail(outcome);
  }

  succeeded(): void {
    this.#health?.ok();
  }

  released(messages: readonly Uint8Array[]): void {
    this.#encoder?.recycle?.(messages); // delivered, dropped or on disk: nothing reads them any more
  }

  #release(samples: number, fromSpool: boolean): void {
    if (fromSpool) this.#counters.add('spoolSamples', -samples);
    else this.#held.hold(0, -samples);
  }
}

export interface DeliveryOptions {
  readonly filter: CompiledFilter;
  readonly encoder: Encoder;
  readonly outbox: Outbox;
  readonly counters: SharedCounters;
  readonly held: Control;
}

/** The scrape a batch came from: its time (the default timestamp) and its message ids' prefix. */
export interface ScrapeRef {
  /** Milliseconds since the epoch. */
  readonly time: number;
  /** The target's id (`targetId`). */
  readonly target: string;
}

export class DeliveryStage {
  readonly #filter: CompiledFilter;
  readonly #encoder: Encoder;
  readonly #outbox: Outbox;
  readonly #counters: SharedCounters;
  readonly #held: Control;
  readonly #stats = { filtered: 0, clamped: 0 };

  constructor(options: DeliveryOptions) {
    this.#filter = options.filter;
    this.#encoder = options.encoder;
    this.#outbox = options.outbox;
    this.#counters = options.counters;
    this.#held = options.held;
  }

  /**
   * Filters, encodes and hands the batch's samples over (written now, or pushed to the outbox);
   * `batch.length` samples are held by the caller. Resolves with the encoder's error when it
   * threw (its samples are counted), else null, once every message is written or buffered.
   */
  async deliver(batch: SampleBatch, scrape: ScrapeRef): Promise<unknown> {
    const counters = this.#counters;
    const held = this.#held;
    const stats = this.#stats;
    stats.filtered = 0;
    stats.clamped = 0;
    this.#filter(batch, stats);
    counters.add('filtered', stats.filtered);
    held.hold(0, -stats.filtered);
    counters.add('clamped', stats.clamped);
    let open = batch.length; // samples not yet written, pushed or counted
    const prefix = `${scrape.target}.${scrape.time}.`;
    const entries: OutboxEntry[] = [];
    const createdAt = Date.now();
    let n = 0;
    const outbox = this.#outbox;
    const encoder = this.#encoder;
    try {
      if (encoder.encodeTo !== undefined) {
        // While the outbox is empty, each message is written as soon as it is made, from the
        // encoder's scratch memory while it is still in the CPU's cache (no copy, no message
        // kept). From the first one the sink cannot take now, the rest are copied and buffered.
        encoder.encodeTo(batch, scrape.time, (message, samples) => {
          const id = n++;
          if (entries.length === 0 && outbox.writeNow(message, samples)) {
            open -= samples;
            return;
          }
          // a copy (Buffer#slice would be a view of the scratch memory)
          entries.push({ message: encoder.keep !== undefined ? encoder.keep(message) : new Uint8Array(message), samples, id: `${prefix}${id}`, createdAt });
          open -= samples;
        });
      } else {
        const messages = encoder.encode(batch, scrape.time);
        const skipped = skippedNonFinite(encoder);
        const samples = open - skipped;
        const per = Math.ceil(samples / Math.max(1, messages.length));
        let left = samples;
        for (const message of messages) {
          const k = Math.min(per, left);
          left -= k;
          entries.push({ message, samples: k, id: `${prefix}${n++}`, createdAt });
        }
        open -= samples;
      }
    } catch (e) {
      // The messages made before the error are whole: they go out; the rest is dropped.
      counters.drop(DropReason.Encode, open);
      held.hold(0, -open);
      await outbox.push(entries);
      return e;
    }
    // What no message carries: skipped by the encoder (statsd cannot write NaN or ±Inf).
    if (open > 0) {
      counters.drop(DropReason.NonFinite, open);
      held.hold(0, -open);
    }
    await outbox.push(entries);
    return null;
  }

  /** Whether the encoder writes stale markers (remote write). */
  get writesStaleMarkers(): boolean {
    return this.#encoder.staleMarkers !== undefined;
  }

  /**
   * Hands over stale markers for `series` at `scrape.time`: `series.length` samples, held by the
   * caller, counted like any other (sent, or dropped by the outbox with its reason). Their
   * message ids are `<target id>.<time>.s<n>`, apart from the scrape's own.
   */
  async deliverStale(series: readonly Series[], scrape: ScrapeRef): Promise<void> {
    const encoder = this.#encoder;
    if (series.length === 0) return;
    if (encoder.staleMarkers === undefined) {
      // Not reached: callers ask `writesStaleMarkers` first. Released, never left held.
      this.#held.hold(0, -series.length);
      this.#counters.drop(DropReason.Encode, series.length);
      return;
    }
    const messages = encoder.staleMarkers(series, scrape.time);
    const per = Math.max(1, encoder.maxSamples ?? series.length);
    const createdAt = Date.now();
    const entries: OutboxEntry[] = [];
    let left = series.length;
    for (let i = 0; i < messages.length; i++) {
      const samples = i === messages.length - 1 ? left : Math.min(per, left);
      left -= samples;
      entries.push({ message: messages[i] as Uint8Array, samples, id: `${scrape.target}.${scrape.time}.s${i}`, createdAt });
    }
    await this.#outbox.push(entries);
  }
}

function skippedNonFinite(encoder: Encoder): number {
  const e = encoder as { lastSkippedNonFinite?: number };
  return e.lastSkippedNonFinite ?? 0;
}
