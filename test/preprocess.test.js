'use strict';
// preprocess() equals torchvision's VideoClassification on the same frames within 1e-5, on generated
// fixtures (always) and on the real clips in ../shared/videos (when present); in train mode it is
// torchvision's training preset, its crops and flips drawn as RandomCrop and RandomHorizontalFlip draw them.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { openVideo, preprocess, Tensor } = require('..');
const { fixture } = require('./helpers/fixtures');
const { SHARED_VIDEOS, tempDir } = require('./helpers/paths');
const { pythonReference } = require('./helpers/python-reference');
const { maxAbsDiff } = require('./helpers/numbers');

function writeRaw(file, typed) {
  fs.writeFileSync(file, Buffer.from(typed.buffer, typed.byteOffset, typed.byteLength));
}

function referenceOf(frames) {
  const dir = tempDir();
  try {
    const input = path.join(dir, 'frames.bin');
    writeRaw(input, frames.data());
    const { bytes } = pythonReference('ref_preprocess.py', ['--input', input, '--shape', frames.shape.join(',')]);
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Two histograms of the same draws (ours and torchvision's) as one chi-square statistic, with its
// degrees of freedom: bins either sample hit, minus one.
function twoSampleChiSquare(ours, theirs) {
  const counts = new Map();
  for (const v of ours) counts.set(v, [(counts.get(v)?.[0] ?? 0) + 1, counts.get(v)?.[1] ?? 0]);
  for (const v of theirs) counts.set(v, [counts.get(v)?.[0] ?? 0, (counts.get(v)?.[1] ?? 0) + 1]);
  const k1 = Math.sqrt(theirs.length / ours.length),
    k2 = Math.sqrt(ours.length / theirs.length);
  let statistic = 0;
  for (const [a, b] of counts.values()) statistic += (k1 * a - k2 * b) ** 2 / (a + b);
  return { statistic, dof: counts.size - 1 };
}

// The chi-square quantile (Wilson-Hilferty) at z standard deviations: z 4.265 is a 1e-5 false alarm.
function chiSquareCritical(dof, z = 4.265) {
  return dof * (1 - 2 / (9 * dof) + z * Math.sqrt(2 / (9 * dof))) ** 3;
}

// A 128x171 frame (the resize size, so the float resize is exact) whose red channel holds the row and
// green the column: a train-mode clip's first pixels give back its crop's top and left and its flip.
function coordinateFrame() {
  const data = new Uint8Array(128 * 171 * 3);
  for (let y = 0; y < 128; y++) {
    for (let x = 0; x < 171; x++) {
      data[(y * 171 + x) * 3] = y;
      data[(y * 171 + x) * 3 + 1] = x;
    }
  }
  return Tensor.from(data, [1, 128, 171, 3]);
}

const MEAN = [0.43216, 0.394666, 0.37645];
const STD = [0.22803, 0.22145, 0.216989];

function drawOf(clip) {
  const data = clip.data();
  const plane = 112 * 112; // (3, 1, 112, 112): channel c starts at c * plane
  const unnormalize = (v, c) => Math.round((v * STD[c] + MEAN[c]) * 255);
  const top = unnormalize(data[0], 0);
  const first = unnormalize(data[plane], 1);
  const second = unnormalize(data[plane + 1], 1);
  // The flip comes before the crop: a flipped clip's first column is the frame's column 170 - left.
  const flip = second < first;
  return { top, left: flip ? 170 - first : first, flip };
}

// Odd sizes, portrait, 720p (frames decoded in chunks) and the real clips' sizes.
const SOURCES = [
  ['odd-97x61.mp4', fixture],
  ['portrait.mp4', fixture],
  ['hd-720p.mp4', fixture],
];
if (fs.existsSync(SHARED_VIDEOS)) {
  for (const name of fs
    .readdirSync(SHARED_VIDEOS)
    .filter((f) => /\.(mp4|mkv|avi)$/.test(f))
    .sort()) {
    SOURCES.push([name, (file) => path.join(SHARED_VIDEOS, file)]);
  }
}

t.test('the fixtures are the sizes the parity cases are meant to cover', async (t) => {
  const sizes = {};
  for (const name of ['odd-97x61.mp4', 'portrait.mp4', 'hd-720p.mp4']) {
    const reader = await openVideo(fixture(name));
    sizes[name] = [reader.info.width, reader.info.height];
    reader.close();
  }
  t.same(sizes['odd-97x61.mp4'], [97, 61], 'odd width and height');
  t.ok(sizes['portrait.mp4'][1] > sizes['portrait.mp4'][0], `portrait: ${sizes['portrait.mp4']}`);
  t.same(sizes['hd-720p.mp4'], [1280, 720], '720p: large enough that frames are resized in chunks');
});

for (const [name, locate] of SOURCES) {
  t.test(`VideoClassification parity on frames of ${name}`, async (t) => {
    const reader = await openVideo(locate(name));
    const frames = await reader.readFrames([0, 3, 7, Math.min(11, reader.info.frameCount - 1)]);
    reader.close();
    const clip = await preprocess(frames);
    t.same(clip.shape, [3, 4, 112, 112]);
    t.equal(clip.dtype, 'float32');
    const diff = maxAbsDiff(clip.data(), referenceOf(frames));
    t.ok(diff <= 1e-5, `max abs diff ${diff.toExponential(2)} <= 1e-5`);
  });
}

t.test("train mode draws crops and flips as torchvision's RandomCrop and RandomHorizontalFlip do", async (t) => {
  const N = 2000;
  const frame = coordinateFrame();
  const draws = [];
  for (let seed = 0; seed < N; seed++) {
    const clip = await preprocess(frame, { train: true, seed });
    draws.push(drawOf(clip));
    clip.dispose();
  }
  const theirs = pythonReference('ref_random_crop_draws.py', ['--count', String(N)]).json;
  const range = (values) => [Math.min(...values), Math.max(...values)];
  const mean = (values) => values.reduce((a, b) => a + b, 0) / values.length;
  for (const [name, ours, reference] of [
    ['top', draws.map((d) => d.top), theirs.tops],
    ['left', draws.map((d) => d.left), theirs.lefts],
  ]) {
    t.same(range(ours), range(reference), `${name} covers RandomCrop.get_params' range`);
    // Uniform over 0..m: the standard deviation of the mean of N is sqrt(((m + 1)^2 - 1) / 12 / N).
    const m = range(reference)[1];
    const sd = Math.sqrt(((m + 1) ** 2 - 1) / 12 / N);
    t.ok(Math.abs(mean(ours) - m / 2) < 5 * sd, `${name} mean ${mean(ours).toFixed(2)} within 5 sd of ${m / 2}`);
    const { statistic, dof } = twoSampleChiSquare(ours, reference);
    const critical = chiSquareCritical(dof);
    t.ok(
      statistic < critical,
      `${name}: chi-square ${statistic.toFixed(1)} < ${critical.toFixed(1)} (${dof} dof) against torchvision's draws`,
    );
  }
  // Binomial: 4 standard deviations (a 6e-5 false alarm) catch a flip rate 0.045 off 0.5.
  const flips = draws.filter((d) => d.flip).length;
  const sd = Math.sqrt(N * theirs.p * (1 - theirs.p));
  t.ok(Math.abs(flips - N * theirs.p) < 4 * sd, `${flips} flips of ${N}: p ${theirs.p} within ${(4 * sd).toFixed(0)}`);
  t.ok(
    Math.abs(flips - theirs.flips) < 4 * Math.SQRT2 * sd,
    `torchvision's RandomHorizontalFlip flipped ${theirs.flips} of ${N}, within ${(4 * Math.SQRT2 * sd).toFixed(0)}`,
  );

  // The same seed draws the same crop and flip, and gives the same values.
  const again = await preprocess(frame, { train: true, seed: 3 });
  t.same(drawOf(again), draws[3], 'seed 3 again: the same draw');

  // Exactly torchvision's training preset with those draws, on decoded frames: one flipped draw, one not.
  const reader = await openVideo(fixture('h264.mp4'));
  const frames = await reader.readFrames([0, 5, 10]);
  reader.close();
  const seeds = [draws.findIndex((d) => d.flip), draws.findIndex((d) => !d.flip)];
  const clips = [];
  for (const seed of seeds) clips.push(await preprocess(frames, { train: true, seed }));
  t.same(clips[0].shape, [3, 3, 112, 112]);
  t.equal(clips[0].dtype, 'float32');
  const dir = tempDir();
  try {
    const input = path.join(dir, 'frames.bin');
    writeRaw(input, new Uint8Array([...frames.data(), ...frames.data()]));
    const shape = [2, ...frames.shape].join(',');
    const chosen = seeds.map((seed) => draws[seed]);
    const { bytes } = pythonReference('ref_train_preset.py', ['--input', input, '--shape', shape, '--draws', JSON.stringify(chosen)]);
    const expected = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const ours = new Float32Array([...clips[0].data(), ...clips[1].data()]);
    const diff = maxAbsDiff(ours, expected);
    t.ok(
      diff <= 1e-6,
      `seeds ${seeds}: max abs diff ${diff.toExponential(2)} from VideoClassificationPresetTrain with ${JSON.stringify(chosen)}`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
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
  await t.rejects(preprocess(frames, { train: true, seed: 2 ** 32 }), {
    name: 'RangeError',
    message: /expected options.seed to be an integer between 0 and 4294967295/,
  });
  await t.rejects(preprocess(frames, { train: true, preprocessing: { resizeSize: [100, 171] } }), {
    name: 'RangeError',
    message: /expected options.preprocessing.cropSize to be a crop that fits the resized 100x171 frame for training/,
  });
  await t.rejects(preprocess(frames, { preprocessing: { cropSize: [112, 100] } }), { name: 'RangeError', message: /square crop/ });
});
