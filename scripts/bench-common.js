'use strict';
// What the parts of `npm run bench` share (scripts/bench.js drives them: bench-cpu.js, bench-gpu.js,
// bench-video.js, bench-training.js): paths, the clip shape, timing, table cells, PyTorch's side
// (scripts/bench_python.py) and the bench's H.264 videos. Loads neither the addon nor Python: the driver
// prints --help before anything loads.
//
// `config` (made by bench.js from its flags): { args (the parsed flags), device, onGpu, archs, batches,
// iters, warmup, precisions, python }.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const MODELS = path.join(ROOT, 'models');
const BENCH_DIR = path.join(ROOT, 'bench-out');
const CLIP = [3, 16, 112, 112];
const THREADS = os.availableParallelism();

// A bad flag (or --device naming no usable device): one line naming it, exit code 2.
function usageError(message) {
  console.error(`bench.js: ${message}`);
  process.exit(2);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const clipElements = CLIP.reduce((a, b) => a * b, 1);
function randomInput(batch) {
  const data = new Float32Array(batch * clipElements);
  for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
  return data;
}

// ms per clip: the median of config.iters calls after config.warmup untimed ones, divided by the batch.
async function timeIt(config, run, batch) {
  for (let i = 0; i < config.warmup; i++) await run();
  const times = [];
  for (let i = 0; i < config.iters; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times) / batch;
}

// Runs scripts/bench_python.py on the same exports, networks, batches and iterations; `extra` adds
// the mode/device arguments of each caller. Returns its JSON.
function runBenchPython(config, extra) {
  const common = [
    '--models',
    MODELS,
    '--arch',
    config.archs.join(','),
    '--batch',
    config.batches.join(','),
    '--iters',
    String(config.iters),
  ];
  const out = execFileSync(config.python, [path.join(ROOT, 'scripts', 'bench_python.py'), ...common, ...extra, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 2 ** 20,
  });
  return JSON.parse(out);
}

// Table cells: ms/clip on CPU, ms/clip on a GPU (a few hundredths to tens of milliseconds), a ratio.
const fmt = (ms) => (ms === undefined ? '—' : ms.toFixed(1));
const fmtGpu = (ms) => (ms === undefined ? '—' : ms < 10 ? ms.toFixed(3) : ms.toFixed(1));
const ratio = (a, b) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}x`);

// Prints a header and rows of string cells, each column right-aligned to its widest cell.
function printTable(header, lines) {
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const print = (cells) => console.log(cells.map((c, i) => c.padStart(widths[i])).join('  '));
  print(header);
  lines.forEach(print);
}

// H.264 videos of 10 s at 30 fps, made with the ffmpeg CLI the first time.
function benchVideoFile(width, height) {
  const file = path.join(BENCH_DIR, `h264-${width}x${height}.mp4`);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(BENCH_DIR, { recursive: true });
    execFileSync('ffmpeg', [
      '-v',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${width}x${height}:rate=30:duration=10`,
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv420p',
      '-g',
      '30',
      file,
    ]);
  }
  return file;
}

// The evaluation rows' set (and the training-data row's): 6 copies of the 320x240 video in 3 classes.
function evaluationSet() {
  const VIDEOS = 6;
  const data = path.join(BENCH_DIR, 'eval-set');
  const file = benchVideoFile(320, 240);
  for (let i = 0; i < VIDEOS; i++) {
    const dir = path.join(data, ['abseiling', 'archery', 'zumba'][i % 3]);
    fs.mkdirSync(dir, { recursive: true });
    if (!fs.existsSync(path.join(dir, `v${i}.mp4`))) fs.copyFileSync(file, path.join(dir, `v${i}.mp4`));
  }
  return data;
}

module.exports = {
  ROOT,
  MODELS,
  BENCH_DIR,
  CLIP,
  THREADS,
  usageError,
  clipElements,
  median,
  randomInput,
  timeIt,
  runBenchPython,
  fmt,
  fmtGpu,
  ratio,
  printTable,
  benchVideoFile,
  evaluationSet,
};
