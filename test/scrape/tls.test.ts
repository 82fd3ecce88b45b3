// SPDX-License-Identifier: Apache-2.0
/**
 * HTTPS scrapes against a CA and certificates made at test time with the openssl CLI.
 */
import { makeCerts } from '../fixtures/tls-certs.js';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { ScrapeError, ScrapeFailure, Scraper, type ScrapeTlsOptions, readFileTls } from '../../src/scrape/index.js';
import { EXPOSITION, type TestServer, httpServer, httpsServer, tcpServer } from './helpers.js';


async function failure(promise: Promise<unknown>): Promise<ScrapeError> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(ScrapeError);
    return err as ScrapeError;
  }
  throw new Error('the scrape succeeded; a failure was expected');
}

async function withScraper<T>(tls: ScrapeTlsOptions | undefined, run: (s: Scraper) => Promise<T>): Promise<T> {
  const scraper = new Scraper({ timeoutMs: 3_000, maxBodyBytes: 1 << 20, ...(tls === undefined ? {} : { tls }) });
  try {
    return await run(scraper);
  } finally {
    scraper.close();
  }
}

describe('Scraper over TLS', () => {
  let dir: string;
  let pem: (name: string) => string;
  let server: TestServer;
  let mutual: TestServer;
  let clientCerts: string[];

  beforeAll(async () => {
    dir = makeCerts('strata-scrape-tls-').dir;
    pem = (name) => readFileSync(join(dir, name), 'utf8');
    const handler = (_req: unknown, res: import('node:http').ServerResponse): void => {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
      res.end(EXPOSITION);
    };
    server = await httpsServer({ cert: pem('server.crt'), key: pem('server.key') }, handler);
    clientCerts = [];
    mutual = await httpsServer(
      { cert: pem('server.crt'), key: pem('server.key'), ca: pem('ca.crt'), requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        const socket = req.socket as import('node:tls').TLSSocket;
        clientCerts.push(String(socket.getPeerCertificate().subject?.CN ?? ''));
        handler(req, res);
      },
    );
  });

  afterAll(async () => {
    await Promise.all([server?.close(), mutual?.close()]);
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('scrapes an https target whose certificate the configured CA signed, over one kept-alive socket', async () => {
    const tls = await readFileTls({ ca: join(dir, 'ca.crt') });
    expect(tls.ca).toBe(pem('ca.crt'));
    await withScraper(tls, async (scraper) => {
      const before = server.connections();
      for (let i = 0; i < 3; i++) {
        const result = await scraper.scrape(server.url);
        expect(result.body.toString()).toBe(EXPOSITION);
        expect(result.contentType).toBe('text/plain; version=0.0.4');
      }
      expect(server.connections()).toBe(before + 1);
    });
  });

  it('fails an https target signed by an unknown CA with reason tls', async () => {
    await withScraper(undefined, async (scraper) => {
      const err = await failure(scraper.scrape(server.url));
      expect(err.reason).toBe(ScrapeFailure.Tls);
      expect(err.retryable).toBe(false);
      expect(err.message).toBe(
        `scrape of ${server.url} failed the TLS handshake: unable to verify the first certificate ` +
          '(set tls.ca to the CA that issued the target certificate, or tls.insecureSkipVerify)',
      );
    });
  });

  it('scrapes the same target with insecureSkipVerify and no CA', async () => {
    await withScraper({ insecureSkipVerify: true }, async (scraper) => {
      expect((await scraper.scrape(server.url)).body.toString()).toBe(EXPOSITION);
    });
  });

  it('presents the client certificate to a target that requires one (mutual TLS)', async () => {
    const tls = await readFileTls({ ca: join(dir, 'ca.crt'), cert: join(dir, 'client.crt'), key: join(dir, 'client.key') });
    await withScraper(tls, async (scraper) => {
      expect((await scraper.scrape(mutual.url)).body.toString()).toBe(EXPOSITION);
    });
    expect(clientCerts).toEqual(['strata test client']);
  });

  it('fails a target that requires a client certificate when none is configured, with reason tls', async () => {
    await withScraper({ ca: pem('ca.crt') }, async (scraper) => {
      const err = await failure(scraper.scrape(mutual.url));
      expect(err.reason).toBe(ScrapeFailure.Tls);
      expect(err.message).toBe(
        `scrape of ${mutual.url} failed the TLS handshake: tlsv13 alert certificate required ` +
          '(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED) (the target may require a client certificate: tls.cert and tls.key)',
      );
    });
  });

  it('fails an https URL on a plain http target with reason tls', async () => {
    const plain = await httpServer((_req, res) => res.end(EXPOSITION));
    try {
      await withScraper({ ca: pem('ca.crt') }, async (scraper) => {
        const url = plain.url.replace('http://', 'https://');
        const err = await failure(scraper.scrape(url));
        expect(err.reason).toBe(ScrapeFailure.Tls);
        expect(err.message).toBe(`scrape of ${url} failed the TLS handshake: wrong version number (EPROTO)`);
      });
    } finally {
      await plain.close();
    }
  });

  it('times out a target that never completes the handshake', async () => {
    const silent = await tcpServer((socket) => socket.resume());
    try {
      const scraper = new Scraper({ timeoutMs: 200, maxBodyBytes: 1024, tls: { ca: pem('ca.crt') } });
      try {
        const url = silent.url.replace('http://', 'https://');
        const err = await failure(scraper.scrape(url));
        expect(err.reason).toBe(ScrapeFailure.Timeout);
        expect(err.message).toBe(
          `scrape of ${url} exceeded the deadline of 200 ms (scrape.timeoutMs) during the TLS handshake`,
        );
      } finally {
        scraper.close();
      }
    } finally {
      await silent.close();
    }
  });

  it('reports unreadable PEM files and unpaired client certificates as configuration errors', async () => {
    const cases: { spec: Parameters<typeof readFileTls>[0]; field: string; message: RegExp }[] = [
      { spec: { ca: join(dir, 'missing.crt') }, field: 'tls.ca', message: /^tls\.ca: cannot read ".*missing\.crt": ENOENT/ },
      { spec: { cert: join(dir, 'client.crt') }, field: 'tls.key', message: /^tls\.key: a client certificate \(tls\.cert\) needs its key/ },
      { spec: { key: join(dir, 'client.key') }, field: 'tls.cert', message: /^tls\.cert: a client key \(tls\.key\) needs its certificate/ },
    ];
    for (const { spec, field, message } of cases) {
      const err = await readFileTls(spec).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).field).toBe(field);
      expect((err as ConfigError).message).toMatch(message);
    }
  });

  it('refuses a malformed CA or client key when the Scraper is built', () => {
    const broken = '-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n';
    const build = (tls: ScrapeTlsOptions): unknown => {
      try {
        new Scraper({ timeoutMs: 1000, maxBodyBytes: 1024, tls }).close();
        return undefined;
      } catch (err) {
        return err;
      }
    };
    const ca = build({ ca: `${pem('ca.crt')}${broken}` });
    expect(ca).toBeInstanceOf(ConfigError);
    expect((ca as ConfigError).message).toMatch(/^tls\.ca: certificate 2 of 2 is not valid: /);
    const pair = build({ cert: pem('client.crt'), key: pem('server.key') });
    expect(pair).toBeInstanceOf(ConfigError);
    expect((pair as ConfigError).field).toBe('tls.cert');
  });
});
