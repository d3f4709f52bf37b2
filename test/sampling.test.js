'use strict';
// sampleClips picks the frames torchvision's VideoClips + UniformClipSampler pick.
const t = require('tap');
const { sampleClips, resampleFrameIndices } = require('..');
const { pythonReference } = require('./helpers/python-reference');

// [frameCount, fps, frameRate, clipLength, clipsPerVideo]: integer and fractional resampling
// steps, NTSC rates, upsampling, short videos, more clips than candidates, no resampling (null),
// and videos shorter than one clip (torchvision drops them).
const CASES = [
  [280, 28, 15, 16, 5],
  [164, 25, 15, 16, 5],
  [300, 30, 15, 16, 5],
  [310, 30, 15, 16, 5],
  [241, 25, 15, 16, 5],
  [1000, 29.97002997002997, 15, 16, 5],
  [500, 23.976023976023978, 15, 16, 7],
  [91, 59.94005994005994, 15, 16, 3],
  [60, 12, 15, 16, 5],
  [40, 25, 15, 16, 5],
  [33, 30, 15, 16, 10],
  [300, 30, 15, 8, 1],
  [120, 24, 24, 16, 4],
  [77, 25, null, 16, 5],
  [7, 30, 15, 16, 3],
  [5, 25, 15, 16, 2],
  [1, 60, 15, 2, 1],
  [4, 25, null, 16, 1],
];
const label = ([frameCount, fps, frameRate, clipLength, clipsPerVideo]) =>
  `${frameCount} frames at ${fps.toFixed(2)} fps -> ${frameRate ?? 'native'} fps, ${clipsPerVideo}x${clipLength}`;

// torchvision's answer for every case, computed once: { resampled, candidates, clips } per case.
let reference;
const torchvision = () => (reference ??= pythonReference('ref_sampling.py', ['--cases', JSON.stringify(CASES)]).json);
const referenceOf = (frameCount, fps, frameRate, clipLength) =>
  torchvision()[CASES.findIndex((c) => c[0] === frameCount && c[1] === fps && c[2] === frameRate && c[3] === clipLength)];

t.test('uniform clips equal torchvision on every case', async (t) => {
  CASES.forEach((testCase, i) => {
    const [frameCount, fps, frameRate, clipLength, clipsPerVideo] = testCase;
    const ours = sampleClips({ frameCount, fps }, { frameRate: frameRate ?? 0, clipLength, clipsPerVideo });
    const { resampled, clips } = torchvision()[i];
    if (clips.length === 0) {
      // torchvision drops a video shorter than one clip; torchvideo pads torchvision's resampled
      // frames with the last one and repeats that clip.
      const padded = Array.from({ length: clipLength }, (_, j) => resampled[Math.min(j, resampled.length - 1)]);
      t.same(ours, Array(clipsPerVideo).fill(padded), `${label(testCase)}: torchvision drops it; padded with the last frame`);
    } else {
      t.same(ours, clips, label(testCase));
    }
  });
  t.ok(
    torchvision().some((r) => r.clips.length === 0),
    'the cases include videos torchvision drops',
  );
});

t.test("resampleFrameIndices equals torchvision's resampling on every case", async (t) => {
  CASES.forEach((testCase, i) => {
    const [frameCount, fps, frameRate] = testCase;
    t.same(resampleFrameIndices(frameCount, fps, frameRate ?? 0), torchvision()[i].resampled, label(testCase));
  });
});

t.test("random clips: distinct, reproducible with a seed, among torchvision's candidates", async (t) => {
  const info = { frameCount: 300, fps: 30 };
  const a = sampleClips(info, { mode: 'random', seed: 7, clipsPerVideo: 5 });
  const b = sampleClips(info, { mode: 'random', seed: 7, clipsPerVideo: 5 });
  const c = sampleClips(info, { mode: 'random', seed: 8, clipsPerVideo: 5 });
  t.same(a, b, 'the same seed gives the same clips');
  t.notSame(a, c, 'another seed gives other clips');
  t.equal(new Set(a.map((clip) => clip.join(','))).size, 5, 'distinct clips');
  const candidates = new Set(referenceOf(300, 30, 15, 16).candidates.map((clip) => clip.join(',')));
  for (const seed of [7, 8, 9]) {
    const clips = sampleClips(info, { mode: 'random', seed, clipsPerVideo: 5 });
    t.ok(
      clips.every((clip) => candidates.has(clip.join(','))),
      `seed ${seed}: each clip is one of torchvision's ${candidates.size} windows`,
    );
  }
  // RandomClipSampler takes min(candidates, clipsPerVideo): all of them, each once, when asked for more.
  const short = referenceOf(40, 25, 15, 16).candidates.map((clip) => clip.join(','));
  const all = sampleClips({ frameCount: 40, fps: 25 }, { mode: 'random', clipsPerVideo: 50, seed: 1 }).map((clip) => clip.join(','));
  t.same([...all].sort(), [...short].sort(), `asked for 50 of ${short.length} candidates: every candidate once`);
});

t.test('bad calls to sampleClips', async (t) => {
  t.throws(() => sampleClips(null), { name: 'TypeError', message: /expected info to be an object with fps and frameCount/ });
  t.throws(() => sampleClips({ frameCount: 10 }), { name: 'TypeError', message: /expected info.fps to be a number/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: -1 }), { name: 'RangeError', message: /expected info.fps to be a positive number/ });
  t.throws(() => sampleClips({ frameCount: 0, fps: 25 }), { name: 'RangeError', message: /info.frameCount .* no frames/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { clipLength: 0 }), { name: 'RangeError', message: /options.clipLength/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { clipsPerVideo: 2.5 }), {
    name: 'RangeError',
    message: /options.clipsPerVideo/,
  });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { mode: 'dense' }), {
    name: 'RangeError',
    message: /expected options.mode to be 'uniform' or 'random', got 'dense'/,
  });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { frameRate: '15' }), { name: 'TypeError', message: /options.frameRate/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { seed: -3 }), { name: 'RangeError', message: /options.seed/ });
});
