// SPDX-License-Identifier: Apache-2.0
/**
 * Scrape TLS settings: reading the PEM files a Collector's `tls` names, and turning PEM
 * contents into one secure context that every connection of a Scraper shares.
 *
 * Format: `ca`, `cert` and `key` are PEM (a `ca` may hold several certificates). A `ca`
 * replaces the system roots, as Node's `ca` option does. `cert` and `key` come together
 * (mutual TLS) or not at all.
 *
 * Limits: a PEM file over 1 MiB is refused (`tls.ca`, `tls.cert` or `tls.key`).
 *
 * Recovery: none here. Files are read once, when a worker starts, with the non-blocking
 * `fs/promises`; a missing, unreadable, oversized or malformed file is a `ConfigError` naming
 * the setting, and the Collector must be fixed. The secure context is built once per Scraper
 * so the PEM is not parsed again for every connection.
 */
import { X509Certificate } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { type SecureContext, createSecureContext } from 'node:tls';
import { ConfigError } from '../errors.js';

/** TLS settings of a scrape, with PEM contents (not paths). */
export interface ScrapeTlsOptions {
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipVerify?: boolean;
}

/** TLS settings of a scrape as a Collector writes them: paths of PEM files. */
export interface ScrapeTlsFiles {
  ca?: string;
  cert?: string;
  key?: string;
  insecureSkipVerify?: boolean;
}

/** The largest PEM file `readFileTls` reads. */
export const MAX_PEM_FILE_BYTES = 1 << 20;

async function readPem(field: string, path: string): Promise<string> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (err) {
    throw new ConfigError(field, `cannot read ${JSON.stringify(path)}: ${errorText(err)}`, { cause: err });
  }
  if (size > MAX_PEM_FILE_BYTES) {
    throw new ConfigError(
      field,
      `${JSON.stringify(path)} is ${size} bytes, over the limit of ${MAX_PEM_FILE_BYTES} bytes for a PEM file`,
    );
  }
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(field, `cannot read ${JSON.stringify(path)}: ${errorText(err)}`, { cause: err });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function checkPair(cert: string | undefined, key: string | undefined): void {
  if (cert !== undefined && key === undefined) {
    throw new ConfigError('tls.key', 'a client certificate (tls.cert) needs its key (tls.key)');
  }
  if (key !== undefined && cert === undefined) {
    throw new ConfigError('tls.cert', 'a client key (tls.key) needs its certificate (tls.cert)');
  }
}

/**
 * Reads the PEM files named by a Collector's `tls` (paths) into contents for `ScrapeOptions.tls`.
 * Call it once per worker, not per scrape.
 */
export async function readFileTls(spec: ScrapeTlsFiles): Promise<ScrapeTlsOptions> {
  checkPair(spec.cert, spec.key);
  const [ca, cert, key] = await Promise.all([
    spec.ca === undefined ? undefined : readPem('tls.ca', spec.ca),
    spec.cert === undefined ? undefined : readPem('tls.cert', spec.cert),
    spec.key === undefined ? undefined : readPem('tls.key', spec.key),
  ]);
  const out: ScrapeTlsOptions = {};
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  if (spec.insecureSkipVerify !== undefined) out.insecureSkipVerify = spec.insecureSkipVerify;
  return out;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/**
 * OpenSSL skips what is not PEM and loads a malformed certificate as nothing, so a broken
 * bundle would pass silently and fail every handshake later: check each certificate here.
 */
function checkCaBundle(ca: string): void {
  const blocks = ca.match(PEM_CERTIFICATE);
  if (blocks === null) {
    throw new ConfigError('tls.ca', 'holds no PEM certificate ("-----BEGIN CERTIFICATE-----")');
  }
  blocks.forEach((block, i) => {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw new ConfigError('tls.ca', `certificate ${i + 1} of ${blocks.length} is not valid: ${errorText(err)}`, {
        cause: err,
      });
    }
  });
}

/**
 * Builds the secure context shared by a Scraper's connections, or undefined when no PEM is
 * given (Node's default context with the system roots). Malformed PEM is a `ConfigError`.
 */
export function buildSecureContext(options: ScrapeTlsOptions | undefined): SecureContext | undefined {
  if (options === undefined) return undefined;
  const { ca, cert, key } = options;
  checkPair(cert, key);
  if (ca === undefined && cert === undefined) return undefined;
  if (ca !== undefined) checkCaBundle(ca);
  try {
    return createSecureContext({
      ...(ca === undefined ? {} : { ca }),
      ...(cert === undefined ? {} : { cert }),
      ...(key === undefined ? {} : { key }),
    });
  } catch (err) {
    throw new ConfigError('tls.cert', `the client certificate and key are not a valid PEM pair: ${errorText(err)}`, {
      cause: err,
    });
  }
}
