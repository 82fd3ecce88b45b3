/**
 * The `strata` command line: dispatches to the subcommands. Exit status 0 on success, 1 when
 * the input is invalid, 2 on a usage error.
 */
import { StrataError, UsageError } from '../errors.js';
import { demoTargetCommand } from './demo-target-command.js';
import { type CommandIO, PARSE_USAGE, parseCommand } from './parse-command.js';
import { RUN_USAGE, runCommand } from './run-command.js';
import { validateCommand } from './validate-command.js';

const USAGE = `usage: strata <command> [options]

commands:
  run -f FILE      run the Collectors and Discoveries of FILE (reloaded on change)
                   ${RUN_USAGE}
  validate -f FILE check resource files: exit 0, or 1 with every error
  parse FILE|-     parse a Prometheus/OpenMetrics exposition, print JSON samples
                   ${PARSE_USAGE}
  demo-target      serve a synthetic high-cardinality exporter
                   usage: strata demo-target --series N --port P [--host H] [--seed S] [--count K]
`;

export async function main(argv: string[], io: CommandIO = process): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'parse':
        return await parseCommand(rest, io);
      case 'run':
        return await runCommand(rest, io);
      case 'validate':
        return await validateCommand(rest, io);
      case 'demo-target':
        return await demoTargetCommand(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e instanceof StrataError && e.code === 'STRATA_E_USAGE')) {
      io.stderr.write(`strata: ${e.message}\n${USAGE}`);
      return 2;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.stderr.write(`strata: ${e.message}\n${USAGE}`);
      return 2;
    }
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (e instanceof Error && typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      // A system error (missing file, port in use, …): the message says it all.
      io.stderr.write(`strata: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
