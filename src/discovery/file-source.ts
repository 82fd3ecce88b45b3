// SPDX-License-Identifier: Apache-2.0
/**
 * Target files: a JSON or YAML list of `{url, labels}` per file, re-read when it changes.
 *
 * Each run stats the file; only a changed size or modification time triggers a re-read. A file
 * that cannot be read or holds an invalid list keeps its last good targets (a half-written file
 * during an edit must not drop every target); the error is reported once per change through
 * `lastError`, naming the file, the entry and the reason (a URL quoted in it is redacted).
 */
import { readFile, stat } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { redactUrl } from '../net/redact.js';
import type { DiscoveredTarget, TargetSource } from './source.js';

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Validates a parsed target list; throws an Error naming the entry and the reason. */
export function validateTargetList(value: unknown, source: string): DiscoveredTarget[] {
  if (!Array.isArray(value)) throw new Error(`${source}: expected a list of {url, labels}, got ${typeof value}`);
  return value.map((entry: unknown, i) => {
    if (entry === null || typeof entry !== 'object') throw new Error(`${source}: [${i}]: expected {url, labels}`);
    const { url, labels, ...rest } = entry as { url?: unknown; labels?: unknown };
    const unknownKeys = Object.keys(rest);
    if (unknownKeys.length > 0) throw new Error(`${source}: [${i}].${unknownKeys[0]}: unknown field`);
    if (typeof url !== 'string') throw new Error(`${source}: [${i}].url: expected a string`);
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new Error(`${source}: [${i}].url: not an absolute URL: ${JSON.stringify(redactUrl(url))}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new Error(`${source}: [${i}].url: scheme must be http or https, got ${JSON.stringify(parsed.protocol)}`);
    }
    const out: Record<string, string> = {};
    if (labels !== undefined) {
      if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
        throw new Error(`${source}: [${i}].labels: expected a map of strings`);
      }
      for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
        if (!LABEL_NAME.test(k)) throw new Error(`${source}: [${i}].labels.${k}: invalid label name`);
        if (typeof v !== 'string') throw new Error(`${source}: [${i}].labels.${k}: expected a string, got ${typeof v}`);
        out[k] = v;
      }
    }
    return { url, labels: out };
  });
}

export class FileSource implements TargetSource {
  readonly name: string;
  readonly path: string;
  #targets: readonly DiscoveredTarget[] = [];
  #stamp = '';
  /** The last read or validation error, or null after a good read. */
  lastError: string | null = null;

  constructor(path: string) {
    this.path = path;
    this.name = `file:${path}`;
  }

  async discover(): Promise<readonly DiscoveredTarget[]> {
    let stamp: string;
    try {
      const st = await stat(this.path);
      stamp = `${st.size}:${st.mtimeMs}:${st.ino}`;
    } catch (e) {
      this.lastError = `${this.path}: ${(e as Error).message}`;
      throw new Error(this.lastError);
    }
    if (stamp === this.#stamp) return this.#targets;
    try {
      const text = await readFile(this.path, 'utf8');
      const targets = validateTargetList(text.trim() === '' ? [] : parseYaml(text), this.path);
      this.#targets = targets;
      this.#stamp = stamp;
      this.lastError = null;
    } catch (e) {
      this.lastError = (e as Error).message.startsWith(this.path) ? (e as Error).message : `${this.path}: ${(e as Error).message}`;
      this.#stamp = stamp; // report once per change; keep the last good targets
      throw new Error(this.lastError);
    }
    return this.#targets;
  }
}
