// SPDX-License-Identifier: Apache-2.0
/** Public surface of the scrape client. */
export {
  DEFAULT_MAX_SOCKETS,
  DEFAULT_USER_AGENT,
  Scraper,
  type ScrapeOptions,
  type ScrapeResult,
} from './scraper.js';
export { SCRAPE_ERROR_CODE, ScrapeError, ScrapeFailure } from './errors.js';
export { readFileTls, type ScrapeTlsFiles, type ScrapeTlsOptions } from './tls.js';
export { checkScrapeAuthFiles, ScrapeAuth, type ScrapeAuthFiles } from './auth.js';
