'use strict';
// Decoded frames equal PyAV's to_ndarray(format='rgb24') frames (what torchvision reads) byte for
// byte, for the containers and codecs Debian's FFmpeg decodes and for the real clips in ../shared.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { openVideo } = require('..');
const { fixture } = require('./helpers/fixtures');
const { SHARED_VIDEOS } = require('./helpers/paths');
const { pythonReference } = require('./helpers/python-reference');

const FIXTURES = [
  ['h264.mp4', 'h264', 320, 240],
  ['h264.mkv', 'h264', 320, 240],
  ['h264.avi', 'h264', 320, 240],
  ['xvid.avi', 'mpeg4', 320, 240],
  ['mpeg4-7s.avi', 'mpeg4', 352, 288],
  ['mjpeg.avi', 'mjpeg', 320, 240],
  ['vp9.webm', 'vp9', 320, 240],
  ['odd-97x61.mp4', 'h264', 97, 61],
  ['portrait.mp4', 'h264', 180, 320],
  ['hd-720p.mp4', 'h264', 1280, 720],
  ['vfr.mp4', 'h264', 320, 240],
  ['h264-37-frames.mkv', 'h264', 320, 240],
  ['really-mp4.avi', 'h264', 320, 240],
  ['five-frames.mp4', 'h264', 320, 240],
];
const NO_SHARED = fs.existsSync(SHARED_VIDEOS) ? false : '../shared/videos is not present';
const SHARED = fs.existsSync(SHARED_VIDEOS)
  ? fs
      .readdirSync(SHARED_VIDEOS)
      .filter((f) => /\.(mp4|mkv|avi)$/.test(f))
      .map((f) => path.join(SHARED_VIDEOS, f))
  : [];

// Start, middle, end, a repeat and an out-of-order pick: seeks back and forth.
function scatteredIndices(frameCount) {
  const last = frameCount - 1;
  return [...new Set([last, 0, Math.floor(last / 2), 1, last - 1, Math.floor(last / 3)])].filter((i) => i >= 0 && i <= last).concat([0]);
}

async function checkAgainstPyAV(t, file, expected = {}) {
  const reader = await openVideo(file);
  const { info } = reader;
  if (expected.codec) t.equal(info.codec, expected.codec, 'codec');
  if (expected.width) t.same([info.width, info.height], [expected.width, expected.height], 'frame size');
  const indices = scatteredIndices(info.frameCount);
  const reference = pythonReference('ref_frames.py', ['--video', file, '--indices', indices.join(',')]);
  t.equal(info.frameCount, reference.json.frameCount, `frameCount ${info.frameCount} equals PyAV's`);
  t.ok(Math.abs(info.fps - reference.json.fps) < 1e-9, `fps ${info.fps} equals PyAV's average_rate`);
  t.ok(info.durationSec > 0, 'has a duration');
  const frames = await reader.readFrames(indices);
  t.same(frames.shape, [indices.length, info.height, info.width, 3]);
  t.equal(frames.dtype, 'uint8');
  const ours = frames.data();
  t.equal(ours.length, reference.bytes.length);
  let differing = 0;
  let maxDiff = 0;
  for (let i = 0; i < ours.length; i++) {
    const diff = Math.abs(ours[i] - reference.bytes[i]);
    if (diff) differing++;
    maxDiff = Math.max(maxDiff, diff);
  }
  t.equal(differing, 0, `frames ${indices.join(',')} identical to PyAV's (max diff ${maxDiff})`);
  reader.close();
}

for (const [name, codec, width, height] of FIXTURES) {
  t.test(`decodes ${name} like PyAV`, (t) => checkAgainstPyAV(t, fixture(name), { codec, width, height }));
}

t.test('the real clips are found when ../shared/videos is present', { skip: NO_SHARED }, async (t) => {
  t.ok(SHARED.length > 0, `${SHARED.length} clips in ${SHARED_VIDEOS}`);
});

for (const file of SHARED) {
  t.test(`decodes the real clip ${path.basename(file)} like PyAV`, (t) => checkAgainstPyAV(t, file));
}

t.test('MKV without a frame count in its header still counts every frame', async (t) => {
  // The recipe writes exactly 37 frames; Matroska stores no count, so it must come from the frames.
  const reader = await openVideo(fixture('h264-37-frames.mkv'));
  t.equal(reader.info.frameCount, 37, 'the 37 frames ffmpeg was asked to write');
  t.same((await reader.readFrames([36])).shape, [1, 240, 320, 3], 'the last one decodes');
  reader.close();
});

const pancake = path.join(SHARED_VIDEOS, 'decord__flipping_a_pancake.mkv');
t.test('the real MKV clip counts the frames its provenance lists', { skip: NO_SHARED }, async (t) => {
  const reader = await openVideo(pancake);
  t.equal(reader.info.frameCount, 310, 'the 310 frames PROVENANCE.md lists');
  reader.close();
});

t.test('reads are rejected after close(), and readFrames checks its indices', async (t) => {
  const reader = await openVideo(fixture('h264.mp4'));
  await t.rejects(reader.readFrames([reader.info.frameCount]), {
    name: 'RangeError',
    message: new RegExp(`expected indices\\[0\\] to be an integer between 0 and ${reader.info.frameCount - 1}`),
  });
  await t.rejects(reader.readFrames([-1]), { name: 'RangeError', message: /indices\[0\]/ });
  await t.rejects(reader.readFrames([1.5]), { name: 'RangeError', message: /indices\[0\]/ });
  await t.rejects(reader.readFrames('0,1'), { name: 'TypeError', message: /expected indices to be an array of frame indices/ });
  await t.rejects(reader.readFrames([]), { name: 'RangeError', message: /expected indices to be a non-empty array/ });
  const pending = reader.readFrames([0, 1, 2]);
  reader.close();
  reader.close();
  t.equal(reader.closed, true);
  t.same((await pending).shape.slice(0, 1), [3], 'a read started before close() finishes');
  await t.rejects(reader.readFrames([0]), { name: 'TorchVideoError', code: 'ERR_DISPOSED', message: /video reader is closed/ });
});
