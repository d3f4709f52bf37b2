'use strict';
// AbortSignal on every long call (loadModel, forward, Trainer.step, openVideo, readFrames,
// classifyVideo(s), loadDataset, ProcessGroup.join): an already aborted signal rejects at once with its
// reason and runs nothing; a queued job that is aborted never runs; a running one's result is dropped;
// the listener goes when the call settles. And each CPU model and trainer has its own executor, so a
// training step does not hold back another model's forward.
const fs = require('node:fs');
const path = require('node:path');
const { getEventListeners } = require('node:events');
const t = require('tap');
const { loadModel, Trainer, openVideo, classifyVideo, classifyVideos, loadDataset, ProcessGroup, memory } = require('..');
const { native } = require('../dist/internal.js');
const { intraOpThreadsFor, pipelineSizes } = require('../dist/internal.js');
const { freePort } = require('../dist/internal.js');
const { modelPath, tempDir } = require('./helpers/paths');
const { maxAbsDiff } = require('./helpers/numbers');
const { clipsTensor, labelsTensor } = require('./helpers/training');
const { fixture } = require('./helpers/fixtures');

const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const TINY = [1, 3, 4, 32, 32];
const tinyInput = () => clipsTensor(TINY, 5);
const aborted = (reason) => {
  const controller = new AbortController();
  controller.abort(reason);
  return controller.signal;
};
const isAbortError = (error) => error instanceof Error && error.name === 'AbortError';
// Native results are delivered on later turns of the event loop: wait (bounded) until `check` holds.
async function eventually(check, turns = 200) {
  for (let i = 0; i < turns && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  return check();
}

let model;
t.before(async () => {
  model = await loadModel(modelPath('mc3_18'), { warmup: false, threads: 1 });
});
t.teardown(() => model?.dispose());

t.test('a signal that is not an AbortSignal is a TypeError naming the option', async (t) => {
  const video = fixture('h264.mp4');
  const expected = (what) => ({ name: 'TypeError', message: `expected ${what} to be an AbortSignal, got a Object` });
  await t.rejects(loadModel(modelPath('mc3_18'), { signal: {} }), expected('options.signal'));
  await t.rejects(model.forward(tinyInput(), { signal: {} }), expected('options.signal'));
  await t.rejects(model.forward(tinyInput(), { signal: 'stop' }), {
    name: 'TypeError',
    message: "expected options.signal to be an AbortSignal, got 'stop'",
  });
  await t.rejects(openVideo(video, { signal: {} }), expected('options.signal'));
  const reader = await openVideo(video);
  t.teardown(() => reader.close());
  await t.rejects(reader.readFrames([0], { signal: {} }), expected('options.signal'));
  await t.rejects(classifyVideo(model, video, { signal: {} }), expected('options.signal'));
  await t.rejects(classifyVideos(model, [video], { signal: {} }).next(), expected('options.signal'));
  await t.rejects(loadDataset(dir, { signal: {} }), expected('options.signal'));
  await t.rejects(loadDataset(dir, { onProgress: 1 }), {
    name: 'TypeError',
    message: 'expected options.onProgress to be a function, got number 1',
  });
  await t.rejects(
    ProcessGroup.join({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 1 }, { signal: {} }),
    expected('options.signal'),
  );
  const trainer = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 2, seed: 1 });
  t.teardown(() => trainer.dispose());
  await t.rejects(trainer.step(clipsTensor(), labelsTensor([0, 1]), { signal: {} }), expected('options.signal'));
});

t.test('an aborted signal rejects at once with its reason and runs nothing', async (t) => {
  const reason = new Error('stop now');
  const missing = path.join(dir, 'missing.pt');
  // Work that ran would fail differently (file not found): the reason proves nothing was started.
  await t.rejects(loadModel(missing, { signal: aborted(reason) }), reason);
  await t.rejects(openVideo(path.join(dir, 'missing.mp4'), { signal: aborted(reason) }), reason);
  await t.rejects(classifyVideo(model, path.join(dir, 'missing.mp4'), { signal: aborted(reason) }), reason);
  await t.rejects(loadDataset(path.join(dir, 'no-such-set'), { signal: aborted(reason) }), reason);
  const defaultReason = await model.forward(tinyInput(), { signal: aborted() }).catch((error) => error);
  t.ok(isAbortError(defaultReason), `forward: an AbortError (like fetch) without a reason, got ${defaultReason}`);
  const reader = await openVideo(fixture('h264.mp4'));
  t.teardown(() => reader.close());
  await t.rejects(reader.readFrames([0], { signal: aborted(reason) }), reason);
  const videos = classifyVideos(model, [fixture('h264.mp4')], { signal: aborted(reason) });
  await t.rejects(videos.next(), reason);

  if (ProcessGroup.available) {
    // A 2-rank join whose peer never comes would fail after timeoutMs with ERR_DISTRIBUTED if it ran.
    const masterPort = await freePort();
    await t.rejects(
      ProcessGroup.join({ rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort }, { timeoutMs: 2000, signal: aborted(reason) }),
      reason,
    );
  }

  // An aborted step leaves the weights as they were.
  const trainer = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 2, seed: 3, lr: 0.1 });
  t.teardown(() => trainer.dispose());
  const clips = clipsTensor(undefined, 21);
  const before = (await trainer.predict(clips)).data();
  await t.rejects(trainer.step(clipsTensor(), labelsTensor([0, 1]), { signal: aborted(reason) }), reason);
  t.same((await trainer.predict(clips)).data(), before, 'predict() is unchanged: the step did not run');
});

t.test('a step queued behind another and aborted never runs: the weights are those of the first step alone', async (t) => {
  const create = () => Trainer.create({ model: modelPath('r3d_18'), numClasses: 2, seed: 7, lr: 0.05 });
  const [aborting, once, twice] = await Promise.all([create(), create(), create()]);
  t.teardown(() => [aborting, once, twice].forEach((trainer) => trainer.dispose()));
  const first = [clipsTensor(undefined, 31), labelsTensor([0, 1])];
  const second = [clipsTensor(undefined, 32), labelsTensor([1, 0])];

  const controller = new AbortController();
  const running = aborting.step(...first);
  const queued = aborting.step(...second, { signal: controller.signal });
  // Synchronously after the call: the step is still behind the first one on the trainer's executor.
  controller.abort();
  const settled = [];
  queued.catch(() => settled.push('queued'));
  running.then(() => settled.push('running'));
  const error = await queued.catch((e) => e);
  t.ok(isAbortError(error), `the queued step rejects with an AbortError, got ${error}`);
  t.same(settled, ['queued'], 'it rejects at once, without waiting for the step ahead of it');
  await running;

  await once.step(...first);
  await twice.step(...first);
  await twice.step(...second);
  const clips = clipsTensor(undefined, 33);
  const [a, b, c] = await Promise.all([aborting, once, twice].map(async (trainer) => (await trainer.predict(clips)).data()));
  const sameAsOnce = maxAbsDiff(a, b);
  const differenceOfSecond = maxAbsDiff(b, c);
  t.ok(differenceOfSecond > 1e-3, `the second step changes the logits (max abs diff ${differenceOfSecond.toExponential(2)})`);
  // Relative to the logits' size (an absolute 1e-5 on large logits would test rounding).
  const scale = Math.max(1, ...b.map(Math.abs));
  t.ok(
    sameAsOnce <= 1e-5 * scale,
    `the aborted trainer equals the one that took the first step alone (max abs diff ${sameAsOnce.toExponential(2)}, logits up to ${scale.toFixed(1)})`,
  );
});

t.test('a forward aborted while it runs rejects with an AbortError and its logits are freed', async (t) => {
  const baseline = memory.tensorBytes();
  const input = clipsTensor([2, 3, 8, 56, 56], 41);
  const controller = new AbortController();
  const pending = model.forward(input, { signal: controller.signal });
  setImmediate(() => controller.abort());
  const error = await pending.catch((e) => e);
  t.ok(isAbortError(error), `rejects with an AbortError, got ${error}`);
  // A forward queued after it finishes after it (one executor per model, in order).
  const later = await model.forward(tinyInput());
  later.dispose();
  t.ok(
    await eventually(() => memory.tensorBytes() === baseline),
    `native tensor bytes return to ${baseline}: the dropped logits were disposed`,
  );
  t.same(getEventListeners(controller.signal, 'abort'), [], 'no listener is left on the signal');
});

t.test('one signal over 1000 calls: every listener is removed when its call settles', async (t) => {
  const controller = new AbortController();
  const reader = await openVideo(fixture('h264.mp4'));
  t.teardown(() => reader.close());
  const warnings = [];
  const onWarning = (warning) => warnings.push(warning.name);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  for (let i = 0; i < 1000; i++) (await reader.readFrames([i % 10], { signal: controller.signal })).dispose();
  for (let i = 0; i < 20; i++) (await model.forward(tinyInput(), { signal: controller.signal })).dispose();
  t.same(getEventListeners(controller.signal, 'abort'), [], 'no listener left after 1020 settled calls');
  t.same(warnings, [], 'no MaxListenersExceededWarning');
});

t.test('openVideo, readFrames, classifyVideo(s) and loadModel aborted while running reject with an AbortError', async (t) => {
  const video = fixture('h264.mp4');
  const abortSoon = () => {
    const controller = new AbortController();
    setImmediate(() => controller.abort());
    return controller.signal;
  };
  for (const [name, call] of [
    ['loadModel', () => loadModel(modelPath('mc3_18'), { warmup: false, signal: abortSoon() })],
    ['openVideo', () => openVideo(video, { signal: abortSoon() })],
    ['classifyVideo', () => classifyVideo(model, video, { clipsPerVideo: 2, clipLength: 4, signal: abortSoon() })],
    ['classifyVideos', () => classifyVideos(model, [video, video], { clipsPerVideo: 2, clipLength: 4, signal: abortSoon() }).next()],
  ]) {
    const error = await call().catch((e) => e);
    t.ok(isAbortError(error), `${name}: an AbortError, got ${error}`);
  }
  // classifyVideos: an abort between videos ends the iteration; it is not one video's failure.
  const controller = new AbortController();
  const results = [];
  const iteration = (async () => {
    for await (const result of classifyVideos(model, [video, video, video], {
      clipsPerVideo: 1,
      clipLength: 4,
      signal: controller.signal,
    })) {
      results.push(result);
      controller.abort();
    }
  })();
  const error = await iteration.catch((e) => e);
  t.ok(isAbortError(error), `the iteration throws an AbortError, got ${error}`);
  t.equal(results.length, 1, 'one result before the abort');
  t.notOk(results[0].error, 'the video before the abort is classified');
});

t.test('loadDataset reports its indexing progress, and an abort during it writes no index', async (t) => {
  const data = path.join(dir, 'set');
  for (const [label, video] of [
    ['jump', 'h264.mp4'],
    ['run', 'five-frames.mp4'],
    ['swim', 'h264.mkv'],
  ]) {
    fs.mkdirSync(path.join(data, label), { recursive: true });
    fs.copyFileSync(fixture(video), path.join(data, label, video));
  }
  const abortedIndex = path.join(dir, 'aborted-index.json');
  const controller = new AbortController();
  const seen = [];
  const error = await loadDataset(data, {
    indexPath: abortedIndex,
    signal: controller.signal,
    onProgress: (progress) => {
      seen.push(progress);
      if (progress.done === 1) controller.abort();
    },
  }).catch((e) => e);
  t.ok(isAbortError(error), `an AbortError, got ${error}`);
  t.notOk(fs.existsSync(abortedIndex), 'no index written');
  t.same(seen.slice(0, 2), [
    { done: 0, total: 3, cached: 0 },
    { done: 1, total: 3, cached: 0 },
  ]);

  const indexPath = path.join(dir, 'index.json');
  const first = [];
  const dataset = await loadDataset(data, { indexPath, onProgress: (progress) => first.push(progress) });
  t.equal(dataset.videos.length, 3);
  t.same(
    first,
    [0, 1, 2, 3].map((done) => ({ done, total: 3, cached: 0 })),
    'one report before and one per video read',
  );
  const again = [];
  await loadDataset(data, { indexPath, onProgress: (progress) => again.push(progress) });
  t.same(again, [{ done: 3, total: 3, cached: 3 }], 'a cached index: one report, nothing read');
});

t.test(
  'ProcessGroup.join aborted while it waits for its peers rejects with an AbortError at once',
  { skip: !ProcessGroup.available },
  async (t) => {
    const masterPort = await freePort();
    const controller = new AbortController();
    // The peer never comes: without the abort this rejects with ERR_DISTRIBUTED after the timeout.
    const joining = ProcessGroup.join(
      { rank: 0, worldSize: 2, masterAddr: '127.0.0.1', masterPort },
      { timeoutMs: 3000, signal: controller.signal },
    );
    setTimeout(() => controller.abort(), 50);
    const error = await joining.catch((e) => e);
    t.ok(isAbortError(error), `an AbortError, got ${error}`);
  },
);

t.test('each CPU model and trainer has its own executor: a long step does not hold back another model', async (t) => {
  const before = native.objectExecutorCount();
  const trainer = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 2, seed: 5 });
  t.equal(native.objectExecutorCount(), before + 1, 'the trainer holds one executor');
  const settled = [];
  // A step on 8 frames of 112x112 takes far longer than a forward of 4 frames of 32x32.
  const step = trainer.step(clipsTensor([2, 3, 8, 112, 112], 51), labelsTensor([0, 1])).then(() => settled.push('step'));
  const forward = model.forward(tinyInput()).then((logits) => {
    logits.dispose();
    settled.push('forward');
  });
  await Promise.all([step, forward]);
  t.same(settled, ['forward', 'step'], 'the forward, called after the step, settles first');
  trainer.dispose();
  t.equal(native.objectExecutorCount(), before, 'dispose() gives the executor back');
  const second = await loadModel(modelPath('mc3_18'), { warmup: false });
  t.equal(native.objectExecutorCount(), before + 1, 'a loaded model holds one');
  // Work queued before dispose() still runs.
  const queued = second.forward(tinyInput());
  second.dispose();
  t.same((await queued).shape, [1, 400], 'a forward queued before dispose() completes');
  t.equal(native.objectExecutorCount(), before);
});

t.test("evaluate's intra-op threads: the cores the decode threads leave", async (t) => {
  t.equal(intraOpThreadsFor(16, 8), 8);
  t.equal(intraOpThreadsFor(4, 2), 2);
  t.equal(intraOpThreadsFor(2, 2), 1, 'at least one');
  t.equal(intraOpThreadsFor(16, 15), 1, 'CUDA: one core left to the network');
  for (const cores of [2, 4, 8, 16, 64]) {
    const { decodeThreads } = pipelineSizes({ device: 'cpu', batchSize: 8, clipsPerVideo: 5, cores });
    const threads = intraOpThreadsFor(cores, decodeThreads);
    t.ok(
      threads + decodeThreads <= Math.max(cores, decodeThreads + 1),
      `${cores} cores: ${decodeThreads} decode + ${threads} intra-op threads`,
    );
  }
});
