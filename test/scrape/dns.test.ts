// SPDX-License-Identifier: Apache-2.0
/**
 * A host name that does not resolve fails with its own reason, `dns`, apart from a target that
 * refuses the connection. Names are resolved by a name server the test runs on 127.0.0.1 (the
 * Scraper's `lookup` asks only it), so no test needs the network: `.invalid` answers NXDOMAIN as
 * RFC 6761 requires of every resolver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { classifyRequestError } from '../../src/scrape/classify.js';
import { ScrapeError, ScrapeFailure, Scraper } from '../../src/scrape/index.js';
import { EXPOSITION, type TestNameServer, type TestServer, httpServer, lookupVia, nameServer, refusedUrl } from './helpers.js';

async function failure(promise: Promise<unknown>): Promise<ScrapeError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScrapeError);
    return err as ScrapeError;
  }
  throw new Error('the scrape succeeded; a failure was expected');
}

describe('Scraper name resolution', () => {
  let dnsServer: TestNameServer;
  let target: TestServer;
  let scraper: Scraper;
  let port: string;

  beforeAll(async () => {
    dnsServer = await nameServer({ 'target.test': '127.0.0.1', 'broken.test': 'SERVFAIL' });
    target = await httpServer((_req, res) => res.end(EXPOSITION));
    port = new URL(target.url).port;
    scraper = new Scraper({ timeoutMs: 10_000, maxBodyBytes: 1 << 20, lookup: lookupVia(dnsServer.address) });
  });
  afterAll(async () => {
    scraper.close();
    await target.close();
    await dnsServer.close();
  });

  it('resolves a name through the given lookup and scrapes it', async () => {
    const res = await scraper.scrape(`http://target.test:${port}/metrics`);
    expect(res.body.toString()).toBe(EXPOSITION);
    expect(dnsServer.queries).toContain('target.test/1');
  });

  it('fails a name that does not exist (NXDOMAIN) with reason dns, naming the host, not retryable', async () => {
    const url = `http://strata-test.invalid:${port}/metrics`;
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.Dns);
    expect(err.message).toBe(`scrape of ${url} could not resolve the host "strata-test.invalid": no such host (ENOTFOUND)`);
    expect(err.retryable).toBe(false);
    expect(dnsServer.queries).toContain('strata-test.invalid/1');
  });

  it('fails a name server failure with reason dns, retryable', async () => {
    const url = `http://broken.test:${port}/metrics`;
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.Dns);
    expect(err.message).toBe(`scrape of ${url} could not resolve the host "broken.test": the name server failed (ESERVFAIL)`);
    expect(err.retryable).toBe(true);
  });

  it('redacts the URL of a name that does not resolve', async () => {
    const err = await failure(scraper.scrape(`http://alice:s3cret@nowhere.invalid:${port}/metrics?token=s3cret`));
    expect(err.reason).toBe(ScrapeFailure.Dns);
    expect(err.message).not.toContain('s3cret');
    expect(err.url).toBe(`http://alice:xxxxx@nowhere.invalid:${port}/metrics?token=xxxxx`);
  });

  it('still fails a refused connection with reason connect', async () => {
    const url = await refusedUrl();
    const err = await failure(scraper.scrape(url));
    expect(err.reason).toBe(ScrapeFailure.Connect);
    expect(err.retryable).toBe(true);
  });
});

/** Errors as Node's system resolver (getaddrinfo, through dns.lookup) reports them. */
function lookupError(code: string, hostname: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`getaddrinfo ${code} ${hostname}`), { code, errno: -3008, syscall: 'getaddrinfo', hostname });
}

describe('failure classification', () => {
  const state = { url: 'http://h.example:9100/metrics', host: 'h.example', https: false, connecting: true, connected: false };

  it.each([
    {
      err: lookupError('ENOTFOUND', 'h.example'),
      reason: ScrapeFailure.Dns,
      retryable: false,
      message: 'scrape of http://h.example:9100/metrics could not resolve the host "h.example": no such host (ENOTFOUND)',
    },
    {
      err: lookupError('EAI_AGAIN', 'h.example'),
      reason: ScrapeFailure.Dns,
      retryable: true,
      message: 'scrape of http://h.example:9100/metrics could not resolve the host "h.example": the name server failed temporarily (EAI_AGAIN)',
    },
    {
      err: Object.assign(new Error('queryA ECONNREFUSED h.example'), { code: 'ECONNREFUSED', syscall: 'queryA', hostname: 'h.example' }),
      reason: ScrapeFailure.Dns,
      retryable: true,
      message: 'scrape of http://h.example:9100/metrics could not resolve the host "h.example": the lookup failed (ECONNREFUSED)',
    },
    {
      err: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:9100'), { code: 'ECONNREFUSED', syscall: 'connect' }),
      reason: ScrapeFailure.Connect,
      retryable: true,
      message: 'scrape of http://h.example:9100/metrics could not connect: connect ECONNREFUSED 10.0.0.1:9100',
    },
    {
      err: Object.assign(new Error('connect ETIMEDOUT 10.0.0.1:9100'), { code: 'ETIMEDOUT', syscall: 'connect' }),
      reason: ScrapeFailure.Connect,
      retryable: true,
      message: 'scrape of http://h.example:9100/metrics could not connect: connect ETIMEDOUT 10.0.0.1:9100',
    },
  ])('classifies $err.message as $reason', ({ err, reason, retryable, message }) => {
    const got = classifyRequestError(err, state);
    expect({ reason: got.reason, retryable: got.retryable, message: got.message }).toEqual({ reason, retryable, message });
  });
});
