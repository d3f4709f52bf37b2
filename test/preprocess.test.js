'use strict';
// preprocess() equals torchvision's VideoClassification on the same frames within 1e-5, on generated
// fixtures (always) and on the real clips in ../shared/videos (when present); in train mode its crop
// and flip are one of torchvision's crop/flip candidates.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { openVideo, preprocess, Tensor } = require('..');
const { fixture } = require('./helpers/fixtures');
const { SHARED_VIDEOS, pythonReference, maxAbsDiff, tempDir } = require('./helpers/models');

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

// Which (top, left, flip) candidates of torchvision's crop + hflip equal each train-mode clip.
function identifyCrops(frames, clips) {
  const dir = tempDir();
  try {
    const input = path.join(dir, 'frames.bin');
    const outputs = path.join(dir, 'clips.bin');
    writeRaw(input, frames.data());
    const joined = new Float32Array(clips.reduce((n, clip) => n + clip.data().length, 0));
    clips.reduce((offset, clip) => (joined.set(clip.data(), offset), offset + clip.data().length), 0);
    writeRaw(outputs, joined);
    const args = ['--input', input, '--shape', frames.shape.join(','), '--outputs', outputs, '--count', String(clips.length)];
    return pythonReference('ref_preprocess_train.py', args).json;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
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

t.test('there are parity cases to run', async (t) => {
  t.ok(SOURCES.length >= 3, `${SOURCES.length} videos (3 fixtures${SOURCES.length > 3 ? ' + shared clips' : ''})`);
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

t.test("train mode: each seed's crop and flip is one of torchvision's, reproducibly", async (t) => {
  const reader = await openVideo(fixture('h264.mp4'));
  const frames = await reader.readFrames([0, 5, 10]);
  reader.close();
  const seeds = Array.from({ length: 16 }, (_, seed) => seed);
  const clips = [];
  for (const seed of seeds) clips.push(await preprocess(frames, { train: true, seed }));
  const again = await preprocess(frames, { train: true, seed: 3 });
  t.same(clips[0].shape, [3, 3, 112, 112]);
  t.equal(clips[0].dtype, 'float32');

  const { candidates, matches, closest } = identifyCrops(frames, [...clips, again]);
  t.equal(candidates, (128 - 112 + 1) * (171 - 112 + 1) * 2, 'every top, left and flip was tried');
  const chosen = matches.map((found, i) => {
    const best = closest[i];
    t.equal(
      found.length,
      1,
      `seed ${i < seeds.length ? seeds[i] : '3 again'}: exactly one candidate within 1e-5 (closest: top ${best.top}, left ${best.left}, flip ${best.flip}, max abs diff ${best.maxDiff.toExponential(2)})`,
    );
    return found.length === 1 ? `${found[0].top},${found[0].left},${found[0].flip}` : null;
  });
  t.equal(chosen[seeds.length], chosen[3], 'the same seed gives the same crop and flip');
  t.same(Array.from(again.data()), Array.from(clips[3].data()), 'the same seed gives the same values');
  const firstEight = new Set(chosen.slice(0, 8));
  t.ok(firstEight.size > 1, `8 seeds give ${firstEight.size} distinct crops`);
  const flips = new Set(
    matches
      .slice(0, seeds.length)
      .flat()
      .map((m) => m.flip),
  );
  t.same([...flips].sort(), [false, true], '16 seeds flip some clips and not others');
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
