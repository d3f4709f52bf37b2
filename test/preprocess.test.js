'use strict';
// preprocess() equals torchvision's VideoClassification on the same frames within 1e-5.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { openVideo, preprocess, Tensor } = require('..');
const { fixture } = require('./helpers/fixtures');
const { SHARED_VIDEOS, pythonReference, maxAbsDiff, tempDir } = require('./helpers/models');

async function referenceOf(frames) {
  const dir = tempDir();
  const input = path.join(dir, 'frames.bin');
  const data = frames.data();
  fs.writeFileSync(input, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const { bytes } = pythonReference('ref_preprocess.py', ['--input', input, '--shape', frames.shape.join(',')]);
  fs.rmSync(dir, { recursive: true });
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

const SOURCES = [
  () => fixture('odd-97x61.mp4'),
  () => fixture('portrait.mp4'),
  () => fixture('hd-720p.mp4'),
  () => path.join(SHARED_VIDEOS, 'mmaction2__demo.mp4'),
];

for (const source of SOURCES) {
  t.test(`VideoClassification parity on frames of ${path.basename(source())}`, async (t) => {
    if (!fs.existsSync(source())) return t.skip('../shared/videos is not present');
    const reader = await openVideo(source());
    const frames = await reader.readFrames([0, 3, 7, Math.min(11, reader.info.frameCount - 1)]);
    reader.close();
    const clip = await preprocess(frames);
    t.same(clip.shape, [3, 4, 112, 112]);
    t.equal(clip.dtype, 'float32');
    const diff = maxAbsDiff(clip.data(), await referenceOf(frames));
    t.ok(diff <= 1e-5, `max abs diff ${diff.toExponential(2)} <= 1e-5`);
  });
}

t.test('train mode: a random crop and flip, reproducible with a seed', async (t) => {
  const reader = await openVideo(fixture('h264.mp4'));
  const frames = await reader.readFrames([0, 1, 2, 3]);
  reader.close();
  const a = await preprocess(frames, { train: true, seed: 3 });
  const b = await preprocess(frames, { train: true, seed: 3 });
  t.same(a.shape, [3, 4, 112, 112]);
  t.same(Array.from(a.data()), Array.from(b.data()), 'same seed, same crop and flip');
  const crops = new Set();
  for (let seed = 0; seed < 8; seed++) crops.add(Array.from((await preprocess(frames, { train: true, seed })).data().subarray(0, 64)).join());
  t.ok(crops.size > 1, `different seeds give different crops (${crops.size} distinct of 8)`);
  const evaluation = await preprocess(frames);
  const mean = (x) => x.reduce((s, v) => s + v, 0) / x.length;
  t.ok(Math.abs(mean(a.data()) - mean(evaluation.data())) < 0.5, 'values stay normalized like the eval transform');
});

t.test('bad calls to preprocess', async (t) => {
  const floats = Tensor.from(new Float32Array(2 * 8 * 8 * 3), [2, 8, 8, 3]);
  await t.rejects(preprocess(floats), { name: 'TypeError', message: /frames.*uint8/ });
  await t.rejects(preprocess(Tensor.from(new Uint8Array(8 * 8 * 3), [8, 8, 3])), { name: 'RangeError', message: /frames/ });
  await t.rejects(preprocess(Tensor.from(new Uint8Array(2 * 8 * 8 * 4), [2, 8, 8, 4])), { name: 'RangeError', message: /frames/ });
  await t.rejects(preprocess(Tensor.from(new Uint8Array(0), [0, 8, 8, 3])), { name: 'RangeError', message: /frames/ });
  await t.rejects(preprocess(new Uint8Array(12)), { name: 'TypeError', message: /expected frames to be a Tensor, got a Uint8Array/ });
  const frames = Tensor.from(new Uint8Array(8 * 8 * 3), [1, 8, 8, 3]);
  await t.rejects(preprocess(frames, { train: 'yes' }), { name: 'TypeError', message: /expected options.train to be a boolean/ });
  await t.rejects(preprocess(frames, { seed: -1 }), { name: 'RangeError', message: /expected options.seed to be an integer/ });
  await t.rejects(preprocess(frames, { preprocessing: { cropSize: [112, 100] } }), { name: 'RangeError', message: /square crop/ });
});
