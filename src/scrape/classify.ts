// SPDX-License-Identifier: Apache-2.0
/**
 * Failure classification: turns what Node reports when a scrape's connection fails (a system
 * error code, an OpenSSL error, an HTTP parser error) into a `ScrapeError` with one of the
 * bounded `ScrapeFailure` reasons and a message an operator can act on.
 *
 * Rules, in order:
 * - `tls`: a certificate verification code, an `ERR_SSL_*`/`ERR_TLS_*`/`EPROTO` code or an
 *   error from the OpenSSL library; or, on https, a connection closed after TCP connected and
 *   before the handshake completed. The message names the OpenSSL reason in one line and the
 *   setting that would help (`tls.ca`, `tls.insecureSkipVerify`, `tls.cert` and `tls.key`).
 * - `dns`: the host name did not resolve (NXDOMAIN, no address, or the resolver failed). The
 *   message names the host, so a typo reads apart from a target that is down.
 * - `connect`: the target could not be reached (refused, unreachable, connect timeout), or any
 *   other failure before the connection was up.
 * - `reset`: after the connection was up, an invalid HTTP response (`HPE_*`) or a connection
 *   closed under the request or the response.
 *
 * Invariants: the URL passed in is already redacted (`src/net/redact.ts`), and every message
 * starts with `scrape of <url>`. Classification reads the error only; it holds no state.
 */
import { ScrapeError, ScrapeFailure } from './errors.js';

/** Codes of a failure to reach a resolved target. */
const CONNECT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
]);

/**
 * Codes of a failed name resolution, as the system resolver (`getaddrinfo`, through
 * `dns.lookup`) and c-ares (`dns.Resolver`, for an injected lookup) report them, with what each
 * means and whether it may pass by itself.
 */
const DNS_CODES: ReadonlyMap<string, { readonly why: string; readonly transient: boolean }> = new Map([
  ['ENOTFOUND', { why: 'no such host', transient: false }],
  ['EAI_NONAME', { why: 'no such host', transient: false }],
  ['EAI_NODATA', { why: 'the host has no address', transient: false }],
  ['ENODATA', { why: 'the host has no address', transient: false }],
  ['EAI_AGAIN', { why: 'the name server failed temporarily', transient: true }],
  ['EAI_FAIL', { why: 'the name server failed', transient: true }],
  ['ESERVFAIL', { why: 'the name server failed', transient: true }],
  ['ETIMEOUT', { why: 'the name server did not answer in time', transient: true }],
  ['EREFUSED', { why: 'the name server refused the query', transient: true }],
]);

const LOOKUP_FAILED = { why: 'the lookup failed', transient: true } as const;

/** Codes of a connection closed under a request or response. */
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED']);

/** OpenSSL certificate verification codes, as Node reports them. */
const CERT_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_CRL',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'PATH_LENGTH_EXCEEDED',
  'INVALID_PURPOSE',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Where a request stood when its connection failed. */
export interface RequestState {
  /** The URL as shown (redacted). */
  readonly url: string;
  /** The host name of the URL, for a resolution failure. */
  readonly host: string;
  readonly https: boolean;
  /** No response headers yet and the connection (TCP, and for https TLS) not yet up. */
  readonly connecting: boolean;
  /** TCP connected (for https, the handshake may still be running). */
  readonly connected: boolean;
}

export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** A connection closed under a request: on a reused keep-alive socket, safe to send again. */
export function isReset(err: unknown): boolean {
  return RESET_CODES.has(errorCode(err) ?? '');
}

/** The failure of a request before its response headers (`'error'` on the request). */
export function classifyRequestError(err: unknown, state: RequestState): ScrapeError {
  const code = errorCode(err);
  const message = err instanceof Error ? err.message : String(err);
  const cause = { cause: err };
  const { url } = state;
  if (isTlsError(err, code)) {
    const text = tlsText(err, code, message);
    const what = `scrape of ${url} failed the TLS handshake: ${text}${tlsHint(code, text)}`;
    return new ScrapeError(ScrapeFailure.Tls, url, what, cause);
  }
  const dns = dnsFailure(err, code);
  if (dns !== undefined) {
    const host = hostOf(err) ?? state.host;
    return new ScrapeError(
      ScrapeFailure.Dns,
      url,
      `scrape of ${url} could not resolve the host ${JSON.stringify(host)}: ${dns.why} (${code ?? 'DNS'})`,
      { ...cause, retryable: dns.transient },
    );
  }
  if (code !== undefined && CONNECT_CODES.has(code)) {
    return new ScrapeError(ScrapeFailure.Connect, url, `scrape of ${url} could not connect: ${message}`, cause);
  }
  if (state.connecting) {
    if (state.https && state.connected && code !== undefined && RESET_CODES.has(code)) {
      return new ScrapeError(
        ScrapeFailure.Tls,
        url,
        `scrape of ${url} failed the TLS handshake: the connection was closed (${code}) before it completed`,
        cause,
      );
    }
    return new ScrapeError(ScrapeFailure.Connect, url, `scrape of ${url} could not connect: ${message}`, cause);
  }
  if (code !== undefined && code.startsWith('HPE_')) {
    return new ScrapeError(
      ScrapeFailure.Reset,
      url,
      `scrape of ${url} failed: the target sent an invalid HTTP response (${code}: ${message})`,
      cause,
    );
  }
  return new ScrapeError(
    ScrapeFailure.Reset,
    url,
    `scrape of ${url} failed: the connection was closed (${code ?? message}) before the response headers`,
    cause,
  );
}

/**
 * The failure of a response after its headers: an error on it, or (`err` undefined) its close
 * before the body was complete. `wireBytes`: body bytes received until then.
 */
export function classifyResponseError(err: Error | undefined, url: string, wireBytes: number): ScrapeError {
  const code = err === undefined ? undefined : errorCode(err);
  const cause = err === undefined ? {} : { cause: err };
  if (code !== undefined && code.startsWith('HPE_')) {
    return new ScrapeError(
      ScrapeFailure.Reset,
      url,
      `scrape of ${url} failed: the target sent an invalid HTTP response after ${wireBytes} bytes ` +
        `of the body (${code}: ${err?.message ?? ''})`,
      cause,
    );
  }
  return new ScrapeError(
    ScrapeFailure.Reset,
    url,
    `scrape of ${url} failed: the connection was closed (${code ?? 'closed'}) after ` +
      `${wireBytes} bytes of the body were received, before the body was complete`,
    cause,
  );
}

/** A name resolution failure: by its code, or by the resolver call that failed. */
function dnsFailure(err: unknown, code: string | undefined): { why: string; transient: boolean } | undefined {
  if (code === undefined) return undefined;
  const syscall = typeof err === 'object' && err !== null ? (err as { syscall?: unknown }).syscall : undefined;
  const fromResolver = syscall === 'getaddrinfo' || (typeof syscall === 'string' && syscall.startsWith('query'));
  // A code shared with connect (ECONNREFUSED: no name server answers) is DNS only from a resolver call.
  return DNS_CODES.get(code) ?? (fromResolver ? LOOKUP_FAILED : undefined);
}

function hostOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const host = (err as { hostname?: unknown }).hostname;
  return typeof host === 'string' && host !== '' ? host : undefined;
}

function isTlsError(err: unknown, code: string | undefined): boolean {
  if (code !== undefined) {
    if (CERT_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO') {
      return true;
    }
  }
  if (typeof err === 'object' && err !== null) {
    const library = (err as { library?: unknown }).library;
    if (typeof library === 'string' && library.toLowerCase().includes('ssl')) return true;
  }
  return false;
}

const OPENSSL_REASON = /:error:[0-9A-Fa-f]+:[^:]*:[^:]*:([^:\n]+)/;

/**
 * OpenSSL's messages carry a hex error stack, a source path and a newline; its `reason` and
 * `code` say the same in a line.
 */
function tlsText(err: unknown, code: string | undefined, message: string): string {
  const reason = typeof err === 'object' && err !== null ? (err as { reason?: unknown }).reason : undefined;
  if (typeof reason === 'string' && reason !== '') return code === undefined ? reason : `${reason} (${code})`;
  // e.g. "write EPROTO 80..:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:file:350:"
  const parsed = OPENSSL_REASON.exec(message)?.[1];
  if (parsed !== undefined) return code === undefined ? parsed : `${parsed} (${code})`;
  return message.trim();
}

const CLIENT_CERT_ALERT = /certificate required|handshake failure|bad certificate/i;

function tlsHint(code: string | undefined, message: string): string {
  if (code !== undefined && CERT_CODES.has(code)) {
    return ' (set tls.ca to the CA that issued the target certificate, or tls.insecureSkipVerify)';
  }
  if (CLIENT_CERT_ALERT.test(message) || code?.includes('CERTIFICATE') === true) {
    return ' (the target may require a client certificate: tls.cert and tls.key)';
  }
  return '';
}
