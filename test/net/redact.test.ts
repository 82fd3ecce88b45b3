// SPDX-License-Identifier: Apache-2.0
/** The one URL redaction every shown URL goes through: a table of inputs and what is shown. */
import { describe, expect, it } from 'vitest';
import { isSecretParam, redactUrl, redactUrlsIn } from '../../src/net/redact.js';

describe('redactUrl', () => {
  it.each([
    // Nothing secret: shown byte for byte as written.
    { input: 'http://127.0.0.1:9100/metrics', want: 'http://127.0.0.1:9100/metrics' },
    { input: 'HTTP://Host:80/a%2Fb?match[]=up&x=1#frag', want: 'HTTP://Host:80/a%2Fb?match[]=up&x=1#frag' },
    { input: 'http://alice@host/metrics', want: 'http://alice@host/metrics' },
    { input: 'not a url', want: 'not a url' },
    { input: '', want: '' },
    // User information: the password goes, the user name stays.
    { input: 'http://alice:secret@host/metrics', want: 'http://alice:xxxxx@host/metrics' },
    { input: 'https://alice:s3:cr@t@host:8443/', want: 'https://alice:xxxxx@host:8443/' },
    { input: 'http://alice:@host/', want: 'http://alice:xxxxx@host/' },
    { input: 'ftp://bob:hunter2@host', want: 'ftp://bob:xxxxx@host' },
    { input: 'http://host:9100', want: 'http://host:9100' },
    // Secret-looking query parameters: their values go, the rest of the query stays as written.
    { input: 'http://h/m?token=abc', want: 'http://h/m?token=xxxxx' },
    { input: 'http://h/m?x=1&token=abc&y=2', want: 'http://h/m?x=1&token=xxxxx&y=2' },
    { input: 'http://h/m?TOKEN=abc', want: 'http://h/m?TOKEN=xxxxx' },
    { input: 'http://h/m?password=p&passwd=q&secret=r', want: 'http://h/m?password=xxxxx&passwd=xxxxx&secret=xxxxx' },
    { input: 'http://h/m?key=k&apikey=a&api_key=b&access_token=c&auth=d', want: 'http://h/m?key=xxxxx&apikey=xxxxx&api_key=xxxxx&access_token=xxxxx&auth=xxxxx' },
    { input: 'http://h/m?X-Api-Key=k&client_secret=s&auth.token=t', want: 'http://h/m?X-Api-Key=xxxxx&client_secret=xxxxx&auth.token=xxxxx' },
    { input: 'http://h/m?to%6Ben=abc', want: 'http://h/m?to%6Ben=xxxxx' },
    { input: 'http://h/m?token=', want: 'http://h/m?token=' },
    { input: 'http://h/m?token', want: 'http://h/m?token' },
    { input: 'http://h/m?tokens=1&monkey=2&keyboard=3', want: 'http://h/m?tokens=1&monkey=2&keyboard=3' },
    { input: 'http://h/m?token=a#token=b', want: 'http://h/m?token=xxxxx#token=b' },
    // Both at once, and in a string that is not a valid URL.
    { input: 'http://alice:secret@h:1/m?token=abc&x=1', want: 'http://alice:xxxxx@h:1/m?token=xxxxx&x=1' },
    { input: 'http://alice:secret@/m?token=abc', want: 'http://alice:xxxxx@/m?token=xxxxx' },
    { input: 'host:1/m?api_key=abc', want: 'host:1/m?api_key=xxxxx' },
    { input: 'alice:secret@host/m', want: 'alice:xxxxx@host/m' },
    { input: 'http//alice:secret@host/m', want: 'http//alice:xxxxx@host/m' },
    { input: 'mailto:ops@example.com', want: 'mailto:xxxxx@example.com' },
  ])('shows $input as $want', ({ input, want }) => {
    expect(redactUrl(input)).toBe(want);
  });

  it('takes a URL object, shown as its href', () => {
    expect(redactUrl(new URL('http://alice:secret@host/m?token=t'))).toBe('http://alice:xxxxx@host/m?token=xxxxx');
  });
});

describe('redactUrlsIn', () => {
  it.each([
    {
      input: 'a.yaml#2 (Discovery default/d): spec.static[1].url: must be an absolute http or https URL, got "ftp://bob:hunter2@host/m?token=zzz"',
      want: 'a.yaml#2 (Discovery default/d): spec.static[1].url: must be an absolute http or https URL, got "ftp://bob:xxxxx@host/m?token=xxxxx"',
    },
    {
      input: 'two: http://a:b@h/ and https://h/?secret=s, then text',
      want: 'two: http://a:xxxxx@h/ and https://h/?secret=xxxxx, then text',
    },
    // Cut by quoteString at 64 characters before the "@": the rest of the authority may be a password.
    { input: 'got "http://alice:a-very-long-passw"…', want: 'got "http://alice:xxxxx"…' },
    { input: 'got "http://host:9100/metrics?token=abc"…', want: 'got "http://host:9100/metrics?token=xxxxx"…' },
    { input: 'got "http://host:9100"', want: 'got "http://host:9100"' },
    { input: 'no URL here: token=abc', want: 'no URL here: token=abc' },
  ])('redacts every URL in $input', ({ input, want }) => {
    expect(redactUrlsIn(input)).toBe(want);
  });
});

describe('isSecretParam', () => {
  it.each([
    ['token', true],
    ['access_token', true],
    ['private-token', true],
    ['api_key', true],
    ['apiKey', true],
    ['ApiKey', true],
    ['target', false],
    ['module', false],
    ['match[]', false],
  ] as const)('%s is secret: %s', (name, want) => {
    expect(isSecretParam(name)).toBe(want);
  });
});
