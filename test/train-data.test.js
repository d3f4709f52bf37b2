'use strict';
// The training data as torchvision's train.py makes it: VideoClips' windows (every clipLength frames at
// frameRate, step 1) against torchvision's own VideoClips, RandomClipSampler's per-video counts and
// shuffle from (seed, epoch), and the training preset (float resize, flip, normalize, crop) against
// torchvision's functional ops in the preset's order with the same draws.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { openVideo } = require('..');
const { fixture } = require('./helpers/fixtures');
const { ROOT, SHARED_VIDEOS, tempDir } = require('./helpers/paths');
const { pythonReference } = require('./helpers/python-reference');
const { maxAbsDiff } = require('./helpers/numbers');
const { windowCount, trainingEpoch, EpochRandom } = require(path.join(ROOT, 'dist', 'internal.js'));
const { readClipBatch, nativePreprocessOptions } = require(path.join(ROOT, 'dist', 'internal.js'));

const root = tempDir('torchvideo-train-data-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

const VIDEOS = ['h264-8s.mp4', 'mpeg4-7s.avi', 'vp9.webm', 'five-frames.mp4'].map((name) => fixture(name));
const SHARED = path.join(SHARED_VIDEOS, 'mmaction2__test.avi');
if (fs.existsSync(SHARED)) VIDEOS.push(SHARED);
const RESIZE = [128, 171];
const CROP = 112;

t.test("windows per video equal torchvision's VideoClips", async (t) => {
  const { json: ref } = pythonReference('ref_video_clips.py', ['--videos', VIDEOS.join(','), '--clip-len', '16', '--frame-rate', '15']);
  for (const [i, file] of VIDEOS.entries()) {
    const reader = await openVideo(file);
    t.equal(windowCount(reader.info, 16, 15), ref.windows[i], `${path.basename(file)}: ${ref.windows[i]} windows`);
    if (ref.windows[i] > 0) {
      const [first] = trainingEpoch([reader.info], {
        clipLength: 16,
        frameRate: 15,
        clipsPerVideo: ref.windows[i],
        resizeSize: RESIZE,
        cropSize: CROP,
        seed: 1,
        epoch: 0,
      })
        .map((clip) => clip.frames)
        .sort((a, b) => a[0] - b[0]);
      t.same(first, ref.first[i], `${path.basename(file)}: the first window's frames`);
    }
    reader.close();
  }
  t.ok(
    ref.windows.some((n) => n === 0),
    'a video shorter than one clip has none',
  );
});

t.test('an epoch: min(windows, clipsPerVideo) distinct windows per video, shuffled, replayable from (seed, epoch)', async (t) => {
  const videos = [
    { frameCount: 300, fps: 30 },
    { frameCount: 40, fps: 15 },
    { frameCount: 10, fps: 15 },
    { frameCount: 17, fps: 15 },
  ];
  const options = { clipLength: 16, frameRate: 15, clipsPerVideo: 5, resizeSize: RESIZE, cropSize: CROP, seed: 7, epoch: 3 };
  const epoch = trainingEpoch(videos, options);
  const perVideo = videos.map((_, v) => epoch.filter((clip) => clip.video === v));
  t.same(
    perVideo.map((clips) => clips.length),
    [5, 5, 0, 2],
    'min(windows, 5) clips each',
  );
  for (const clips of perVideo) {
    const starts = clips.map((clip) => clip.frames[0]);
    t.equal(new Set(starts).size, starts.length, 'distinct windows of a video');
  }
  t.ok(
    epoch.some((clip, i) => i > 0 && clip.video < epoch[i - 1].video),
    'clips of different videos are interleaved (shuffled), not in video order',
  );
  t.same(trainingEpoch(videos, options), epoch, 'the same (seed, epoch): the same clips and draws');
  t.notSame(trainingEpoch(videos, { ...options, epoch: 4 }), epoch, 'another epoch: other clips');
  t.notSame(trainingEpoch(videos, { ...options, seed: 8 }), epoch, 'another seed: other clips');
  const many = trainingEpoch([{ frameCount: 3000, fps: 15 }], { ...options, clipsPerVideo: 400 });
  t.ok(
    many.every(({ draw }) => draw.top >= 0 && draw.top <= RESIZE[0] - CROP && draw.left >= 0 && draw.left <= RESIZE[1] - CROP),
    'crops inside the resized frame',
  );
  const flips = many.filter(({ draw }) => draw.flip).length;
  t.ok(flips > 150 && flips < 250, `about half the clips flipped (${flips} of 400)`);
  const tops = new Set(many.map(({ draw }) => draw.top));
  t.equal(tops.size, RESIZE[0] - CROP + 1, 'every top offset is drawn');
  const random = new EpochRandom(1, 0);
  t.same(
    random.permutation(10).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    'permutations are permutations',
  );
});

t.test("the training preset equals torchvision's with the same draws", async (t) => {
  const file = fixture('h264-8s.mp4');
  const reader = await openVideo(file);
  t.teardown(() => reader.close());
  const clips = trainingEpoch([reader.info], {
    clipLength: 8,
    frameRate: 15,
    clipsPerVideo: 3,
    resizeSize: RESIZE,
    cropSize: CROP,
    seed: 5,
    epoch: 0,
  });
  const draws = [{ top: 0, left: 0, flip: false }, { top: RESIZE[0] - CROP, left: RESIZE[1] - CROP, flip: true }, clips[2].draw];
  const options = { ...nativePreprocessOptions(), trainDraws: draws };
  const batch = await readClipBatch(
    reader,
    clips.map((clip) => clip.frames),
    options,
  );
  t.same(batch.shape, [3, 3, 8, CROP, CROP], 'float32 (N, 3, T, 112, 112)');
  const frames = [];
  for (const clip of clips) {
    const tensor = await reader.readFrames(clip.frames);
    frames.push(Buffer.from(tensor.data().buffer, tensor.data().byteOffset, tensor.data().byteLength));
    t.same(tensor.shape.slice(0, 1), [8]);
    tensor.dispose();
  }
  const input = path.join(root, 'frames.bin');
  fs.writeFileSync(input, Buffer.concat(frames));
  const { bytes } = pythonReference('ref_train_preset.py', [
    '--input',
    input,
    '--shape',
    [3, 8, reader.info.height, reader.info.width, 3].join(','),
    '--draws',
    JSON.stringify(draws),
  ]);
  const expected = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const diff = maxAbsDiff(batch.data(), expected);
  t.ok(diff <= 1e-6, `max abs diff ${diff.toExponential(2)} (float resize, no rounding; flip before crop)`);
  batch.dispose();

  await t.rejects(readClipBatch(reader, [clips[0].frames, clips[1].frames], { ...options, trainDraws: draws }), {
    name: 'RangeError',
    message: /expected one training draw per clip: 2 clips, 3 draws/,
  });
  await t.rejects(readClipBatch(reader, [clips[0].frames], { ...options, trainDraws: [{ top: 17, left: 0, flip: false }] }), {
    name: 'RangeError',
    message: /training draw 0 crops 112x112 at \(17, 0\), outside the resized 128x171 frame/,
  });
  await t.rejects(readClipBatch(reader, [clips[0].frames], { ...options, trainDraws: [{ top: 0, left: 0 }] }), {
    name: 'TypeError',
    message: /expected options.trainDraws\[0\] to have top, left and flip/,
  });
});
