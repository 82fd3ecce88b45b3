// SPDX-License-Identifier: Apache-2.0
/**
 * Scrape credentials from files (`scrape.bearerTokenFile`, `scrape.basicAuth`), against a real
 * HTTP server on 127.0.0.1 that answers 401 without the expected `Authorization` header.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseResources } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors.js';
import { MAX_SECRET_FILE_BYTES, ScrapeAuth, checkScrapeAuthFiles } from '../../src/scrape/auth.js';
import { ScrapeError, ScrapeFailure, Scraper } from '../../src/scrape/index.js';
import { EXPOSITION, type TestServer, httpServer } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'strata-auth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileNo = 0;
function secretFile(contents: string): string {
  const path = join(dir, `secret-${fileNo++}`);
  writeFileSync(path, contents);
  return path;
}

/** A server that answers 200 only to `expected.value`; every Authorization it saw is kept. */
async function guardedServer(expected: { value: string }): Promise<{ server: TestServer; seen: (string | undefined)[] }> {
  const seen: (string | undefined)[] = [];
  const server = await httpServer((req, res) => {
    seen.push(req.headers.authorization);
    if (req.headers.authorization !== expected.value) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end();
      return;
    }
    res.end(EXPOSITION);
  });
  return { server, seen };
}

async function waitFor(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function scrapeStatus(scraper: Scraper, url: string): Promise<number> {
  try {
    return (await scraper.scrape(url)).status;
  } catch (err) {
    if (err instanceof ScrapeError && err.reason === ScrapeFailure.HttpStatus && err.status !== undefined) return err.status;
    throw err;
  }
}

const OPTIONS = { timeoutMs: 10_000, maxBodyBytes: 1 << 20 };

describe('scrape.bearerTokenFile', () => {
  const expected = { value: 'Bearer t0k3n-1' };
  let guarded: Awaited<ReturnType<typeof guardedServer>>;
  let scraper: Scraper | undefined;
  beforeAll(async () => {
    guarded = await guardedServer(expected);
  });
  afterEach(() => scraper?.close());
  afterAll(() => guarded.server.close());

  it('sends the token of the file, trimmed, as Authorization: Bearer', async () => {
    expected.value = 'Bearer t0k3n-1';
    const auth = await ScrapeAuth.open({ bearerTokenFile: secretFile('t0k3n-1\n') });
    scraper = new Scraper({ ...OPTIONS, ...(auth === undefined ? {} : { auth }) });
    const res = await scraper.scrape(guarded.server.url);
    expect(res.body.toString()).toBe(EXPOSITION);
    expect(guarded.seen.at(-1)).toBe('Bearer t0k3n-1');
  });

  it('is refused by the server without it (the test server does check)', async () => {
    scraper = new Scraper(OPTIONS);
    expect(await scrapeStatus(scraper, guarded.server.url)).toBe(401);
  });

  it('picks up a token changed in place in the file, and one renamed over it', async () => {
    expected.value = 'Bearer first';
    const path = secretFile('first');
    const auth = await ScrapeAuth.open({ bearerTokenFile: path }, { checkIntervalMs: 50 });
    scraper = new Scraper({ ...OPTIONS, ...(auth === undefined ? {} : { auth }) });
    expect(await scrapeStatus(scraper, guarded.server.url)).toBe(200);

    // Rotation: the server now wants the second token; the file is rewritten in place.
    expected.value = 'Bearer second';
    expect(await scrapeStatus(scraper, guarded.server.url)).toBe(401);
    writeFileSync(path, 'second\n');
    await waitFor('the second token', async () => (await scrapeStatus(scraper as Scraper, guarded.server.url)) === 200);
    expect(guarded.seen.at(-1)).toBe('Bearer second');

    // As Kubernetes swaps a mounted secret: a new file renamed over the old one.
    expected.value = 'Bearer third';
    const next = secretFile('third');
    renameSync(next, path);
    await waitFor('the third token', async () => (await scrapeStatus(scraper as Scraper, guarded.server.url)) === 200);
    expect(auth?.reloads).toBeGreaterThanOrEqual(2);
    expect(auth?.lastError).toBeNull();
  });

  it('keeps the last good token while the file is missing or empty, and says why', async () => {
    expected.value = 'Bearer keep-me';
    const path = secretFile('keep-me');
    const auth = await ScrapeAuth.open({ bearerTokenFile: path }, { checkIntervalMs: 50 });
    scraper = new Scraper({ ...OPTIONS, ...(auth === undefined ? {} : { auth }) });
    rmSync(path);
    await waitFor('the missing file to be noticed', async () => auth?.lastError != null);
    expect(auth?.lastError).toContain(`scrape.bearerTokenFile: cannot read ${JSON.stringify(path)}`);
    expect(await scrapeStatus(scraper, guarded.server.url)).toBe(200);
    writeFileSync(path, '\n');
    await waitFor('the empty file to be noticed', async () => auth?.lastError?.includes('holds no token') === true);
    expect(await scrapeStatus(scraper, guarded.server.url)).toBe(200);
    expect(auth?.header).toBe('Bearer keep-me');
  });

  it('replaces user information in the URL rather than sending both', async () => {
    expected.value = 'Bearer t0k3n-1';
    const auth = await ScrapeAuth.open({ bearerTokenFile: secretFile('t0k3n-1') });
    scraper = new Scraper({ ...OPTIONS, ...(auth === undefined ? {} : { auth }) });
    await scraper.scrape(guarded.server.url.replace('http://', 'http://alice:pw@'));
    expect(guarded.seen.at(-1)).toBe('Bearer t0k3n-1');
  });
});

describe('scrape.basicAuth', () => {
  const expected = { value: '' };
  let guarded: Awaited<ReturnType<typeof guardedServer>>;
  let scraper: Scraper | undefined;
  beforeAll(async () => {
    guarded = await guardedServer(expected);
  });
  afterEach(() => scraper?.close());
  afterAll(() => guarded.server.close());

  const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('sends the user name and the password of the file as Authorization: Basic, and follows a change', async () => {
    expected.value = basic('alice', 'pä55:word');
    const path = secretFile('pä55:word\n');
    const auth = await ScrapeAuth.open({ basicAuth: { username: 'alice', passwordFile: path } }, { checkIntervalMs: 50 });
    scraper = new Scraper({ ...OPTIONS, ...(auth === undefined ? {} : { auth }) });
    expect(await scrapeStatus(scraper, guarded.server.url)).toBe(200);
    expected.value = basic('alice', 'new');
    writeFileSync(path, 'new');
    await waitFor('the new password', async () => (await scrapeStatus(scraper as Scraper, guarded.server.url)) === 200);
  });
});

describe('credential files that cannot be used', () => {
  const missing = join(dir, 'missing');
  it.each([
    { spec: { bearerTokenFile: missing }, field: 'scrape.bearerTokenFile', message: `cannot read ${JSON.stringify(missing)}` },
    { spec: { basicAuth: { username: 'a', passwordFile: missing } }, field: 'scrape.basicAuth.passwordFile', message: `cannot read ${JSON.stringify(missing)}` },
    { spec: { bearerTokenFile: dir }, field: 'scrape.bearerTokenFile', message: 'not a regular file' },
    { spec: { bearerTokenFile: secretFile(' \n') }, field: 'scrape.bearerTokenFile', message: 'holds no token (it is empty)' },
    { spec: { bearerTokenFile: secretFile('a\nb') }, field: 'scrape.bearerTokenFile', message: 'holds a control character' },
    { spec: { bearerTokenFile: secretFile('x'.repeat(MAX_SECRET_FILE_BYTES + 1)) }, field: 'scrape.bearerTokenFile', message: 'over the limit of 65536 bytes' },
    { spec: { bearerTokenFile: secretFile('t'), basicAuth: { username: 'a', passwordFile: secretFile('p') } }, field: 'scrape.bearerTokenFile', message: 'must not be set together with scrape.basicAuth' },
    { spec: { basicAuth: { username: 'a:b', passwordFile: secretFile('p') } }, field: 'scrape.basicAuth.username', message: 'must not contain ":"' },
  ])('refuses $field: $message, before anything starts', async ({ spec, field, message }) => {
    const err = await checkScrapeAuthFiles(spec).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe(field);
    expect((err as ConfigError).message).toContain(message);
  });

  it('never quotes the secret in an error', async () => {
    const err = await checkScrapeAuthFiles({ bearerTokenFile: secretFile('s3cret\u0001') }).catch((e: unknown) => e);
    expect((err as Error).message).not.toContain('s3cret');
  });

  it('has nothing to check when no credential is set', async () => {
    await expect(checkScrapeAuthFiles({})).resolves.toBeUndefined();
    await expect(ScrapeAuth.open({})).resolves.toBeUndefined();
  });
});

describe('validate', () => {
  function errorsOf(scrape: string): string[] {
    const { errors } = parseResources(
      `apiVersion: strata.ctx.sh/v1beta1\nkind: Collector\nmetadata: {name: c}\nspec:\n  scrape:\n${scrape}`,
      'c.yaml',
    );
    return errors.map((e) => `${e.path}: ${e.reason}`);
  }

  it.each([
    { scrape: '    bearerTokenFile: /run/secrets/token\n', want: [] },
    { scrape: '    basicAuth: {username: alice, passwordFile: /run/secrets/pw}\n', want: [] },
    {
      scrape: '    bearerTokenFile: /t\n    basicAuth: {username: alice, passwordFile: /p}\n',
      want: ['spec.scrape.bearerTokenFile: must not be set together with basicAuth (a scrape sends one Authorization header)'],
    },
    { scrape: '    basicAuth: {username: alice}\n', want: ['spec.scrape.basicAuth.passwordFile: required'] },
    { scrape: '    basicAuth: {passwordFile: /p}\n', want: ['spec.scrape.basicAuth.username: required'] },
    { scrape: '    bearerTokenFile: ""\n', want: ['spec.scrape.bearerTokenFile: must not be empty'] },
    {
      scrape: '    basicAuth: {username: "a:b", passwordFile: /p}\n',
      want: ['spec.scrape.basicAuth.username: must be a user name without ":" or control characters (RFC 7617), got "a:b"'],
    },
  ])('checks $scrape', ({ scrape, want }) => {
    expect(errorsOf(scrape)).toEqual(want);
  });
});
