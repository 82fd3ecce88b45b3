// SPDX-License-Identifier: Apache-2.0
/**
 * URL redaction: the one way a target URL is shown to a person (status, logs, error messages,
 * `validate` output), with its secrets replaced by `xxxxx`.
 *
 * What is a secret:
 * - the password of the user information (`http://alice:secret@host/` shows as
 *   `http://alice:xxxxx@host/`); the user name stays, as Go's `URL.Redacted` keeps it, so that
 *   an operator can still tell which account a target uses;
 * - the value of a query parameter whose name is secret-looking: the name, lower-cased and cut
 *   into words at `-`, `_` and `.`, holds one of `SECRET_WORDS` (`token`, `api_key`,
 *   `X-Api-Key`, `client_secret`, `access_token`, …), or is one of them whole (`apikey`).
 *
 * Invariants:
 * - The text is redacted as written, not re-serialised: whatever is not a secret stays byte for
 *   byte (no `%`-encoding or case change), so the shown URL is the one the operator wrote.
 * - It never throws and needs no valid URL: a string that is not one is redacted by the same
 *   rules where they apply (an unparseable target is shown in errors too); without `://`, a
 *   `user:password@` before the last `@` is taken as user information.
 * - `redactUrlsIn` finds every `scheme://…` in a free text (a validation message, a log line)
 *   and redacts each. A quoted URL cut short by a length cap (`"http://alice:sec"…`) may have
 *   lost its `@`: its authority is then redacted after the first `:`, as it cannot be told
 *   from a password.
 *
 * Limits: a secret in the path (`/token/abc/metrics`) cannot be recognised; use
 * `scrape.bearerTokenFile` or `scrape.basicAuth` instead of secrets in URLs.
 */

/** What a secret is replaced by (as Go's `URL.Redacted` and Prometheus show it). */
export const REDACTED = 'xxxxx';

/** Words of a query parameter name that mark its value as a secret. */
export const SECRET_WORDS: ReadonlySet<string> = new Set([
  'token',
  'password',
  'passwd',
  'secret',
  'key',
  'apikey',
  'auth',
  'authorization',
  'credential',
  'credentials',
  'signature',
  'sig',
]);

/** Whether a query parameter named `name` (decoded) carries a secret. */
export function isSecretParam(name: string): boolean {
  const lower = name.toLowerCase();
  if (SECRET_WORDS.has(lower)) return true;
  for (const word of lower.split(/[-_.\s[\]]+/)) {
    if (SECRET_WORDS.has(word)) return true;
  }
  return false;
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' '));
  } catch {
    return raw;
  }
}

/** Redacts the values of secret parameters in a query (without its `?`). */
function redactQuery(query: string): string {
  let changed = false;
  const parts = query.split('&');
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i] as string;
    const eq = part.indexOf('=');
    if (eq < 0 || eq === part.length - 1) continue; // no value to hide
    if (!isSecretParam(decodeName(part.slice(0, eq)))) continue;
    parts[i] = `${part.slice(0, eq + 1)}${REDACTED}`;
    changed = true;
  }
  return changed ? parts.join('&') : query;
}

/**
 * The authority (`user:password@host:port`) with its password redacted. `cut`: the text was
 * truncated inside the authority, so a `user:pass` without its `@` cannot be told apart.
 */
function redactAuthority(authority: string, cut: boolean): string {
  const at = authority.lastIndexOf('@');
  if (at < 0) {
    if (!cut) return authority;
    const colon = authority.indexOf(':');
    return colon < 0 || colon === authority.length - 1 ? authority : `${authority.slice(0, colon + 1)}${REDACTED}`;
  }
  const userinfo = authority.slice(0, at);
  const colon = userinfo.indexOf(':');
  if (colon < 0) return authority;
  return `${userinfo.slice(0, colon + 1)}${REDACTED}${authority.slice(at)}`;
}

function redact(url: string, cut: boolean): string {
  // The fragment is never sent; it is kept as written.
  const hash = url.indexOf('#');
  const beforeHash = hash < 0 ? url : url.slice(0, hash);
  const fragment = hash < 0 ? '' : url.slice(hash);
  const q = beforeHash.indexOf('?');
  let head = q < 0 ? beforeHash : beforeHash.slice(0, q);
  const query = q < 0 ? undefined : beforeHash.slice(q + 1);
  const scheme = head.indexOf('://');
  if (scheme >= 0) {
    const start = scheme + 3;
    let end = head.indexOf('/', start);
    if (end < 0) end = head.length;
    const authority = head.slice(start, end);
    const authorityCut = cut && end === head.length && q < 0 && hash < 0;
    const shown = redactAuthority(authority, authorityCut);
    if (shown !== authority) head = `${head.slice(0, start)}${shown}${head.slice(end)}`;
  } else {
    // No "://" (a mistyped URL): a `user:password@` may still stand before the last "@".
    const at = head.lastIndexOf('@');
    if (at >= 0) {
      const from = head.lastIndexOf('/', at) + 1;
      const shown = redactAuthority(head.slice(from, at + 1), false);
      head = `${head.slice(0, from)}${shown}${head.slice(at + 1)}`;
    }
  }
  return query === undefined ? `${head}${fragment}` : `${head}?${redactQuery(query)}${fragment}`;
}

/**
 * `url` with the password of its user information and the values of its secret-looking query
 * parameters replaced by `xxxxx`; everything else as written. Accepts a `URL` too (shown as its
 * `href`).
 */
export function redactUrl(url: string | URL): string {
  return redact(typeof url === 'string' ? url : url.href, false);
}

/** A URL in free text: a scheme, `://`, then anything up to a space, a quote or a bracket. */
const URL_IN_TEXT = /[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^\s"'<>`\\]*/g;
const TRAILING_PUNCTUATION = /[.,;:!?)\]]+$/;
/** How `quoteString` in `src/config/schema.ts` marks a value cut at its length cap. */
const CUT_MARK = '"…';

/** `text` with every URL in it redacted as `redactUrl` does. */
export function redactUrlsIn(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(URL_IN_TEXT, (match: string, offset: number) => {
    // Punctuation that ends a sentence ends the URL, as a reader takes it.
    const url = match.replace(TRAILING_PUNCTUATION, '');
    const tail = match.slice(url.length);
    return `${redact(url, tail === '' && text.startsWith(CUT_MARK, offset + match.length))}${tail}`;
  });
}
