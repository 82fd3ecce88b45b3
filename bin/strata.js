#!/usr/bin/env node
// SPDX-License-Identifier: Apache-2.0
// Thin launcher: the CLI lives in src/cli (compiled to dist/ by `npm run build`).
import { main } from '../dist/src/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`strata: ${err?.stack ?? err}\n`); process.exitCode = 2; },
);
