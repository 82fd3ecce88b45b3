// SPDX-License-Identifier: Apache-2.0
/**
 * Scrape credentials from files: `scrape.bearerTokenFile` (sent as `Authorization: Bearer
 * <token>`) or `scrape.basicAuth {username, passwordFile}` (sent as `Authorization: Basic
 * base64(username:password)`, RFC 7617), so that no secret has to be written in a target URL.
 *
 * Format: the file holds the token or the password; whitespace around it (a trailing newline,
 * as `echo` and Kubernetes secrets leave) is trimmed, as Prometheus trims it. A token must be
 * one header value (no control characters) and not empty; a file over 64 KiB is refused.
 *
 * Invariants:
 * - `open` reads the file before the first scrape, so a scrape never goes out without the
 *   credential; a missing, unreadable, oversized or empty file is a `ConfigError` naming the
 *   setting (`scrape.bearerTokenFile`, `scrape.basicAuth.passwordFile`).
 * - While open, the file is checked every `checkIntervalMs` (default `AUTH_CHECK_INTERVAL_MS`)
 *   with one `stat`; it is read again only when its size, modification time or inode changed
 *   (an edit in place, or a rename over it as Kubernetes swaps a mounted secret). A credential
 *   rotated in the file is sent by the scrapes that start after the next check.
 * - The secret never appears in an error message, only the path of its file.
 *
 * Recovery: a re-read that fails (the file briefly missing or empty during a rotation) keeps the
 * last good credential and says why in `lastError`; the file is tried again at the next check.
 */
import { readFile, stat } from 'node:fs/promises';
import { ConfigError } from '../errors.js';

/** Basic authentication as a Collector writes it: the password in a file. */
export interface BasicAuthFiles {
  readonly username: string;
  readonly passwordFile: string;
}

/** The credential settings of `scrape`; at most one of the two is set. */
export interface ScrapeAuthFiles {
  readonly basicAuth?: BasicAuthFiles | undefined;
  readonly bearerTokenFile?: string | undefined;
}

export interface ScrapeAuthOptions {
  /** How often the file is checked for a change, in milliseconds; 0 never checks. */
  readonly checkIntervalMs?: number;
}

/** Default period of the change check: a rotated secret is used within this long. */
export const AUTH_CHECK_INTERVAL_MS = 2_000;
/** The largest credential file read. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

/** Characters a header value may not hold (RFC 9110 field-value: no CTLs but tab). */
const NOT_HEADER_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;

interface Source {
  readonly field: string;
  readonly path: string;
  /** The Authorization header value for the file's contents; throws a ConfigError. */
  readonly header: (contents: string) => string;
}

function sourceOf(spec: ScrapeAuthFiles): Source | undefined {
  const { basicAuth, bearerTokenFile } = spec;
  if (basicAuth !== undefined && bearerTokenFile !== undefined) {
    throw new ConfigError('scrape.bearerTokenFile', 'must not be set together with scrape.basicAuth (one Authorization header)');
  }
  if (bearerTokenFile !== undefined) {
    const field = 'scrape.bearerTokenFile';
    return {
      field,
      path: bearerTokenFile,
      header: (contents) => {
        if (contents === '') throw new ConfigError(field, `${JSON.stringify(bearerTokenFile)} holds no token (it is empty)`);
        if (NOT_HEADER_VALUE.test(contents)) {
          throw new ConfigError(field, `the token in ${JSON.stringify(bearerTokenFile)} holds a control character, which a header cannot carry`);
        }
        return `Bearer ${contents}`;
      },
    };
  }
  if (basicAuth !== undefined) {
    const { username, passwordFile } = basicAuth;
    if (username.includes(':') || NOT_HEADER_VALUE.test(username)) {
      throw new ConfigError('scrape.basicAuth.username', 'must not contain ":" or a control character (RFC 7617)');
    }
    return {
      field: 'scrape.basicAuth.passwordFile',
      path: passwordFile,
      header: (contents) => `Basic ${Buffer.from(`${username}:${contents}`, 'utf8').toString('base64')}`,
    };
  }
  return undefined;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Reads and checks the file; returns its stamp and the header value. Throws a ConfigError. */
async function load(source: Source): Promise<{ stamp: string; header: string }> {
  const { field, path } = source;
  let stamp: string;
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_SECRET_FILE_BYTES) {
      throw new ConfigError(field, `${JSON.stringify(path)} is ${st.size} bytes, over the limit of ${MAX_SECRET_FILE_BYTES} bytes`);
    }
    stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(field, `cannot read ${JSON.stringify(path)}: ${errorText(err)}`, { cause: err });
  }
  let contents: string;
  try {
    contents = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(field, `cannot read ${JSON.stringify(path)}: ${errorText(err)}`, { cause: err });
  }
  return { stamp, header: source.header(contents.trim()) };
}

/** The `Authorization` header of a Scraper's requests, kept equal to its file. */
export class ScrapeAuth {
  readonly #source: Source;
  #stamp: string;
  #header: string;
  #timer: NodeJS.Timeout | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;
  /** Request headers with this credential, per base headers object (rebuilt on a change). */
  #merged: { base: Readonly<Record<string, string>>; headers: Readonly<Record<string, string>> } | undefined;
  /** Why the last re-read failed (the last good credential is still sent), or null. */
  lastError: string | null = null;
  /** Times the file was read again after a change, successfully. */
  reloads = 0;

  private constructor(source: Source, loaded: { stamp: string; header: string }, checkIntervalMs: number) {
    this.#source = source;
    this.#stamp = loaded.stamp;
    this.#header = loaded.header;
    if (checkIntervalMs > 0) {
      this.#timer = setInterval(() => void this.check(), checkIntervalMs);
      this.#timer.unref();
    }
  }

  /**
   * Reads the credential file `spec` names, or resolves undefined when it names none. Throws a
   * ConfigError naming the setting when both are set or the file cannot be used.
   */
  static async open(spec: ScrapeAuthFiles, options: ScrapeAuthOptions = {}): Promise<ScrapeAuth | undefined> {
    const source = sourceOf(spec);
    if (source === undefined) return undefined;
    const checkIntervalMs = options.checkIntervalMs ?? AUTH_CHECK_INTERVAL_MS;
    if (!Number.isFinite(checkIntervalMs) || checkIntervalMs < 0) {
      throw new ConfigError('scrape.auth.checkIntervalMs', `must be a number of milliseconds ≥ 0, got ${checkIntervalMs}`);
    }
    return new ScrapeAuth(source, await load(source), checkIntervalMs);
  }

  /** The current `Authorization` header value. */
  get header(): string {
    return this.#header;
  }

  /** `base` with the current `Authorization` header; the same object until the credential changes. */
  headers(base: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
    const merged = this.#merged;
    if (merged !== undefined && merged.base === base) return merged.headers;
    const headers = { ...base, Authorization: this.#header };
    this.#merged = { base, headers };
    return headers;
  }

  /** Checks the file once and reads it again if it changed. Concurrent calls share one check. */
  check(): Promise<void> {
    this.#checking ??= this.#check().finally(() => {
      this.#checking = undefined;
    });
    return this.#checking;
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    const { path } = this.#source;
    let stamp: string;
    try {
      const st = await stat(path);
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch (err) {
      this.lastError = `${this.#source.field}: cannot read ${JSON.stringify(path)}: ${errorText(err)}; the last credential read is still sent`;
      return;
    }
    if (stamp === this.#stamp) return;
    try {
      const loaded = await load(this.#source);
      if (this.#closed) return;
      this.#stamp = loaded.stamp;
      if (loaded.header !== this.#header) {
        this.#header = loaded.header;
        this.#merged = undefined;
      }
      this.reloads++;
      this.lastError = null;
    } catch (err) {
      // Keep the last good credential; a file half-written during a rotation changes again.
      this.lastError = `${errorText(err)}; the last credential read is still sent`;
    }
  }

  /** Stops checking the file. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Checks, before anything starts, that the credential file a Collector's `scrape` names can be
 * read and holds a usable credential; throws a ConfigError naming the setting. For `run`.
 */
export async function checkScrapeAuthFiles(spec: ScrapeAuthFiles): Promise<void> {
  (await ScrapeAuth.open(spec, { checkIntervalMs: 0 }))?.close();
}
