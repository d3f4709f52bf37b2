'use strict';
// classifyVideo's full probability vector equals torchvision's pipeline (PyAV decode, VideoClips
// resampling, UniformClipSampler, VideoClassification, the same export, mean softmax) within 1e-4.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadModel, classifyVideo, classifyVideos, TorchVideoError } = require('..');
const { fixture } = require('./helpers/fixtures');
const { SHARED_VIDEOS, modelPath, pythonReference, maxAbsDiff } = require('./helpers/models');

const CASES = [
  ['r2plus1d_18', path.join(SHARED_VIDEOS, 'mmaction2__demo.mp4')],
  ['r3d_18', path.join(SHARED_VIDEOS, 'mmaction2__test.avi')],
  ['mc3_18', path.join(SHARED_VIDEOS, 'askanything__making_cake.mp4')],
];

function fullVector(result, numClasses) {
  const probabilities = new Float32Array(numClasses);
  for (const p of result.top) probabilities[p.index] = p.score;
  return probabilities;
}

for (const [arch, video] of CASES) {
  t.test(`${arch} on ${path.basename(video)} equals torchvision's pipeline`, async (t) => {
    if (!fs.existsSync(video)) return t.skip('../shared/videos is not present');
    const model = await loadModel(modelPath(arch));
    const result = await classifyVideo(model, video, { topk: 400 });
    t.equal(result.clips, 5);
    t.equal(result.top.length, 400, 'topk = all classes gives the whole vector');
    const sum = result.top.reduce((s, p) => s + p.score, 0);
    t.ok(Math.abs(sum - 1) < 1e-5, 'probabilities sum to 1');
    t.ok(result.top.every((p, i) => i === 0 || result.top[i - 1].score >= p.score), 'best first');
    const { json, bytes } = pythonReference('ref_classify.py', ['--model', modelPath(arch), '--video', video]);
    t.equal(json.clips, 5);
    const reference = new Float32Array(bytes.buffer, bytes.byteOffset, 400);
    const diff = maxAbsDiff(fullVector(result, 400), reference);
    t.ok(diff <= 1e-4, `max abs diff ${diff.toExponential(2)} <= 1e-4`);
    const top = await classifyVideo(model, video, { topk: 3, batchSize: 5 });
    t.same(top.top.map((p) => p.index), result.top.slice(0, 3).map((p) => p.index), 'batching does not change the answer');
    t.same(top.top.map((p) => p.label), top.top.map((p) => model.info.labels[p.index]), 'labels from the sidecar');
    model.dispose();
  });
}

t.test('classifyVideos yields in input order and goes on past bad files', async (t) => {
  const model = await loadModel(modelPath('mc3_18'));
  const paths = [fixture('h264.mp4'), fixture('text.mp4'), '/no/such/video.mp4', fixture('five-frames.mp4'), fixture('vp9.webm')];
  const results = [];
  for await (const result of classifyVideos(model, paths, { topk: 2, clipsPerVideo: 3 })) results.push(result);
  t.same(results.map((r) => r.path), paths, 'one entry per path, in order');
  t.equal(results[1].error.code, 'ERR_VIDEO_OPEN');
  t.ok(results[1].error instanceof TorchVideoError);
  t.equal(results[2].error.code, 'ERR_FILE_NOT_FOUND');
  for (const i of [0, 3, 4]) {
    t.notOk(results[i].error, `${path.basename(paths[i])} classified`);
    t.equal(results[i].clips, 3);
    t.equal(results[i].top.length, 2);
  }
  const single = await classifyVideo(model, fixture('h264.mp4'), { topk: 2, clipsPerVideo: 3 });
  t.same(results[0].top, single.top, 'the same answer as classifyVideo');
});

t.test('bad calls to classifyVideo and classifyVideos', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const video = fixture('h264.mp4');
  await t.rejects(classifyVideo({}, video), { name: 'TypeError', message: /expected model to be a Model/ });
  await t.rejects(classifyVideo(model, 7), { name: 'TypeError', message: /expected path to be a string/ });
  await t.rejects(classifyVideo(model, video, { clipsPerVideo: 0 }), { name: 'RangeError', message: /options.clipsPerVideo/ });
  await t.rejects(classifyVideo(model, video, { topk: -1 }), { name: 'RangeError', message: /options.topk/ });
  await t.rejects(classifyVideo(model, video, { batchSize: 'all' }), { name: 'TypeError', message: /options.batchSize/ });
  await t.rejects(classifyVideo(model, video, { frameRate: -5 }), { name: 'RangeError', message: /options.frameRate/ });
  await t.rejects(classifyVideo(model, fixture('audio-only.m4a')), { name: 'TorchVideoError', code: 'ERR_NO_VIDEO_STREAM' });
  await t.rejects(classifyVideos(model, 'a.mp4').next(), { name: 'TypeError', message: /expected paths to be an iterable of paths/ });
  await t.rejects(classifyVideos(model, [video, 3]).next(), { name: 'TypeError', message: /expected paths\[1\] to be a string/ });
  model.dispose();
  await t.rejects(classifyVideo(model, video), { code: 'ERR_DISPOSED' });
});
