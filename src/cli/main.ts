// SPDX-License-Identifier: Apache-2.0
/**
 * The `strata` command line: dispatches to the subcommands. Exit status 0 on success, 1 when
 * the input is invalid (or a scraped target failed), 2 on a usage error (a wrong command line,
 * a file that cannot be read).
 *
 * Every command answers `--help` (or `-h`) with its own help on stdout and exit 0, before
 * anything else is read; `strata --version` prints the version. A usage error prints one line,
 * `strata COMMAND: reason`, and where to find the help: the usage is printed once, not twice.
 */
import { readFileSync } from 'node:fs';
import { StrataError, UsageError } from '../errors.js';
import { renderCrds } from '../k8s/crds.js';
import { DEMO_TARGET_USAGE, demoTargetCommand } from './demo-target-command.js';
import { type CommandIO, PARSE_USAGE, parseCommand } from './parse-command.js';
import { RUN_USAGE, runCommand } from './run-command.js';
import { SCRAPE_HELP, scrapeCommand } from './scrape-command.js';
import { VALIDATE_USAGE, validateCommand } from './validate-command.js';

interface Command {
  readonly summary: string;
  readonly help: string;
  readonly run: (argv: string[], io: CommandIO) => Promise<number>;
}

const COMMANDS: Readonly<Record<string, Command>> = {
  run: {
    summary: 'run the Collectors and Discoveries of resource files (reloaded on change)',
    help: `${RUN_USAGE}

Runs the Collectors and Discoveries of the files: scrapes, filters, encodes and sends.
Files are re-read when they change; an invalid edit is rejected and the running
configuration stays. Serves /metrics, /healthz, /readyz and /status on the telemetry
port. SIGTERM or SIGINT stops cleanly (exit 0) after in-flight scrapes finish.
  -f FILE               a multi-document YAML file of resources (repeatable)
  --telemetry-port P    port of /metrics, /healthz, /readyz, /status (default 9464; 0 picks one)
  --telemetry-host H    address to listen on (default 127.0.0.1)
  --grace-seconds N     how long stopping waits for in-flight work (default 10)
  --demo-target PORT    also serve a synthetic exporter on 127.0.0.1:PORT
  --demo-series N       series of that exporter (default 1000)
  --no-progress         no progress line on stderr
`,
    run: runCommand,
  },
  validate: {
    summary: 'check resource files: exit 0, or 1 with every error',
    help: `${VALIDATE_USAGE}

Validates Collector and Discovery resources as \`strata run\` would read them, and prints
every error with its document, field path and reason. Exit 0 when all are valid, 1 when
any error was found, 2 when a file cannot be read. A file with no resources is a warning.
`,
    run: validateCommand,
  },
  parse: {
    summary: 'parse a Prometheus/OpenMetrics exposition, print JSON samples',
    help: `${PARSE_USAGE}

Parses an exposition (FILE, or - for standard input) and prints one JSON sample per
line, in input order, with "timestamp": null where none is given. Invalid input prints
\`line N: reason\` on stderr and exits 1; nothing is printed on stdout then.
`,
    run: parseCommand,
  },
  crds: {
    summary: 'print the CustomResourceDefinitions of Collector and Discovery (YAML)',
    help: `usage: strata crds

Prints the CustomResourceDefinitions (apiextensions.k8s.io/v1) of the Collector and
Discovery resources, generated from the same schema as \`strata validate\`:
  strata crds | kubectl apply -f -
`,
    run: async (argv, io) => {
      if (argv.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(argv[0])}`);
      io.stdout.write(renderCrds());
      return 0;
    },
  },
  scrape: { summary: 'scrape one URL once and print its samples, status and timings', help: SCRAPE_HELP, run: scrapeCommand },
  'demo-target': {
    summary: 'serve a synthetic high-cardinality exporter',
    help: `${DEMO_TARGET_USAGE}

Serves a synthetic exporter (counters, gauges, histograms, summaries over many pods)
whose values change between scrapes; --count K serves K of them on consecutive ports.
`,
    run: (argv, io) => demoTargetCommand(argv, io),
  },
};

const USAGE = `usage: strata <command> [options]    (strata <command> --help for a command's options)

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(12)} ${c.summary}`)
  .join('\n')}

  --version    print the version
`;

/** Strata's version, from its package.json. */
export function strataVersion(): string {
  for (const rel of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'strata-collector' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this depth (src/cli under tsx, dist/src/cli when built)
    }
  }
  return 'unknown';
}

export async function main(argv: string[], io: CommandIO = process): Promise<number> {
  const [name, ...rest] = argv;
  switch (name) {
    case undefined:
      io.stderr.write(USAGE);
      return 2;
    case '-h':
    case '--help':
    case 'help':
      io.stdout.write(USAGE);
      return 0;
    case '-v':
    case '--version':
    case 'version':
      io.stdout.write(`strata ${strataVersion()}\n`);
      return 0;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (command === undefined) {
    io.stderr.write(`strata: unknown command ${JSON.stringify(name)}\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.help);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof StrataError && e.code === 'STRATA_E_USAGE')) {
      io.stderr.write(`strata ${name}: ${e.message}\n${usageHint(name, e)}`);
      return 2;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`strata ${name}: ${e.message}\n${usageHint(name, e)}`);
      return 2;
    }
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (e instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      // A system error (port in use, …): the message says it all.
      io.stderr.write(`strata ${name}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

/** The command's usage line, and where its help is; nothing more for a file that cannot be read. */
function usageHint(name: string, e: Error): string {
  if (e.name === 'UnreadableFile') return '';
  const usage = COMMANDS[name]?.help.split('\n')[0] ?? '';
  return `${usage}\n(strata ${name} --help for more)\n`;
}
