#!/usr/bin/env node
// The decode plan's rows: decode-only clips/s for evaluation's sampling (5 clips x 16 frames at 15 fps),
// with the plan (unwanted non-reference frames not decoded) beside the full decode between keyframes
// (skipUnwanted: false, what every read did before), on the shared clips where they exist and on
// ffmpeg-made 10 s 30 fps H.264 files at 320x240 and 1280x720 (x264 defaults with -bf 3, and one without
// B-frames, where the plan must cost nothing). Per file: the share of its frames decoded each way, and
// whether the plan applied (a codec it cannot plan, or a fall back to the full decode, is counted).
//
// What is timed, both ways alike: opening the file with its cached frame index (as evaluation's index
// cache does) and one readFrames of the clips' frames, on one decoder thread (evaluation decodes many
// files side by side, one thread each). Median of --reps runs, the two ways interleaved.
//
//   node scripts/bench-decode.js [--reps 7] [--json FILE]      (npm run bench runs it too; --no-decode-plan skips it)
'use strict';
if (require.main === module) {
  require('./bench-alone').usageIfAsked('node scripts/bench-decode.js [--reps 7] [--json FILE]');
}
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const { native } = require(path.join(ROOT, 'dist', 'internal.js'));
const { sampleClips } = require(ROOT);
const OUT = path.join(ROOT, 'bench-out', 'decode');
const SHARED = path.resolve(ROOT, '..', 'shared', 'videos');

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

// 10 s at 30 fps of testsrc2, H.264 with x264's defaults (B-pyramid, 250-frame GOPs) and `bframes` B-frames.
function madeVideo(width, height, bframes) {
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `h264-${width}x${height}-bf${bframes}.mp4`);
  if (!fs.existsSync(file)) {
    const temporary = `${file}.tmp.mp4`;
    execFileSync('ffmpeg', [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30:duration=10`],
      ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-bf', String(bframes), temporary],
    ]);
    fs.renameSync(temporary, file);
  }
  return file;
}

function benchFiles() {
  const files = [];
  if (fs.existsSync(SHARED)) {
    for (const name of fs.readdirSync(SHARED).sort()) if (/\.(mp4|mkv|avi|webm)$/.test(name)) files.push(path.join(SHARED, name));
  }
  files.push(madeVideo(320, 240, 3), madeVideo(1280, 720, 3), madeVideo(320, 240, 0));
  return files;
}

// Frames of each picture type, from ffprobe: how much a plan can leave out.
function pictureTypes(file) {
  const out = execFileSync(
    'ffprobe',
    ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'frame=pict_type', '-of', 'csv=p=0', file],
    {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    },
  );
  const counts = { I: 0, P: 0, B: 0 };
  for (const line of out.split('\n')) {
    const type = line.trim().replace(/,$/, '');
    if (type in counts) counts[type]++;
  }
  return counts;
}

async function timeRead(file, frameIndex, wanted, skipUnwanted) {
  const started = performance.now();
  const reader = await native.VideoReader.open(file, { threads: 1, frameIndex, skipUnwanted });
  const frames = await reader.readFrames(wanted);
  const ms = performance.now() - started;
  frames.dispose();
  const stats = reader.decodeStats;
  reader.close();
  return { ms, stats };
}

async function benchDecodePlan({ reps = 7 } = {}) {
  console.log("Decode plan: evaluation's sampling (5 clips x 16 frames at 15 fps), decode only, one decoder thread");
  console.log(`median of ${reps} runs; plan = unwanted non-reference frames not decoded, full = every frame between keyframes\n`);
  const rows = [];
  for (const file of benchFiles()) {
    const probe = await native.VideoReader.open(file, { threads: 1 });
    const info = probe.info;
    const frameIndex = probe.frameIndex;
    probe.close();
    const clips = sampleClips(info, { clipLength: 16, frameRate: 15, clipsPerVideo: 5 });
    const wanted = [...new Set(clips.flat())].sort((a, b) => a - b);
    const times = { plan: [], full: [] };
    const stats = {};
    await timeRead(file, frameIndex, wanted, true); // warm the page cache and the decoder's code
    for (let r = 0; r < reps; r++) {
      for (const [mode, skip] of r % 2
        ? [
            ['full', false],
            ['plan', true],
          ]
        : [
            ['plan', true],
            ['full', false],
          ]) {
        const run = await timeRead(file, frameIndex, wanted, skip);
        times[mode].push(run.ms);
        stats[mode] = run.stats;
      }
    }
    const types = pictureTypes(file);
    const planMs = median(times.plan);
    const fullMs = median(times.full);
    rows.push({
      video: path.basename(file),
      codec: info.codec,
      size: `${info.width}x${info.height}`,
      frames: info.frameCount,
      pictureTypes: types,
      wanted: wanted.length,
      planned: stats.plan.skipsUnwanted || stats.plan.planFallbacks > 0,
      fallbacks: stats.plan.planFallbacks,
      decodedPlan: stats.plan.framesDecoded,
      decodedFull: stats.full.framesDecoded,
      clipsPerSecondPlan: (clips.length / planMs) * 1000,
      clipsPerSecondFull: (clips.length / fullMs) * 1000,
      speedup: fullMs / planMs,
    });
  }
  console.log('| video | codec | size | I/P/B | wanted | plan | decoded: plan / full | clips/s plan | clips/s full | plan / full |');
  console.log('|---|---|---|---|--:|---|--:|--:|--:|--:|');
  for (const r of rows) {
    const share = (n) => `${n} (${Math.round((100 * n) / r.frames)} %)`;
    const plan = r.fallbacks > 0 ? `fell back ×${r.fallbacks}` : r.planned ? 'yes' : 'no (codec)';
    console.log(
      `| ${r.video} | ${r.codec} | ${r.size} | ${r.pictureTypes.I}/${r.pictureTypes.P}/${r.pictureTypes.B} | ${r.wanted} of ${r.frames} | ${plan} | ` +
        `${share(r.decodedPlan)} / ${share(r.decodedFull)} | ${r.clipsPerSecondPlan.toFixed(1)} | ${r.clipsPerSecondFull.toFixed(1)} | ${r.speedup.toFixed(2)}x |`,
    );
  }
  const notPlanned = rows.filter((r) => !r.planned || r.fallbacks > 0).length;
  console.log(`\nfiles decoded in full (codec not planned, or fallen back): ${notPlanned} of ${rows.length}`);
  return rows;
}

module.exports = { benchDecodePlan };

if (require.main === module) {
  const { values } = parseArgs({ options: { reps: { type: 'string' }, json: { type: 'string' } } });
  benchDecodePlan({ reps: values.reps === undefined ? undefined : Number(values.reps) }).then(
    (rows) => values.json && fs.writeFileSync(values.json, JSON.stringify(rows, null, 2)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
