'use strict';
// The command line shared by the benchmark parts that also run on their own (bench-precision.js,
// bench-scaling.js): --arch, --batch, --iters, and --json FILE for the result; a failure prints the
// error and exits 1. --help / -h prints the usage and exits 0 (usageIfAsked: before anything loads).
const fs = require('node:fs');
const { parseArgs } = require('node:util');

/**
 * When the command line asks for help (--help or -h among the arguments), prints `usage` and exits 0:
 * called at the top of a bench script, before it loads the addon, a model or Python.
 */
function usageIfAsked(usage, argv = process.argv.slice(2)) {
  if (!argv.some((arg) => arg === '--help' || arg === '-h')) return;
  process.stdout.write(`Usage: ${usage}\n`);
  process.exit(0);
}

/** Runs `bench(toOptions(values))` with the parsed flags (strings, or undefined where not given). */
function runAlone(bench, toOptions) {
  const { values } = parseArgs({
    options: { arch: { type: 'string' }, batch: { type: 'string' }, iters: { type: 'string' }, json: { type: 'string' } },
  });
  const number = (text) => (text === undefined ? undefined : Number(text));
  bench(toOptions(values, number)).then(
    (result) => values.json && fs.writeFileSync(values.json, JSON.stringify(result, null, 2)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

module.exports = { runAlone, usageIfAsked };
