// SPDX-License-Identifier: Apache-2.0
/**
 * The exposition parser: Prometheus text format 0.0.4 and OpenMetrics 1.0 text, bytes in,
 * flattened samples (a `SampleBatch`) out.
 *
 * Streaming: `push()` chunks as they arrive, then `end()`. Complete lines are parsed straight
 * from the chunk; only a line split across chunks is copied, into a carry buffer that grows by
 * doubling, so the work is linear in the input however it is split, and a line longer than
 * `maxLineBytes` is rejected as soon as the carry passes the limit (memory stays bounded by the
 * limit, not by the line). `parseExposition()` is the one-shot form.
 *
 * All or nothing: the first error throws a `ParseError` naming the line and the reason, and the
 * parser keeps nothing of that body (a scrape fails whole, as in Prometheus).
 *
 * Per line (warm path): find the newline (memchr), propose the series/value/timestamp split from
 * the line end, look the series bytes up in the `SeriesCache`, and on a hit only parse the value
 * and the timestamp. A miss runs the full forward parse and flattening, then caches the result.
 *
 * Accepted where Prometheus accepts it: a last line without a newline, blanks after the value,
 * repeated HELP/TYPE (the first wins), a TYPE after its samples (the earlier samples stay
 * untyped), a `_bucket` sample without `le` (an ordinary series of its histogram), and a bare
 * `# HELP` or `# TYPE` (nothing after the keyword: a comment, as Prometheus' lexer reads it).
 * Rejected as Prometheus' scrape loop would: CRLF, negative timestamps, duplicate label names,
 * `__name__` as a label, invalid UTF-8 in label values and HELP text, and `# HELP ` or `# TYPE `
 * followed by blanks and no name (Prometheus: "expected metric name after HELP").
 *
 * Series filters and label limits (options `seriesFilter`, `labelLimits`) act when the series
 * cache first sees a series (flatten.ts): a dropped series' samples are counted in
 * `stats.filtered` and per filter counter (added to the filter when the scrape succeeds), and a
 * series over a label limit fails the scrape with a `LabelLimitError`.
 */
import { isUtf8 } from 'node:buffer';
import { ErrorCode, ParseError, quote } from '../errors.js';
import type { SeriesFilter } from '../filter/series.js';
import { SampleBatch } from '../sample.js';
import { C_BLANK, C_NAME, C_NAME_START, CHAR, latin1 } from './chars.js';
import { Entry, LineCursor } from './cursor.js';
import { OPENMETRICS_TYPES, PROMETHEUS_TYPES } from './family-typing.js';
import { Flattener } from './flatten.js';
import { parseFloatBytes, parseTimestampBytes } from './float.js';
import { ExpositionFormat, formatFromContentType } from './format.js';
import { activeLabelLimits, type LabelLimits, labelLimitsKey } from './label-limits.js';
import { CacheEntry, SampleRole, SeriesCache } from './series-cache.js';
import { SeriesSyntax, parseSeriesSyntax } from './series-syntax.js';
import { sortedTagPairs } from './tag-shape.js';

export interface ParseOptions {
  /** Which text format; default from `contentType`, else Prometheus 0.0.4. */
  readonly format?: ExpositionFormat;
  /** The scrape's Content-Type header; chooses the format when `format` is not given. */
  readonly contentType?: string;
  /** Per-target series cache; pass the same one on every scrape of a target. */
  readonly cache?: SeriesCache;
  /** Tags added to every sample (a sample's own label of the same name wins, unless `honorLabels` is false). */
  readonly targetTags?: Readonly<Record<string, string>>;
  /** False: a target tag wins over the sample's label of the same name, kept as `exported_<name>`. Default true. */
  readonly honorLabels?: boolean;
  /** Longest line accepted, in bytes. Default 1 MiB. */
  readonly maxLineBytes?: number;
  /** Largest body accepted, in bytes. Default unlimited (the scraper enforces its own limit). */
  readonly maxBodyBytes?: number;
  /** Batch to fill (cleared first); a new one when absent. */
  readonly batch?: SampleBatch;
  /**
   * The Collector's series filter (`compileSeriesFilter`), one object for every scrape that
   * shares the cache: a different one (or none) empties the cache.
   */
  readonly seriesFilter?: SeriesFilter | null;
  /** The target's label limits (label-limits.ts); a change empties the cache. */
  readonly labelLimits?: LabelLimits;
  /**
   * Asked once per new series (a cache miss that is neither filtered nor skipped), before it is
   * recorded: false refuses it, so its sample is not emitted (counted in `seriesRefused`) and it
   * is not recorded in the cache (it is asked again on the next scrape). The Collector's
   * seriesBudget (src/collector/series-budget.ts). Default: every series is admitted.
   */
  readonly admitNewSeries?: () => boolean;
}

export interface ParseStats {
  /** Bytes parsed. */
  bytes: number;
  /** Lines read. */
  lines: number;
  /** Samples emitted into the batch. */
  samples: number;
  /** NaN-valued counter, gauge, untyped and quantile samples dropped. */
  nanDropped: number;
  /** OpenMetrics `_created` samples skipped. */
  createdSkipped: number;
  /** Samples of series the series filter dropped (to be counted as `filtered`). */
  filtered: number;
  /** Series lines answered by the series cache, and those parsed in full. */
  cacheHits: number;
  cacheMisses: number;
  /** Samples of new series `admitNewSeries` refused (not emitted, not cached). */
  seriesRefused: number;
}

export interface ParseResult {
  readonly batch: SampleBatch;
  readonly stats: ParseStats;
  readonly format: ExpositionFormat;
}

export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

const EOF_MARK = '# EOF';

/**
 * What `#resolve` answers for a new series `admitNewSeries` refused: never recorded; `#emit`
 * counts its sample in `seriesRefused` (the only Filtered entry without a filter slot).
 */
const REFUSED = new CacheEntry('', 'untyped', {}, SampleRole.Filtered, { validIn: () => false }, -1);

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export class ExpositionParser {
  readonly format: ExpositionFormat;
  readonly #om: boolean;
  readonly #cache: SeriesCache;
  readonly #flattener: Flattener;
  readonly #cursor: LineCursor;
  readonly #syntax = new SeriesSyntax();
  readonly #maxBody: number;
  readonly #batch: SampleBatch;
  readonly #stats: ParseStats = {
    bytes: 0,
    lines: 0,
    samples: 0,
    nanDropped: 0,
    createdSkipped: 0,
    filtered: 0,
    cacheHits: 0,
    cacheMisses: 0,
    seriesRefused: 0,
  };
  #epoch: number;
  #carry: Buffer = Buffer.allocUnsafe(0);
  #carryLen = 0;
  #sawEof = false;
  #failed: ParseError | null = null;
  #done = false;
  /** Samples handed out by takeSamples. */
  #taken = 0;
  readonly #filter: SeriesFilter | null;
  readonly #admit: (() => boolean) | null;
  /** This scrape's dropped samples per filter counter slot. */
  readonly #dropCounts: Float64Array;

  constructor(options: ParseOptions = {}) {
    this.format = options.format ?? formatFromContentType(options.contentType);
    this.#om = this.format === ExpositionFormat.OpenMetrics;
    // Without a cache of the caller's, nothing is worth recording for a next scrape.
    this.#cache = options.cache ?? new SeriesCache({ maxSeries: 0 });
    const targetTags = sortedTagPairs(options.targetTags);
    const filter = options.seriesFilter ?? null;
    const limits = activeLabelLimits(options.labelLimits);
    this.#filter = filter;
    this.#admit = options.admitNewSeries ?? null;
    this.#dropCounts = new Float64Array(filter === null ? 0 : filter.counterCount);
    // What the cached entries were built under: target tags, filter and limits.
    const honor = options.honorLabels ?? true;
    this.#epoch = this.#cache.begin(`${targetTags.join('\u0000')}\u0001${filter === null ? 0 : filter.id}\u0001${labelLimitsKey(limits)}\u0001${honor ? 1 : 0}`);
    this.#flattener = new Flattener(this.#cache, this.#om, targetTags, filter, limits, undefined, honor);
    this.#flattener.begin(this.#epoch);
    this.#cursor = new LineCursor(options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES);
    this.#maxBody = options.maxBodyBytes ?? Number.POSITIVE_INFINITY;
    // A repeated scrape has about as many samples as the last one: size for that.
    this.#batch = options.batch ?? new SampleBatch(Math.max(1024, this.#cache.size));
    this.#batch.clear();
  }

  /** Parses the complete lines of `chunk`, keeping a partial last line for the next call. */
  push(chunk: Uint8Array): void {
    this.#check();
    try {
      this.#push(asBuffer(chunk));
    } catch (e) {
      throw this.#fail(e);
    }
  }

  /**
   * Hands the samples parsed so far to `consume` and empties the batch, so a long body can be
   * encoded as it is parsed and its samples die young. The batch is valid only during the call.
   * The body is still all or nothing: the caller must hold what it made of these samples until
   * `end()` succeeds.
   */
  takeSamples(consume: (batch: SampleBatch) => void): void {
    this.#check();
    consume(this.#batch);
    this.#taken += this.#batch.length;
    this.#batch.clear();
  }

  /** Parses what is left and returns the samples. Throws the first error of the body. */
  end(): ParseResult {
    this.#check();
    try {
      if (this.#carryLen > 0) {
        this.#region(this.#carry, 0, this.#carryLen, true);
        this.#carryLen = 0;
      }
      if (this.#om && !this.#sawEof) {
        throw new ParseError(this.#cursor.lineNo + 1, 'missing "# EOF" at the end of an OpenMetrics exposition');
      }
    } catch (e) {
      throw this.#fail(e);
    }
    this.#done = true;
    this.#stats.lines = this.#cursor.lineNo;
    this.#stats.samples = this.#taken + this.#batch.length;
    this.#cache.commit();
    if (this.#filter !== null && this.#stats.filtered > 0) this.#filter.addCounts(this.#dropCounts);
    return { batch: this.#batch, stats: this.#stats, format: this.format };
  }

  /**
   * Gives up on this body (its scrape failed): the cache keeps the previous scrape's series and
   * the batch is cleared. Idempotent; the parser takes nothing after it.
   */
  abort(): void {
    if (this.#done || this.#failed !== null) return;
    this.#fail(new ParseError(this.#cursor.lineNo + 1, 'the body was abandoned'));
  }

  #check(): void {
    if (this.#failed !== null) throw this.#failed;
    if (this.#done) throw new Error('ExpositionParser: end() was already called');
  }

  #fail(e: unknown): unknown {
    if (e instanceof ParseError) {
      this.#failed = e;
      this.#batch.clear();
      this.#cache.abort();
    }
    return e;
  }

  #push(chunk: Buffer): void {
    const len = chunk.length;
    this.#stats.bytes += len;
    if (this.#stats.bytes > this.#maxBody) {
      throw new ParseError(
        this.#cursor.lineNo + 1,
        `body is over the limit of ${this.#maxBody} bytes (maxBodyBytes)`,
        ErrorCode.ParseLimit,
      );
    }
    let start = 0;
    if (this.#carryLen > 0) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        this.#append(chunk, 0, len);
        return;
      }
      this.#append(chunk, 0, nl + 1);
      this.#region(this.#carry, 0, this.#carryLen, false);
      this.#carryLen = 0;
      start = nl + 1;
    }
    const last = chunk.lastIndexOf(0x0a);
    if (last >= start) {
      this.#region(chunk, start, last + 1, false);
      start = last + 1;
    }
    if (start < len) this.#append(chunk, start, len);
  }

  #append(src: Buffer, start: number, end: number): void {
    const n = end - start;
    const need = this.#carryLen + n;
    // The carry only ever holds one unfinished line (plus, at most, its newline).
    const pending = need - (end > start && src[end - 1] === 0x0a ? 1 : 0);
    if (pending > this.#cursor.maxLineBytes) {
      throw new ParseError(
        this.#cursor.lineNo + 1,
        `line is over the limit of ${this.#cursor.maxLineBytes} bytes (maxLineBytes)`,
        ErrorCode.ParseLimit,
      );
    }
    if (need > this.#carry.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.#carry.length * 2, 256));
      this.#carry.copy(grown, 0, 0, this.#carryLen);
      this.#carry = grown;
    }
    src.copy(this.#carry, this.#carryLen, start, end);
    this.#carryLen = need;
  }

  /** Parses the lines of `buf[start, end)`. */
  #region(buf: Buffer, start: number, end: number, lastUnterminated: boolean): void {
    const cur = this.#cursor;
    cur.reset(buf, start, end, lastUnterminated);
    this.#cache.region(buf);
    this.#flattener.forgetPrevious();
    const om = this.#om;
    for (;;) {
      const kind = cur.next();
      if (kind === Entry.End) return;
      if (this.#sawEof) {
        throw new ParseError(cur.lineNo, `unexpected content after "# EOF": ${quote(buf, cur.lineStart, cur.lineEnd)}`);
      }
      if (kind === Entry.Series) {
        if (om) this.#seriesOpenMetrics(buf);
        else this.#series(buf);
      } else if (kind === Entry.Comment) {
        this.#comment(buf);
      } else if (om) {
        throw new ParseError(cur.lineNo, 'blank lines are not allowed in OpenMetrics');
      }
    }
  }

  /** A sample line of the Prometheus text format: the warm path. */
  #series(buf: Buffer): void {
    const cur = this.#cursor;
    const cache = this.#cache;
    let entry = cache.lookup(buf, cur.lineStart, cur.seriesEnd);
    if (entry !== undefined && entry.validIn(this.#epoch)) {
      this.#stats.cacheHits++;
      cache.record(cur.lineStart, cur.seriesEnd, entry);
      this.#emit(buf, entry, cur.valueStart, cur.valueEnd, cur.tsStart, cur.tsEnd, false);
      return;
    }
    const syn = this.#syntax;
    parseSeriesSyntax(buf, cur.lineStart, cur.lineEnd, cur.lineNo, false, syn);
    entry = this.#resolve(buf, syn);
    this.#emit(buf, entry, syn.valueStart, syn.valueEnd, syn.tsStart, syn.tsEnd, false);
  }

  /** A sample line of OpenMetrics: always the forward parse (exemplars may follow). */
  #seriesOpenMetrics(buf: Buffer): void {
    const syn = this.#syntax;
    parseSeriesSyntax(buf, this.#cursor.lineStart, this.#cursor.lineEnd, this.#cursor.lineNo, true, syn);
    let entry = this.#cache.lookup(buf, syn.nameStart, syn.seriesEnd);
    if (entry !== undefined && entry.validIn(this.#epoch)) {
      this.#stats.cacheHits++;
      this.#cache.record(syn.nameStart, syn.seriesEnd, entry);
    } else entry = this.#resolve(buf, syn);
    this.#emit(buf, entry, syn.valueStart, syn.valueEnd, syn.tsStart, syn.tsEnd, true);
  }

  #resolve(buf: Buffer, syn: SeriesSyntax): CacheEntry {
    this.#stats.cacheMisses++;
    const entry = this.#flattener.resolve(buf, syn, this.#cursor.lineNo);
    if (this.#admit !== null && entry.role < SampleRole.Skip && !this.#admit()) return REFUSED;
    this.#cache.record(syn.nameStart, syn.seriesEnd, entry);
    return entry;
  }

  #emit(buf: Buffer, entry: CacheEntry, vs: number, ve: number, ts: number, te: number, om: boolean): void {
    const value = parseFloatBytes(buf, vs, ve);
    if (value === undefined) {
      throw new ParseError(this.#cursor.lineNo, `invalid value ${quote(buf, vs, ve)}: expected a float, "NaN", "+Inf" or "-Inf"`);
    }
    let timestamp = Number.NaN;
    if (ts >= 0) timestamp = om ? this.#omTimestamp(buf, ts, te) : this.#timestamp(buf, ts, te);
    const role = entry.role;
    if (role >= SampleRole.Skip) {
      if (role === SampleRole.Skip) this.#stats.createdSkipped++;
      else if (entry.filteredBy < 0) this.#stats.seriesRefused++; // REFUSED
      else {
        this.#stats.filtered++;
        const counts = this.#dropCounts;
        counts[entry.filteredBy] = (counts[entry.filteredBy] as number) + 1;
      }
      return;
    }
    if (value !== value && role === SampleRole.DropNaN) {
      this.#stats.nanDropped++;
      return;
    }
    this.#batch.push(entry, value, timestamp);
  }

  #timestamp(buf: Buffer, ts: number, te: number): number {
    const t = parseTimestampBytes(buf, ts, te);
    if (t !== undefined) return t;
    if (buf[ts] === 0x2d) {
      throw new ParseError(this.#cursor.lineNo, `negative timestamp ${quote(buf, ts, te)}: Prometheus refuses samples before 1970`);
    }
    throw new ParseError(this.#cursor.lineNo, `invalid timestamp ${quote(buf, ts, te)}: expected integer milliseconds since the epoch`);
  }

  #omTimestamp(buf: Buffer, ts: number, te: number): number {
    const seconds = parseFloatBytes(buf, ts, te);
    if (seconds === undefined || !Number.isFinite(seconds)) {
      throw new ParseError(this.#cursor.lineNo, `invalid timestamp ${quote(buf, ts, te)}: expected seconds since the epoch`);
    }
    if (seconds < 0) throw new ParseError(this.#cursor.lineNo, `negative timestamp ${quote(buf, ts, te)}`);
    return Math.trunc(seconds * 1000);
  }

  /** `# HELP`, `# TYPE`, `# UNIT`, `# EOF` and other comments. */
  #comment(buf: Buffer): void {
    const cur = this.#cursor;
    const le = cur.lineEnd;
    let i = cur.lineStart + 1;
    const om = this.#om;
    if (om) {
      if (le - cur.lineStart === EOF_MARK.length && latin1(buf, cur.lineStart, le) === EOF_MARK) {
        this.#sawEof = true;
        return;
      }
      if (buf[i] !== 0x20) throw new ParseError(cur.lineNo, `invalid comment ${quote(buf, cur.lineStart, le)}: OpenMetrics allows only HELP, TYPE, UNIT and EOF`);
    }
    // Prometheus: '#' blanks keyword blanks name ...
    const kwStart = skipBlanks(buf, i, le);
    if (kwStart === i && !om) return; // '#HELP' is a plain comment
    i = kwStart;
    let kwEnd = i;
    while (kwEnd < le && !((CHAR[buf[kwEnd] as number] as number) & C_BLANK)) kwEnd++;
    const kw = latin1(buf, i, kwEnd);
    if (kw !== 'HELP' && kw !== 'TYPE' && kw !== 'UNIT') {
      if (om) throw new ParseError(cur.lineNo, `invalid comment ${quote(buf, cur.lineStart, le)}: OpenMetrics allows only HELP, TYPE, UNIT and EOF`);
      return;
    }
    if (kw === 'UNIT' && !om) return; // not a keyword in 0.0.4
    // A bare `# HELP` (nothing after the keyword, not even a blank) is a comment to Prometheus'
    // lexer, which wants blanks after the keyword; with blanks, a name must follow.
    if (kwEnd === le && !om && cur.rawEnd === le) return;
    const ns = skipBlanks(buf, kwEnd, le);
    if (ns === kwEnd || ns >= le) {
      throw new ParseError(cur.lineNo, `${kw} line without a metric name: ${quote(buf, cur.lineStart, le)}`);
    }
    if (!((CHAR[buf[ns] as number] as number) & C_NAME_START)) {
      throw new ParseError(cur.lineNo, `invalid metric name in ${kw} line at ${quote(buf, ns, le, 32)}`);
    }
    let ne = ns + 1;
    while (ne < le && (CHAR[buf[ne] as number] as number) & C_NAME) ne++;
    if (ne < le && !((CHAR[buf[ne] as number] as number) & C_BLANK)) {
      throw new ParseError(cur.lineNo, `invalid metric name in ${kw} line at ${quote(buf, ns, le, 32)}`);
    }
    const ts = skipBlanks(buf, ne, le);
    if (kw === 'HELP') {
      for (let k = ts; k < le; k++) {
        if ((buf[k] as number) >= 0x80) {
          if (!isUtf8(buf.subarray(ts, le))) {
            throw new ParseError(cur.lineNo, `HELP text is not valid UTF-8: ${quote(buf, ts, le)}`);
          }
          break;
        }
      }
      return;
    }
    if (kw === 'UNIT') return;
    // TYPE
    if (ts >= le) throw new ParseError(cur.lineNo, `TYPE line without a type: ${quote(buf, cur.lineStart, le)}`);
    let te = ts;
    while (te < le && !((CHAR[buf[te] as number] as number) & C_BLANK)) te++;
    if (skipBlanks(buf, te, le) < le) {
      throw new ParseError(cur.lineNo, `unexpected text after the type in ${quote(buf, cur.lineStart, le)}`);
    }
    const type = latin1(buf, ts, te);
    const known = om ? OPENMETRICS_TYPES : PROMETHEUS_TYPES;
    if (!known.has(type)) {
      throw new ParseError(cur.lineNo, `invalid metric type ${JSON.stringify(type)}: expected one of ${[...known].join(', ')}`);
    }
    const rec = this.#cache.family(latin1(buf, ns, ne));
    if (rec.epoch !== this.#epoch) {
      // the first TYPE line of a family wins
      rec.epoch = this.#epoch;
      rec.type = type;
      this.#flattener.typesChanged();
    }
  }
}

function skipBlanks(buf: Uint8Array, i: number, end: number): number {
  while (i < end && (CHAR[buf[i] as number] as number) & C_BLANK) i++;
  return i;
}

/** Parses a whole exposition. Throws `ParseError` on invalid input; nothing is kept then. */
export function parseExposition(body: Uint8Array, options: ParseOptions = {}): ParseResult {
  // Size the batch once: about one sample per 128 bytes of a first scrape, or the last count.
  const sized =
    options.batch !== undefined ? options : { ...options, batch: new SampleBatch(Math.min(1 << 20, Math.max(1024, options.cache?.size ?? 0, body.length >> 7))) };
  const parser = new ExpositionParser(sized);
  parser.push(body);
  return parser.end();
}
