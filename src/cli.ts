#!/usr/bin/env node
// The `torchvideo` command line.
import { runClassify, CLASSIFY_USAGE } from './cli/classify';
import { runDemo } from './cli/demo';
import { runEvaluate, runEvaluateMerge, EVALUATE_USAGE } from './cli/evaluate';
import { runFinetune, FINETUNE_USAGE } from './cli/finetune';
import { runLaunch, LAUNCH_USAGE } from './cli/launch';
import { runQuantize, QUANTIZE_USAGE } from './cli/quantize';
import { versions } from './versions';

const USAGE = `Usage:
  ${CLASSIFY_USAGE}
  ${EVALUATE_USAGE}
  ${FINETUNE_USAGE}
  ${LAUNCH_USAGE}
  ${QUANTIZE_USAGE}
  torchvideo demo [video...] [--models DIR] [--device cpu|cuda]   classify real video with each network
  torchvideo --version
`;

// A reader that goes away (`torchvideo classify ... | head -1`) closes our stdout: like any Unix tool,
// stop quietly with success. process.exit is safe mid-forward: the addon quiesces its threads first.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0);
    throw error;
  });
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
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
    case 'launch':
      return runLaunch(rest);
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

main(process.argv.slice(2)).then(
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
