'use strict';
// sampleClips picks the frames torchvision's VideoClips + UniformClipSampler pick.
const t = require('tap');
const { sampleClips, resampleFrameIndices } = require('..');
const { pythonReference } = require('./helpers/models');

// [frameCount, fps, frameRate, clipLength, clipsPerVideo]: integer and fractional resampling
// steps, NTSC rates, upsampling, short videos, more clips than candidates, no resampling.
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
  [77, 25, 0, 16, 5].map((x, i) => (i === 2 ? null : x)),
];

t.test('uniform clips equal torchvision on every case', async (t) => {
  const reference = pythonReference('ref_sampling.py', ['--cases', JSON.stringify(CASES)]).json;
  CASES.forEach(([frameCount, fps, frameRate, clipLength, clipsPerVideo], i) => {
    const ours = sampleClips({ frameCount, fps }, { frameRate: frameRate ?? 0, clipLength, clipsPerVideo });
    const label = `${frameCount} frames at ${fps.toFixed(2)} fps -> ${frameRate ?? 'native'} fps, ${clipsPerVideo}x${clipLength}`;
    if (reference[i].length === 0) {
      t.equal(ours.length, clipsPerVideo, `${label}: torchvision drops it; we pad`);
    } else {
      t.same(ours, reference[i], label);
    }
  });
});

t.test('a video shorter than one clip gives clips padded with its last frame', async (t) => {
  const clips = sampleClips({ frameCount: 5, fps: 25 }, { clipLength: 16, clipsPerVideo: 2 });
  t.same(clips, [
    [0, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
    [0, 1, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3],
  ]);
  t.same(sampleClips({ frameCount: 1, fps: 60 }, { clipLength: 2, clipsPerVideo: 1 }), [[0, 0]], 'one frame, fewer than a resampling step');
});

t.test('resampleFrameIndices: integer steps slice the whole video', async (t) => {
  t.same(resampleFrameIndices(7, 30, 15), [0, 2, 4, 6], '[::2] keeps ceil(7 / 2) frames');
  t.same(resampleFrameIndices(4, 25, 0), [0, 1, 2, 3], 'frame rate 0 keeps every frame');
  t.same(resampleFrameIndices(5, 25, 15), [0, 1, 3], 'floor(i * 5/3)');
});

t.test('random clips: distinct, reproducible with a seed, within the video', async (t) => {
  const info = { frameCount: 300, fps: 30 };
  const a = sampleClips(info, { mode: 'random', seed: 7, clipsPerVideo: 5 });
  const b = sampleClips(info, { mode: 'random', seed: 7, clipsPerVideo: 5 });
  const c = sampleClips(info, { mode: 'random', seed: 8, clipsPerVideo: 5 });
  t.same(a, b, 'the same seed gives the same clips');
  t.notSame(a, c, 'another seed gives other clips');
  t.equal(new Set(a.map((clip) => clip[0])).size, 5, 'distinct clips');
  const candidates = sampleClips(info, { clipsPerVideo: 1000 });
  const all = new Set(candidates.map((clip) => clip.join(',')));
  t.ok(a.every((clip) => all.has(clip.join(','))), 'each is one of the uniform candidates');
  t.equal(sampleClips({ frameCount: 40, fps: 25 }, { mode: 'random', clipsPerVideo: 50, seed: 1 }).length, 9, 'no more clips than candidates');
});

t.test('bad calls to sampleClips', async (t) => {
  t.throws(() => sampleClips(null), { name: 'TypeError', message: /expected info to be an object with fps and frameCount/ });
  t.throws(() => sampleClips({ frameCount: 10 }), { name: 'TypeError', message: /expected info.fps to be a number/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: -1 }), { name: 'RangeError', message: /expected info.fps to be a positive number/ });
  t.throws(() => sampleClips({ frameCount: 0, fps: 25 }), { name: 'RangeError', message: /info.frameCount .* no frames/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { clipLength: 0 }), { name: 'RangeError', message: /options.clipLength/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { clipsPerVideo: 2.5 }), { name: 'RangeError', message: /options.clipsPerVideo/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { mode: 'dense' }), { name: 'RangeError', message: /expected options.mode to be 'uniform' or 'random', got 'dense'/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { frameRate: '15' }), { name: 'TypeError', message: /options.frameRate/ });
  t.throws(() => sampleClips({ frameCount: 10, fps: 25 }, { seed: -3 }), { name: 'RangeError', message: /options.seed/ });
});
