// SPDX-License-Identifier: Apache-2.0
// Preloaded with `node --import ./bench/lib/report-rss.mjs …` by bench/cli.bench.ts in an
// untimed run: prints the process's peak resident set size to stderr when it exits.
process.on('exit', () => {
  process.stderr.write(`\nstrata-bench-maxrss-kb ${process.resourceUsage().maxRSS}\n`);
});
