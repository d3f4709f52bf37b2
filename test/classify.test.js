'use strict';
// classifyVideo's full probability vector equals torchvision's pipeline (PyAV decode, VideoClips
// resampling, UniformClipSampler, VideoClassification, the same export, mean softmax) within 1e-6,
// on generated fixtures (always) and on the real clips in ../shared/videos (when present).
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadModel, classifyVideo, classifyVideos, openVideo, TorchVideoError } = require('..');
const { fixture } = require('./helpers/fixtures');
const { SHARED_VIDEOS, modelPath } = require('./helpers/paths');
const { pythonReference } = require('./helpers/python-reference');
const { maxAbsDiff } = require('./helpers/numbers');

// The probabilities of a random-weight network are all near 1/400 = 2.5e-3; the two pipelines agree
// to ~1e-9, so 1e-6 still catches a different frame, crop or clip (1e-4 would not).
const TOLERANCE = 1e-6;

// [arch, file name, where it comes from]: a fixture is made when its test runs. Fixtures cover the
// three networks on H.264, MPEG-4 in AVI at 29.97 fps and 720p; the real clips are added when present.
const shared = (name) => path.join(SHARED_VIDEOS, name);
const CASES = [
  ['r2plus1d_18', 'h264-8s.mp4', fixture],
  ['r3d_18', 'mpeg4-7s.avi', fixture],
  ['mc3_18', 'hd-720p-7s.mp4', fixture],
];
if (fs.existsSync(SHARED_VIDEOS)) {
  CASES.push(
    ['r2plus1d_18', 'mmaction2__demo.mp4', shared],
    ['r3d_18', 'mmaction2__test.avi', shared],
    ['mc3_18', 'askanything__making_cake.mp4', shared],
  );
}

function fullVector(result, numClasses) {
  const probabilities = new Float32Array(numClasses);
  for (const p of result.top) probabilities[p.index] = p.score;
  return probabilities;
}

t.test('the fixtures are the codecs, rates and sizes the parity cases are meant to cover', async (t) => {
  const infoOf = async (name) => {
    const reader = await openVideo(fixture(name));
    const { info } = reader;
    reader.close();
    return info;
  };
  t.match(await infoOf('h264-8s.mp4'), { codec: 'h264' });
  const avi = await infoOf('mpeg4-7s.avi');
  t.equal(avi.codec, 'mpeg4');
  t.ok(Math.abs(avi.fps - 30000 / 1001) < 1e-3, `29.97 fps (resampled to 15 with drops), got ${avi.fps}`);
  t.match(await infoOf('hd-720p-7s.mp4'), { width: 1280, height: 720 });
});

for (const [arch, name, locate] of CASES) {
  t.test(`${arch} on ${name} equals torchvision's pipeline`, async (t) => {
    const video = locate(name);
    const model = await loadModel(modelPath(arch), { warmup: false });
    const result = await classifyVideo(model, video, { topk: 400 });
    t.equal(result.clips, 5);
    t.equal(result.top.length, 400, 'topk = all classes gives the whole vector');
    const sum = result.top.reduce((total, p) => total + p.score, 0);
    t.ok(Math.abs(sum - 1) < 1e-5, `probabilities sum to 1 (${sum})`);
    t.ok(
      result.top.every((p, i) => i === 0 || result.top[i - 1].score >= p.score),
      'best first',
    );
    t.same(
      result.top.map((p) => p.label),
      result.top.map((p) => model.info.labels[p.index]),
      'labels from the sidecar',
    );

    const { json, bytes } = pythonReference('ref_classify.py', ['--model', modelPath(arch), '--video', video]);
    t.equal(json.clips, 5, 'torchvision samples 5 clips too');
    const reference = new Float32Array(bytes.buffer, bytes.byteOffset, 400);
    const diff = maxAbsDiff(fullVector(result, 400), reference);
    t.ok(diff <= TOLERANCE, `max abs diff ${diff.toExponential(2)} <= ${TOLERANCE.toExponential()}`);

    const batched = await classifyVideo(model, video, { topk: 400, batchSize: 5 });
    const batchedDiff = maxAbsDiff(fullVector(batched, 400), reference);
    t.ok(
      batchedDiff <= TOLERANCE,
      `all 5 clips in one batch: max abs diff ${batchedDiff.toExponential(2)} <= ${TOLERANCE.toExponential()}`,
    );
    model.dispose();
  });
}

t.test('classifyVideos yields in input order and goes on past bad files', async (t) => {
  const model = await loadModel(modelPath('mc3_18'));
  const paths = [fixture('h264.mp4'), fixture('text.mp4'), '/no/such/video.mp4', fixture('five-frames.mp4'), fixture('vp9.webm')];
  const results = [];
  for await (const result of classifyVideos(model, paths, { topk: 2, clipsPerVideo: 3 })) results.push(result);
  t.same(
    results.map((r) => r.path),
    paths,
    'one entry per path, in order',
  );
  t.equal(results[1].error.code, 'ERR_VIDEO_OPEN');
  t.ok(results[1].error instanceof TorchVideoError);
  t.equal(results[2].error.code, 'ERR_FILE_NOT_FOUND');
  for (const i of [0, 3, 4]) {
    t.notOk(results[i].error, `${path.basename(paths[i])} classified`);
    t.equal(results[i].clips, 3);
    t.equal(results[i].top.length, 2);
  }
  // classifyVideo itself is checked against torchvision above; classifyVideos must agree with it.
  for (const i of [0, 3, 4]) {
    const single = await classifyVideo(model, paths[i], { topk: 2, clipsPerVideo: 3 });
    t.same(results[i].top, single.top, `${path.basename(paths[i])}: the same answer as classifyVideo`);
  }
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
  // As evaluate refuses it: 0 is no rate to resample to.
  await t.rejects(classifyVideo(model, video, { frameRate: 0 }), {
    name: 'RangeError',
    message: 'expected options.frameRate to be a positive number, got number 0',
  });
  await t.rejects(classifyVideo(model, fixture('audio-only.m4a')), { name: 'TorchVideoError', code: 'ERR_NO_VIDEO_STREAM' });
  await t.rejects(classifyVideos(model, 'a.mp4').next(), { name: 'TypeError', message: /expected paths to be an iterable of paths/ });
  await t.rejects(classifyVideos(model, [video, 3]).next(), { name: 'TypeError', message: /expected paths\[1\] to be a string/ });
  model.dispose();
  await t.rejects(classifyVideo(model, video), { code: 'ERR_DISPOSED' });
});
