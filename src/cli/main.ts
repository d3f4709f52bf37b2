// The `torchvideo` command line's dispatcher: src/cli.ts runs it with the process's arguments. Kept apart
// from the executable so a test's entry script can pass `hooks` (what the published command never has).
import { runClassify, CLASSIFY_USAGE } from './classify';
import { runDemo, DEMO_USAGE } from './demo';
import { runEvaluate, runEvaluateMerge, EVALUATE_USAGE } from './evaluate';
import { runFinetune, FINETUNE_USAGE } from './finetune';
import { runLaunch, LAUNCH_USAGE } from './launch';
import { watchLauncher } from './launcher-watch';
import { runQuantize, QUANTIZE_USAGE } from './quantize';
import { runServe, SERVE_USAGE } from './serve';
import { runWatch, WATCH_USAGE } from './watch';
import { versions } from '../versions';

export const USAGE = `Usage:
  ${CLASSIFY_USAGE}
  ${EVALUATE_USAGE}
  ${FINETUNE_USAGE}
  ${LAUNCH_USAGE}
  ${QUANTIZE_USAGE}
  ${SERVE_USAGE}
  ${WATCH_USAGE}
  ${DEMO_USAGE}
  torchvideo --version
  torchvideo COMMAND --help   that command's usage
`;

/** What only tests pass: the published command line calls cliMain with none. */
export interface CliHooks {
  /** The script `launch` runs as every rank in place of the CLI (test/fixtures/launch-entry.js). */
  launchScript?: string;
}

// Commands whose only product is what they print: when the reader goes away (`torchvideo classify ... |
// head -1`) there is nothing left to do, so they stop quietly with success, like any Unix tool.
// process.exit is safe mid-forward: the addon quiesces its threads first.
const OUTPUT_ONLY = new Set(['classify', 'watch', 'evaluate-merge', '--version', '--help', '-h']);

/**
 * What a closed stdout or stderr (EPIPE) does. An output-only command exits 0. A job that writes files
 * (evaluate, finetune, launch, quantize, demo) goes on with its writes to that stream dropped: a rank whose
 * reader died must not report success mid-run, nor fail a job that is doing its work; its files and exit
 * code are the job's own.
 */
function onStreamError(command: string | undefined) {
  return (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    if (command === undefined || OUTPUT_ONLY.has(command)) process.exit(0);
    // Each later write fails the same way and comes back here: dropped.
  };
}

async function dispatch(command: string | undefined, rest: string[], hooks: CliHooks): Promise<number> {
  switch (command) {
    case 'classify':
      return runClassify(rest);
    case 'evaluate':
      return runEvaluate(rest);
    case 'evaluate-merge':
      return runEvaluateMerge(rest);
    case 'finetune':
      return runFinetune(rest);
    case 'quantize':
      return runQuantize(rest);
    case 'serve':
      return runServe(rest);
    case 'watch':
      return runWatch(rest);
    case 'launch':
      return runLaunch(rest, { script: hooks.launchScript });
    case 'demo':
      return runDemo(rest);
    case '--version':
      console.log(versions.torchvideo);
      return 0;
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(command === undefined ? USAGE : `torchvideo: unknown command '${command}'\n${USAGE}`);
      return 2;
  }
}

/**
 * Runs one command line and sets process.exitCode: the command's code, 2 for a bad command line
 * (RangeError, TypeError), 1 for any other error (its message and code on stderr).
 */
export function cliMain(argv: string[], hooks: CliHooks = {}): Promise<void> {
  const [command, ...rest] = argv;
  for (const stream of [process.stdout, process.stderr]) stream.on('error', onStreamError(command));
  // A rank of `torchvideo launch` stops when its launcher is gone, however the launcher ended.
  watchLauncher();
  return dispatch(command, rest, hooks).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      const code = (error as { code?: string }).code;
      process.stderr.write(`torchvideo: ${message}${code ? ` (${code})` : ''}\n`);
      process.exitCode = error instanceof RangeError || error instanceof TypeError ? 2 : 1;
    },
  );
}
