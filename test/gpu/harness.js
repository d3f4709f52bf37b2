// The harness of the GPU checks, in plain Node (node:assert, no tap: the GPU machine has neither tap nor
// a network to fetch it). Each check prints one `ok` or `FAIL` line with its numbers; a run ends with
// `<label>: N passed, N failed` and exit code 1 when any check failed or the run itself stopped.
'use strict';

function describe(error) {
  if (!(error instanceof Error)) return String(error);
  const text = `${error.code ? `${error.code}: ` : ''}${error.message}`;
  return text.split('\n').join('\n        ');
}

function gpuChecks(label) {
  let passed = 0;
  let failed = 0;
  /** Runs one check; what `run` returns is printed after its name. */
  async function check(name, run) {
    try {
      const detail = await run();
      passed++;
      console.log(`ok    ${name}${detail ? `: ${detail}` : ''}`);
    } catch (error) {
      failed++;
      console.log(`FAIL  ${name}: ${describe(error)}`);
    }
  }
  /** Runs `main`, then prints the summary line and sets the exit code. */
  function run(main) {
    main()
      .catch((error) => {
        failed++;
        console.log(`FAIL  ${label} stopped: ${error.stack || error}`);
      })
      .finally(() => {
        console.log(`${label}: ${passed} passed, ${failed} failed`);
        process.exitCode = failed ? 1 : 0;
      });
  }
  return { check, run };
}

module.exports = { gpuChecks };
