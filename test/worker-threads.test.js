'use strict';
// The addon keeps its state per environment: it loads and runs inside worker_threads while the main
// thread runs its own model, and a worker terminated mid-forward does not take the process down.
const path = require('node:path');
const { Worker } = require('node:worker_threads');
const t = require('tap');
const { loadModel, Tensor } = require('..');
const { modelPath } = require('./helpers/paths');
const { randomFloats } = require('./helpers/numbers');

// A worker loads its model, says 'ready' and waits for 'go' (when a gate is asked for), then says
// 'started' just before its forward and posts the logits.
const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { loadModel, Tensor } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
(async () => {
  const model = await loadModel(workerData.model, { warmup: false });
  const x = Tensor.from(workerData.input, workerData.shape);
  if (workerData.gate) {
    const go = new Promise((resolve) => parentPort.once('message', resolve));
    parentPort.postMessage({ type: 'ready' });
    await go;
  }
  parentPort.postMessage({ type: 'started' });
  const logits = await model.forward(x);
  parentPort.postMessage({ type: 'result', logits: Array.from(logits.data()), shape: logits.shape, arch: model.info.arch });
  if (workerData.hang) { model.forward(x); model.forward(x); }
})().catch((error) => parentPort.postMessage({ type: 'error', error: error.message }));
`;

function runWorker(data) {
  return new Worker(workerSource, { eval: true, workerData: data });
}

// A promise with its resolve/reject outside (Promise.withResolvers is Node >= 22). A rejection nobody
// awaits (a worker that fails after its result) is not an unhandled one.
function deferred() {
  const d = {};
  d.promise = new Promise((resolve, reject) => Object.assign(d, { resolve, reject }));
  d.promise.catch(() => {});
  return d;
}

// Records each message of a worker in `events` and resolves it by type; an error, an 'error' message
// or an early exit rejects whatever is still waiting.
function track(worker, name, events) {
  const waiting = { ready: deferred(), started: deferred(), result: deferred() };
  const failAll = (error) => Object.values(waiting).forEach((w) => w.reject(error));
  worker.on('message', (message) => {
    events.push(`${name} ${message.type}`);
    if (message.type === 'error') failAll(new Error(`${name}: ${message.error}`));
    else waiting[message.type].resolve(message);
  });
  worker.once('error', failAll);
  worker.once('exit', (code) => failAll(new Error(`${name} exited with code ${code}`)));
  return { ready: waiting.ready.promise, result: waiting.result.promise };
}

t.test('two workers run models while the main thread runs its own', async (t) => {
  // A full-size clip: each forward takes long enough (hundreds of ms) for the three to overlap.
  const shape = [1, 3, 16, 112, 112];
  const input = randomFloats(
    shape.reduce((a, b) => a * b, 1),
    11,
  );
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const events = [];
  const workers = [0, 1].map(() => runWorker({ model: modelPath('mc3_18'), input, shape, gate: true }));
  t.teardown(() => Promise.all(workers.map((w) => w.terminate())));
  const tracked = workers.map((worker, i) => track(worker, `worker${i}`, events));
  await Promise.all(tracked.map((w) => w.ready));

  // The main forward is in flight before the workers are told to start theirs.
  events.push('main started');
  const mainForward = model.forward(Tensor.from(input, shape)).then((logits) => {
    events.push('main done');
    return logits;
  });
  for (const worker of workers) worker.postMessage('go');
  const [main, ...results] = await Promise.all([mainForward, ...tracked.map((w) => w.result)]);
  t.comment(`order: ${events.join(', ')}`);

  const at = (event) => events.indexOf(event);
  for (const [i, result] of results.entries()) {
    t.ok(at('main started') < at(`worker${i} result`), `the main forward started before worker${i}'s result came back`);
    t.ok(at(`worker${i} started`) < at('main done'), `worker${i} started its forward while the main forward ran`);
    t.equal(result.arch, 'mc3_18');
    t.same(result.shape, [1, 400]);
    t.same(result.logits, Array.from(main.data()), `worker${i}'s logits equal the main thread's`);
  }
  model.dispose();
});

t.test('terminating a worker with forwards in flight', async (t) => {
  const shape = [1, 3, 4, 32, 32];
  const worker = runWorker({ model: modelPath('r3d_18'), input: new Float32Array(3 * 4 * 32 * 32).fill(0.5), shape, hang: true });
  const result = await new Promise((resolve, reject) => {
    worker.on('message', (message) => message.type !== 'started' && resolve(message));
    worker.once('error', reject);
  });
  t.equal(result.type, 'result', result.error);
  const code = await worker.terminate();
  t.equal(code, 1, 'the worker was terminated');
  // The main thread's addon is untouched.
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const out = await model.forward(Tensor.from(new Float32Array(3 * 4 * 32 * 32), [1, 3, 4, 32, 32]));
  t.same(out.shape, [1, 400]);
});
