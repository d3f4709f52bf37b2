#!/usr/bin/env node
// Clips of a labelled video set for scripts/export_models.py --calibrate DATA (int8 calibration and the
// held-out agreement check), read through torchvideo itself — its decoder, clip sampling and
// preprocessing — so the int8 ranges are fitted to exactly what the network gets at run time.
//
//   node scripts/calibration-clips.js DATA --clips N --out FILE.bin [--model export.pt] [--seed S]
//
// DATA is anything loadDataset reads (a folder root/<class>/<video>, a CSV/TSV with path,label, a list
// file). The preprocessing is --model's sidecar's (torchvision's preset without --model). Clips go round
// the classes in turn, each class's videos in a seeded random order, one random clip per video per
// round: the first clips come from as many videos and classes as there are, and clips taken later
// (export_models.py's held-out clips) come from other videos while the set has enough of them.
// Writes float32 (N, 3, T, H, W) in the machine's byte order to FILE.bin and prints one JSON line:
// {"shape": [N, 3, T, H, W], "dtype": "float32", "videos": distinct videos, "clips": [{"video", "frames"}]}.
// Errors: one line on stderr, exit code 2.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const { loadDataset, sampleClips, openVideo } = require(ROOT);
const { readSidecar, DEFAULT_PREPROCESSING } = require(path.join(ROOT, 'dist', 'internal.js'));
const { nativePreprocessOptions, readClipBatch } = require(path.join(ROOT, 'dist', 'internal.js'));
// mulberry32, sampleClips' own seeded generator: the same seed picks the same clips on every machine.
const { seededRandom } = require(path.join(ROOT, 'dist', 'internal.js'));

const USAGE = 'usage: node scripts/calibration-clips.js DATA --clips N --out FILE.bin [--model export.pt] [--seed S]';

class UsageError extends Error {}

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { clips: { type: 'string' }, out: { type: 'string' }, model: { type: 'string' }, seed: { type: 'string', default: '0' } },
  });
  if (positionals.length !== 1) throw new UsageError(`expected one DATA argument, got ${positionals.length}`);
  const clips = Number(values.clips);
  if (!Number.isInteger(clips) || clips < 1) throw new UsageError(`--clips must be an integer >= 1, got ${values.clips}`);
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new UsageError(`--seed must be an integer >= 0, got ${values.seed}`);
  if (!values.out) throw new UsageError('--out FILE.bin is required');
  return { data: positionals[0], clips, seed, out: values.out, model: values.model };
}

function shuffled(items, random) {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

// Videos in the order clips are taken: round-robin over the classes, so a few clips already span them.
function videoOrder(videos, seed) {
  const random = seededRandom(seed);
  const byLabel = new Map();
  for (const video of videos) {
    const key = String(video.label);
    if (!byLabel.has(key)) byLabel.set(key, []);
    byLabel.get(key).push(video);
  }
  const queues = [...byLabel.keys()].sort().map((key) => shuffled(byLabel.get(key), random));
  const order = [];
  for (let i = 0; order.length < videos.length; i++) {
    for (const queue of queues) if (i < queue.length) order.push(queue[i]);
  }
  return order;
}

// `count` (video, frame indices) picks: one random clip per video per round, rounds until enough.
function pickClips(order, count, preprocessing, seed) {
  const random = seededRandom(seed ^ 0x5eed);
  const picks = [];
  for (let round = 0; picks.length < count; round++) {
    for (let i = 0; i < order.length && picks.length < count; i++) {
      const [frames] = sampleClips(order[i].info, {
        clipLength: preprocessing.clipLength,
        frameRate: preprocessing.frameRate,
        clipsPerVideo: 1,
        mode: 'random',
        seed: Math.floor(random() * 2 ** 31),
      });
      picks.push({ video: order[i], frames });
    }
  }
  return picks;
}

// Decodes each video's picks in one batch and writes every clip at its own place in the file.
async function writeClips(picks, preprocess, fd, clipBytes) {
  const byVideo = new Map();
  picks.forEach((pick, index) => {
    if (!byVideo.has(pick.video.path)) byVideo.set(pick.video.path, []);
    byVideo.get(pick.video.path).push({ frames: pick.frames, index });
  });
  for (const [file, entries] of byVideo) {
    const reader = await openVideo(file);
    try {
      const batch = await readClipBatch(
        reader,
        entries.map((e) => e.frames),
        preprocess,
      );
      const data = batch.data();
      entries.forEach((entry, k) => {
        const bytes = Buffer.from(data.buffer, data.byteOffset + k * clipBytes, clipBytes);
        fs.writeSync(fd, bytes, 0, clipBytes, entry.index * clipBytes);
      });
      batch.dispose();
    } finally {
      reader.close();
    }
  }
}

async function main(argv) {
  const args = parse(argv);
  const sidecar = args.model === undefined ? undefined : readSidecar(args.model);
  if (args.model !== undefined && sidecar === undefined) throw new Error(`${args.model} has no sidecar: its preprocessing is unknown`);
  const preprocessing = sidecar?.preprocessing ?? { ...DEFAULT_PREPROCESSING };
  const dataset = await loadDataset(args.data);
  for (const failed of dataset.failed) process.stderr.write(`calibration-clips.js: skipping ${failed.path}: ${failed.error}\n`);
  if (dataset.videos.length === 0) throw new Error(`no readable videos in ${args.data}`);

  const picks = pickClips(videoOrder(dataset.videos, args.seed), args.clips, preprocessing, args.seed);
  const [crop] = preprocessing.cropSize;
  const shape = [args.clips, 3, preprocessing.clipLength, crop, crop];
  const clipBytes = 4 * shape.slice(1).reduce((a, b) => a * b, 1);
  const fd = fs.openSync(args.out, 'w');
  try {
    await writeClips(picks, nativePreprocessOptions({ preprocessing }), fd, clipBytes);
  } finally {
    fs.closeSync(fd);
  }
  const root = fs.statSync(args.data).isDirectory() ? args.data : path.dirname(args.data);
  const clips = picks.map((p) => ({ video: path.relative(root, p.video.path), frames: [p.frames[0], p.frames[p.frames.length - 1]] }));
  const videos = new Set(picks.map((p) => p.video.path)).size;
  process.stdout.write(`${JSON.stringify({ shape, dtype: 'float32', videos, clips })}\n`);
}

main(process.argv.slice(2)).catch((error) => {
  const message = error instanceof UsageError ? `${error.message}\n${USAGE}` : error.message;
  process.stderr.write(`calibration-clips.js: error: ${message}\n`);
  process.exitCode = 2;
});
