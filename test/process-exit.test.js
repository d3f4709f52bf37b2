'use strict';
// The process ends with Node's own exit code, never a signal, when it exits while native work runs:
// exit() runs LibTorch's static destructors, so the addon stops its threads first (see
// ThreadPool::quiesce). Each case runs in a child process, several times, since the crash it guards
// against was a race (1-2 runs in 5).
const { spawn } = require('node:child_process');
const t = require('tap');
const { fixture } = require('./helpers/fixtures');
const { ROOT, modelPath } = require('./helpers/paths');

const RUNS = 4;

function runChild(source) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', source], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('exit', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const prelude = `const { loadModel, openVideo, Tensor } = require(${JSON.stringify(ROOT)});`;
const forwards = `
  const model = await loadModel(${JSON.stringify(modelPath('mc3_18'))}, { warmup: false });
  const x = Tensor.from(new Float32Array(4 * 3 * 16 * 112 * 112), [4, 3, 16, 112, 112]);
  model.forward(x);
  model.forward(x);`;

// A forward that outlasts the exit deadline (3 s): the process ends from the 'exit' handler, which Node
// emits before it prints an uncaught exception; the error must still be printed.
const longForward = `
  const model = await loadModel(${JSON.stringify(modelPath('mc3_18'))}, { warmup: false, threads: 1 });
  const x = Tensor.from(new Float32Array(32 * 3 * 16 * 112 * 112), [32, 3, 16, 112, 112]);
  model.forward(x);`;

const CASES = [
  ['an uncaught exception while forwards run', `${forwards}\n  setTimeout(() => { throw new Error('boom'); }, 300);`, 1],
  [
    'an uncaught exception while a forward outlasts the exit deadline: still printed',
    `${longForward}\n  setTimeout(() => { throw new Error('boom'); }, 300);`,
    1,
  ],
  ['process.exit(3) while forwards run', `${forwards}\n  setTimeout(() => process.exit(3), 300);`, 3],
  [
    'process.exit(4) while frames decode',
    `
  const reader = await openVideo(${JSON.stringify(fixture('hd-720p.mp4'))});
  const all = Array.from({ length: reader.info.frameCount }, (_, i) => i);
  for (let i = 0; i < 4; i++) reader.readFrames(all.slice().reverse());
  setTimeout(() => process.exit(4), 150);`,
    4,
  ],
];

for (const [name, body, expected] of CASES) {
  t.test(name, async (t) => {
    const source = `${prelude}\n(async () => {${body}\n})();`;
    for (let run = 0; run < RUNS; run++) {
      const { code, signal, stderr } = await runChild(source);
      t.equal(signal, null, `run ${run + 1}: no signal`);
      t.equal(code, expected, `run ${run + 1}: exit code ${expected}`);
      if (expected === 1) t.match(stderr, /Error: boom/, 'the exception is reported');
    }
  });
}
