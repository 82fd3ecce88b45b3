/**
 * The `strata` command line: dispatches to the subcommands. Exit status 0 on success, 1 when
 * the input is invalid, 2 on a usage error.
 */
import { StrataError, UsageError } from '../errors.js';
import { type CommandIO, PARSE_USAGE, parseCommand } from './parse-command.js';

const USAGE = `usage: strata <command> [options]

commands:
  parse FILE|-     parse a Prometheus/OpenMetrics exposition, print JSON samples
                   ${PARSE_USAGE}
`;

export async function main(argv: string[], io: CommandIO = process): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'parse':
        return await parseCommand(rest, io);
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
    if (e instanceof Error && (e as NodeJS.ErrnoException).code === 'ENOENT') {
      io.stderr.write(`strata: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
