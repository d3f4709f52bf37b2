'use strict';
// A trainer lives in its own environment: one in a worker_thread trains while the main thread's
// trains, the two give the same result for the same start, and a worker terminated with steps still
// queued does not take the process down.
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const t = require('tap');
const { Trainer } = require('..');
const { modelPath } = require('./helpers/paths');
const { clipsTensor, labelsTensor } = require('./helpers/training');

const OPTIONS = { model: modelPath('r3d_18'), numClasses: 5, seed: 8, lr: 0.1 };
const LABELS = [2, 4];

// Makes a trainer, posts 'ready', then runs `steps` steps on the shared small batch and posts their
// losses; with `queue`, it posts 'queued' right after calling them all without awaiting any.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { Trainer } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
const { clipsTensor, labelsTensor } = require(${JSON.stringify(path.join(__dirname, 'helpers', 'training'))});
(async () => {
  const trainer = await Trainer.create(workerData.options);
  parentPort.postMessage({ type: 'ready' });
  const clips = clipsTensor();
  const labels = labelsTensor(workerData.labels);
  const pending = [];
  for (let i = 0; i < workerData.steps; i++) pending.push(trainer.step(clips, labels));
  if (workerData.queue) parentPort.postMessage({ type: 'queued' });
  const results = await Promise.all(pending);
  parentPort.postMessage({ type: 'losses', losses: results.map((r) => r.loss) });
})().catch((error) => parentPort.postMessage({ type: 'error', error: error.message }));
`;

function waitFor(worker, type) {
  return new Promise((resolve, reject) => {
    worker.on('message', (message) => {
      if (message.type === type) resolve(message);
      if (message.type === 'error') reject(new Error(message.error));
    });
    worker.once('error', reject);
  });
}

t.test('a worker trains beside the main thread, with the same result', async (t) => {
  const worker = new Worker(workerSource, { eval: true, workerData: { options: OPTIONS, labels: LABELS, steps: 2 } });
  const fromWorker = waitFor(worker, 'losses');
  const trainer = await Trainer.create(OPTIONS);
  t.teardown(() => trainer.dispose());
  const clips = clipsTensor();
  const labels = labelsTensor(LABELS);
  const losses = [];
  for (let i = 0; i < 2; i++) losses.push((await trainer.step(clips, labels)).loss);
  const { losses: workerLosses } = await fromWorker;
  t.same(workerLosses, losses, `the same losses in the worker and on the main thread (${losses.map((l) => l.toFixed(4)).join(', ')})`);
  await worker.terminate();
});

t.test('a worker terminated with steps queued leaves the process running', async (t) => {
  const worker = new Worker(workerSource, { eval: true, workerData: { options: OPTIONS, labels: LABELS, steps: 4, queue: true } });
  await waitFor(worker, 'queued');
  const code = await worker.terminate();
  t.equal(code, 1, 'terminated');
  const trainer = await Trainer.create(OPTIONS);
  const { loss } = await trainer.step(clipsTensor(), labelsTensor(LABELS));
  trainer.dispose();
  t.ok(Number.isFinite(loss), 'the main thread trains on afterwards');
});
