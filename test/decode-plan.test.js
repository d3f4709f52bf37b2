// The decode plan: frames no one asked for that no other frame references are not decoded
// (cpp/video/video_decoder.cpp, skip_frame = AVDISCARD_NONREF per packet). Every frame handed out must
// be byte-identical to a full decode; the reference here is reading every frame of the file (nothing
// unwanted, so nothing skipped) and, for damaged files, the same reads with the plan turned off.
'use strict';
const t0 = require('tap');
const { test } = t0;
const fs = require('node:fs');
const path = require('node:path');
const { native } = require('../dist/internal.js');
const { sampleClips } = require('../dist/index.js');
const { fixture } = require('./helpers/fixtures');

const SHARED = path.resolve(__dirname, '..', '..', 'shared', 'videos');
const sharedClips = fs.existsSync(SHARED)
  ? fs
      .readdirSync(SHARED)
      .filter((name) => /\.(mp4|mkv|avi|webm)$/.test(name))
      .map((name) => path.join(SHARED, name))
  : [];

// [fixture, whether the plan skips unwanted frames in it]
const FILES = [
  ['h264-pyramid-10s.mp4', true], // x264 defaults, -bf 3: B-pyramid
  ['h264-pyramid-720p.mp4', true],
  ['h264-open-gop.mp4', true],
  ['h264-8s.mp4', true],
  ['h264.mkv', true],
  ['h264.avi', true],
  ['vfr.mp4', true],
  ['hevc.mp4', true],
  ['mpeg4-bvop.mp4', true], // MPEG-4 Part 2 B-VOPs
  ['mpeg2.ts', true],
  ['xvid.avi', false], // MPEG-4 Part 2 in AVI: left to the full decode (packed bitstreams)
  ['vp9.webm', false],
  ['av1.mkv', false],
  ['mjpeg.avi', false],
];

async function open(file, skipUnwanted = true, threads = 0) {
  return native.VideoReader.open(file, { threads, skipUnwanted });
}

async function frameBytes(reader, indices) {
  const tensor = await reader.readFrames(indices);
  const bytes = Buffer.from(tensor.data());
  tensor.dispose();
  return bytes;
}

// The frame sets a user asks for: evaluation's clips (5 x 16 at 15 fps), training-like random clips,
// sparse strides, single frames far apart, and a run at the very end.
function frameSets(info) {
  const n = info.frameCount;
  const all = [...Array(n).keys()];
  const union = (clips) => [...new Set(clips.flat())].sort((a, b) => a - b);
  return {
    evaluation: union(sampleClips(info, { clipLength: 16, frameRate: 15, clipsPerVideo: 5 })),
    training: union(sampleClips(info, { clipLength: 8, frameRate: 15, clipsPerVideo: 2, mode: 'random', seed: 7 })),
    'every 3rd': all.filter((i) => i % 3 === 0),
    'every 7th + 2': all.filter((i) => i % 7 === 2),
    'far apart': [1, Math.floor(n / 2) + 1, n - 2].filter((i, k, a) => i >= 0 && a.indexOf(i) === k),
    'last 5': all.slice(-5),
  };
}

function firstDifference(expected, got, indices, size) {
  for (let j = 0; j < indices.length; j++) {
    const f = indices[j];
    if (got.compare(expected, f * size, (f + 1) * size, j * size, (j + 1) * size) !== 0) return f;
  }
  return -1;
}

for (const [name, plans] of [...FILES.map(([name, plans]) => [fixture(name), plans]), ...sharedClips.map((file) => [file, undefined])]) {
  test(`${path.basename(name)}: the frames read with the plan are the full decode's, byte for byte`, async (t) => {
    const full = await open(name, false);
    const info = full.info;
    const { frameCount } = info;
    const all = await frameBytes(full, [...Array(frameCount).keys()]);
    const size = all.length / frameCount;
    full.close();
    const sets = frameSets(info);
    const reused = await open(name); // one reader for every set in turn: state carried between reads
    let decodedWithPlan = 0;
    let decodedWithout = 0;
    for (const [label, indices] of Object.entries(sets)) {
      const fresh = await open(name);
      const got = await frameBytes(fresh, indices);
      const differs = firstDifference(all, got, indices, size);
      t.equal(
        differs,
        -1,
        `${label} (${indices.length} of ${frameCount} frames): ${differs < 0 ? 'identical' : `frame ${differs} differs`}`,
      );
      const again = firstDifference(all, await frameBytes(reused, indices), indices, size);
      t.equal(again, -1, `${label}, on a reader that read the sets before: ${again < 0 ? 'identical' : `frame ${again} differs`}`);
      if (plans !== undefined)
        t.equal(fresh.decodeStats.skipsUnwanted, plans, `the plan ${plans ? 'skips' : 'does not skip'} in ${path.basename(name)}`);
      t.equal(fresh.decodeStats.planFallbacks, 0, 'no fallback to the full decode');
      if (label === 'evaluation') {
        const without = await open(name, false);
        await frameBytes(without, indices);
        decodedWithPlan = fresh.decodeStats.framesDecoded;
        decodedWithout = without.decodeStats.framesDecoded;
        without.close();
      }
      fresh.close();
    }
    reused.close();
    if (plans === true)
      t.ok(
        decodedWithPlan < decodedWithout,
        `evaluation's clips: ${decodedWithPlan} frames decoded with the plan, ${decodedWithout} without`,
      );
    if (plans === false) t.equal(decodedWithPlan, decodedWithout, `no plan: ${decodedWithout} frames decoded either way`);
  });
}

test('frames skipped by one read are decoded when a later read wants them', async (t) => {
  const file = fixture('h264-pyramid-10s.mp4');
  const full = await open(file, false);
  const n = full.info.frameCount;
  const all = await frameBytes(full, [...Array(n).keys()]);
  const size = all.length / n;
  full.close();
  const reader = await open(file);
  // The first read passes over the B-frames between 0 and 40 (skipped); the second wants exactly those.
  await frameBytes(reader, [0, 40]);
  const between = [...Array(39).keys()].map((i) => i + 1);
  const got = await frameBytes(reader, between);
  t.equal(firstDifference(all, got, between, size), -1, 'identical to the full decode');
  reader.close();
});

test('a damaged stream: the plan gives what the full decode gives, frames or the same error', async (t) => {
  const file = fixture('h264-damaged.mp4');
  const probe = await open(file, false);
  const sets = frameSets(probe.info);
  probe.close();
  let fallbacks = 0;
  for (const [label, indices] of Object.entries(sets)) {
    const outcome = async (skipUnwanted) => {
      // One decoder thread: with frame threads, what a damaged packet does to the frames after it
      // depends on the threads' timing, with or without the plan.
      const reader = await open(file, skipUnwanted, 1);
      try {
        return { bytes: await frameBytes(reader, indices) };
      } catch (error) {
        return { error: `${error.code}: ${error.message}` };
      } finally {
        if (skipUnwanted) fallbacks += reader.decodeStats.planFallbacks;
        reader.close();
      }
    };
    const [planned, unplanned] = [await outcome(true), await outcome(false)];
    if (unplanned.error) {
      t.equal(planned.error, unplanned.error, `${label}: the same error`);
    } else {
      t.notOk(planned.error, `${label}: frames, as without the plan`);
      t.ok(planned.bytes && planned.bytes.equals(unplanned.bytes), `${label}: identical frames`);
    }
  }
  // The decoder's complaints made the plan give up (and read again in full) where it met the damage.
  t.ok(fallbacks > 0, `the plan gave way to the full decode ${fallbacks} times`);
});
