// classifyVideo, classifyVideos and evaluate take a Batcher where they take a Model: concurrent
// classifications share forward passes, and every answer equals the one the model alone gives.
'use strict';
const tap = require('tap');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { loadModel, classifyVideo, classifyVideos, evaluate } = require('../dist/index.js');
const { PYTHON } = require('./helpers/python-reference');
const { ROOT, tempDir } = require('./helpers/paths');
const { fixture, classFolderSet } = require('./helpers/fixtures');

const dir = tempDir('torchvideo-batcher-classify-');
const PICKY = path.join(dir, 'picky.pt');
execFileSync(PYTHON, [path.join(ROOT, 'test', 'py', 'make_picky_classifier.py'), '--out', PICKY]);
// Its 7 classes named so that classFolderSet's labels are classes of it.
const LABELS = ['abseiling', 'archery', 'bowling', 'cooking', 'dancing', 'swimming', 'zumba'];
fs.writeFileSync(path.join(dir, 'picky.json'), JSON.stringify({ labels: LABELS }));
tap.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

function sameTop(t, actual, expected, what) {
  t.same(
    actual.top.map((p) => p.index),
    expected.top.map((p) => p.index),
    `${what}: the same classes`,
  );
  const diff = Math.max(...actual.top.map((p, i) => Math.abs(p.score - expected.top[i].score)));
  t.ok(diff <= 1e-6, `${what}: scores within 1e-6 (${diff})`);
  t.equal(actual.clips, expected.clips);
}

tap.test('classifyVideo through a batcher equals classifyVideo on the model; concurrent ones share batches', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  // This small network runs a clip faster than one decodes: a delay lets the clips of the four
  // videos meet (with none, each would run as it comes, which is right for a busy device).
  const batcher = model.batcher({ maxBatchSize: 8, maxDelayMs: 200 });
  const videos = [fixture('h264-8s.mp4'), fixture('h264.mp4'), fixture('vp9.webm'), fixture('mpeg4-7s.avi')];
  const alone = [];
  for (const video of videos) alone.push(await classifyVideo(model, video, { topk: 3 }));
  const shared = await Promise.all(videos.map((video) => classifyVideo(batcher, video, { topk: 3 })));
  videos.forEach((video, i) => sameTop(t, shared[i], alone[i], path.basename(video)));
  const stats = batcher.stats();
  t.equal(stats.clips, 20, '5 clips of each of 4 videos');
  t.ok(stats.batches < 20, `the clips shared forward passes (${stats.batches} for 20 clips)`);
  // A batch size that a batcher cannot take is refused, naming its maxBatchSize.
  await t.rejects(classifyVideo(batcher, videos[0], { batchSize: 9 }), {
    name: 'RangeError',
    message: "expected options.batchSize to be at most the batcher's maxBatchSize 8, got 9",
  });
  await t.rejects(classifyVideo('model', videos[0]), {
    name: 'TypeError',
    message: "expected model to be a Model or a Batcher, got 'model'",
  });
  await batcher.close();
  model.dispose();
});

tap.test('classifyVideos through a batcher: the same results, a bad file is its own entry', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 4 });
  const paths = [fixture('h264.mp4'), fixture('text.mp4'), fixture('h264.mkv')];
  const alone = [];
  for await (const result of classifyVideos(model, paths, { clipsPerVideo: 3 })) alone.push(result);
  const shared = [];
  for await (const result of classifyVideos(batcher, paths, { clipsPerVideo: 3 })) shared.push(result);
  t.equal(shared[1].error?.code, alone[1].error?.code);
  t.match(shared[1].error?.code, /^ERR_VIDEO_/);
  sameTop(t, shared[0], alone[0], 'h264.mp4');
  sameTop(t, shared[2], alone[2], 'h264.mkv');
  await batcher.close();
  model.dispose();
});

tap.test('evaluate through a batcher reports what evaluate on the model reports', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 8 });
  const data = classFolderSet(path.join(dir, 'set'));
  const options = { data, clipsPerVideo: 2, batchSize: 4 };
  const alone = await evaluate({ model, ...options });
  const shared = await evaluate({ model: batcher, ...options });
  t.same(
    shared.predictions.map((p) => p.path),
    alone.predictions.map((p) => p.path),
  );
  for (const [i, prediction] of shared.predictions.entries()) {
    const diff = Math.max(...prediction.probs.map((p, c) => Math.abs(p - alone.predictions[i].probs[c])));
    t.ok(diff <= 1e-6, `${path.basename(prediction.path)}: probabilities within 1e-6 (${diff})`);
    t.same([prediction.clipHits1, prediction.clipHits5], [alone.predictions[i].clipHits1, alone.predictions[i].clipHits5]);
  }
  for (const key of ['clipAcc1', 'clipAcc5', 'videoAcc1', 'videoAcc5', 'clips', 'videos']) t.equal(shared[key], alone[key], key);
  t.same(shared.failed, alone.failed);
  t.equal(shared.failed.length, 1, 'text.mp4 failed in both');
  t.ok(batcher.stats().clips > 0, 'the job ran through the batcher');
  await t.rejects(evaluate({ model: batcher, data, batchSize: 4, crops: 3 }), {
    name: 'RangeError',
    message: "expected options.batchSize * options.crops to be at most the batcher's maxBatchSize 8, got 4 * 3",
  });
  await t.rejects(evaluate({ model: batcher, data, preprocessOn: 'device' }), {
    name: 'RangeError',
    message: /expected options.preprocessOn to be 'host' with a Batcher/,
  });
  await batcher.close();
  model.dispose();
});
