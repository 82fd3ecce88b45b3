// SPDX-License-Identifier: Apache-2.0
/** The URLs of a NATS output as written (`url`: one or several, comma-separated), and how they are shown. */

/** The URLs of `url`, trimmed, empty items dropped. */
export function splitNatsUrls(url: string): string[] {
  return url
    .split(',')
    .map((u) => u.trim())
    .filter((u) => u !== '');
}

/**
 * `url` with its credentials replaced by `***`: the password of `user:password@`, and the
 * whole user part when there is no password (NATS reads `nats://token@host` as a token).
 */
export function redactNatsUrl(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^@/?#]*)@/i.exec(url);
  if (m === null) return url;
  const userinfo = m[2] as string;
  const colon = userinfo.indexOf(':');
  const shown = colon < 0 ? '***' : `${userinfo.slice(0, colon)}:***`;
  return `${m[1] as string}${shown}@${url.slice(m[0].length)}`;
}
