'use strict';
// The addon keeps its state per environment: it loads and runs inside worker_threads, beside the
// main thread, and a worker terminated mid-forward does not take the process down.
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const t = require('tap');
const { loadModel, Tensor } = require('..');
const { modelPath } = require('./helpers/models');

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { loadModel, Tensor, versions } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
(async () => {
  const model = await loadModel(workerData.model, { warmup: false });
  const x = Tensor.from(new Float32Array(3 * 4 * 32 * 32).fill(workerData.fill), [1, 3, 4, 32, 32]);
  const logits = await model.forward(x);
  parentPort.postMessage({ logits: Array.from(logits.data()), arch: model.info.arch, libtorch: versions.libtorch });
  if (workerData.hang) { model.forward(x); model.forward(x); }
})().catch((error) => parentPort.postMessage({ error: error.message }));
`;

function runWorker(data) {
  return new Worker(workerSource, { eval: true, workerData: data });
}

t.test('two workers and the main thread run models at once', async (t) => {
  const fill = 0.25;
  const results = await Promise.all(
    [0, 1].map(
      () =>
        new Promise((resolve, reject) => {
          const worker = runWorker({ model: modelPath('mc3_18'), fill });
          worker.once('message', (message) => {
            worker.terminate().then(() => resolve(message));
          });
          worker.once('error', reject);
        }),
    ),
  );
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const main = await model.forward(Tensor.from(new Float32Array(3 * 4 * 32 * 32).fill(fill), [1, 3, 4, 32, 32]));
  for (const result of results) {
    t.notOk(result.error, 'no error in the worker');
    t.equal(result.arch, 'mc3_18');
    t.same(result.logits, Array.from(main.data()), 'same logits as the main thread');
  }
});

t.test('terminating a worker with forwards in flight', async (t) => {
  const worker = runWorker({ model: modelPath('r3d_18'), fill: 0.5, hang: true });
  await new Promise((resolve) => worker.once('message', resolve));
  const code = await worker.terminate();
  t.equal(code, 1, 'the worker was terminated');
  // The main thread's addon is untouched.
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const out = await model.forward(Tensor.from(new Float32Array(3 * 4 * 32 * 32), [1, 3, 4, 32, 32]));
  t.same(out.shape, [1, 400]);
});
