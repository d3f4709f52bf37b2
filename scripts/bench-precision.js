#!/usr/bin/env node
// Low-precision CPU inference, side by side: ms/clip of each network's float32, bf16 and int8 exports
// (scripts/export_models.py --precision) and of the float32 export converted to bf16 at load
// (loadModel(path, { precision: 'bf16' })), through torchvideo beside PyTorch on the same files
// (scripts/bench_python.py --modes optimized), at batch 1 and 8, 16x112x112. Prints torchvideo / PyTorch
// (target <= 1.0x) and each precision's speed-up over float32 (targets: int8 >= 3.5x, bf16 >= 1.7x).
//
//   node scripts/bench-precision.js [--arch r3d_18,mc3_18,r2plus1d_18] [--batch 1,8] [--iters 3] [--json FILE]
// (npm run bench runs it too; --no-precision skips it there.)
//
// The exports are made once into bench-out/precision/ from the seed's random weights, int8 calibrated on
// random clips: speed does not depend on what the weights learned. Agreement does: when the demo's
// fine-tuned network is there (demo-out/finetune/best.pt, from `npm run demo`), it is converted too (int8
// calibrated on the demo's training set) and each precision's top-1 agreement with float32 is reported on
// the demo's validation clips (decoded and preprocessed by torchvideo) and videos.
'use strict';
if (require.main === module) {
  require('./bench-alone').usageIfAsked(
    'node scripts/bench-precision.js [--arch r3d_18,mc3_18,r2plus1d_18] [--batch 1,8] [--iters 3] [--json FILE]',
  );
}
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { loadModel, Tensor } = require(ROOT);
const OUT = path.join(ROOT, 'bench-out', 'precision');
const PYTHON = process.env.PYTHON || '/usr/bin/python3';
const CLIP = [3, 16, 112, 112];
// The int8 export's arguments (bench-streams.js reuses the same file).
const INT8_EXPORT_ARGS = ['--precision', 'int8', '--calibrate', 'random', '--calibration-clips', '16', '--agreement-clips', '4'];
// torchvideo's name of each row, bench_python.py's, and the file torchvideo loads.
const PRECISIONS = [
  { name: 'fp32', python: 'float32', file: (arch) => `${arch}.pt` },
  { name: 'bf16', python: 'bf16', file: (arch) => `${arch}-bf16.pt` },
  { name: 'bf16 at load', python: 'bf16-load', file: (arch) => `${arch}.pt`, options: { precision: 'bf16' } },
  { name: 'int8', python: 'int8', file: (arch) => `${arch}-int8.pt` },
];

function ensureExports(arch) {
  const run = (...args) =>
    execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'export_models.py'), '--arch', arch, '--out', OUT, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  run();
  run('--precision', 'bf16', '--agreement-clips', '4');
  run(...INT8_EXPORT_ARGS);
}

async function timeTorchvideo(arch, precision, batches, iters) {
  const model = await loadModel(path.join(OUT, precision.file(arch)), { ...precision.options, threads: os.availableParallelism() });
  const rows = {};
  for (const batch of batches) {
    const data = new Float32Array(batch * CLIP.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = Math.random();
    const input = Tensor.from(data, [batch, ...CLIP]);
    for (let i = 0; i < 2; i++) (await model.forward(input)).dispose();
    const times = [];
    for (let i = 0; i < iters; i++) {
      const start = performance.now();
      (await model.forward(input)).dispose();
      times.push(performance.now() - start);
    }
    input.dispose();
    rows[batch] = [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)] / batch;
  }
  model.dispose();
  return rows;
}

function timePytorch(archs, batches, iters) {
  const out = execFileSync(
    PYTHON,
    [
      path.join(ROOT, 'scripts', 'bench_python.py'),
      ...['--models', OUT, '--arch', archs.join(','), '--batch', batches.join(','), '--iters', String(iters)],
      ...['--modes', 'optimized', '--precision', PRECISIONS.map((p) => p.python).join(','), '--json'],
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return JSON.parse(out).rows;
}

async function benchPrecision({ archs = ['r3d_18', 'mc3_18', 'r2plus1d_18'], batches = [1, 8], iters = 3 } = {}) {
  fs.mkdirSync(OUT, { recursive: true });
  archs.forEach(ensureExports);
  const python = timePytorch(archs, batches, iters);
  const rows = [];
  for (const arch of archs) {
    for (const precision of PRECISIONS) {
      const ours = await timeTorchvideo(arch, precision, batches, iters);
      for (const batch of batches) {
        const theirs = python.find((r) => r.arch === arch && r.batch === batch && r.precision === precision.python)?.msPerClip;
        rows.push({ arch, precision: precision.name, batch, msPerClip: ours[batch], pytorchMsPerClip: theirs });
      }
    }
  }
  for (const row of rows) {
    const fp32 = rows.find((r) => r.arch === row.arch && r.batch === row.batch && r.precision === 'fp32');
    row.speedup = fp32.msPerClip / row.msPerClip;
  }
  console.log(`low-precision inference, ms/clip (lower is better), ${os.availableParallelism()} threads, 16x112x112:`);
  const header = ['network', 'precision', 'batch', 'torchvideo', 'PyTorch', 'tv / PyTorch', 'vs fp32'];
  const lines = rows.map((r) => [
    r.arch,
    r.precision,
    String(r.batch),
    r.msPerClip.toFixed(1),
    r.pytorchMsPerClip === undefined ? '—' : r.pytorchMsPerClip.toFixed(1),
    r.pytorchMsPerClip === undefined ? '—' : `${(r.msPerClip / r.pytorchMsPerClip).toFixed(2)}x`,
    `${r.speedup.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  for (const cells of [header, ...lines]) console.log('  ' + cells.map((c, i) => c.padStart(widths[i])).join('  '));
  const met = (name, target) => {
    const all = rows.filter((r) => r.precision === name);
    const ok = all.filter((r) => r.speedup >= target);
    return `${name} >= ${target}x fp32: ${ok.length} of ${all.length} rows`;
  };
  const parity = rows.filter((r) => r.pytorchMsPerClip !== undefined);
  console.log(
    `  targets: ${met('int8', 3.5)}; ${met('bf16', 1.7)}; torchvideo <= 1.0x PyTorch: ` +
      `${parity.filter((r) => r.msPerClip <= r.pytorchMsPerClip).length} of ${parity.length} rows`,
  );
  const agreement = await agreementOnDemo();
  return { rows, agreement };
}

const DEMO = path.join(ROOT, 'demo-out');
const argmax = (values) => values.indexOf(Math.max(...values));

/** Top-1 agreement with float32 on the demo's fine-tuned network, or undefined when the demo has not run. */
async function agreementOnDemo() {
  const fp32 = path.join(DEMO, 'finetune', 'best.pt');
  const [train, val] = ['train', 'val'].map((name) => path.join(DEMO, 'shapes', name));
  if (![fp32, train, val].every((p) => fs.existsSync(p))) {
    console.log('  agreement: not measured (run `npm run demo` first: it fine-tunes the network it is measured on)');
    return undefined;
  }
  const out = path.join(OUT, 'demo');
  fs.mkdirSync(out, { recursive: true });
  const convert = (...args) =>
    execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'export_models.py'), '--model', fp32, ...args], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  convert('--precision', 'bf16', '--out-file', path.join(out, 'best-bf16.pt'));
  convert('--precision', 'int8', '--calibrate', train, '--calibration-clips', '64', '--out-file', path.join(out, 'best-int8.pt'));
  const clipsFile = path.join(out, 'val-clips.bin');
  const { shape } = JSON.parse(
    execFileSync(
      process.execPath,
      [path.join(__dirname, 'calibration-clips.js'), val, '--clips', '96', '--model', fp32, '--out', clipsFile],
      {
        encoding: 'utf8',
      },
    ),
  );
  const bytes = fs.readFileSync(clipsFile);
  const clips = Tensor.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), shape);
  const { evaluate } = require(ROOT);
  const topOf = async (file, options = {}) => {
    const model = await loadModel(file, { ...options, threads: os.availableParallelism() });
    const logits = await model.forward(clips);
    const classes = logits.shape[1];
    const data = logits.data();
    const clipTop = Array.from({ length: shape[0] }, (_, i) => argmax(Array.from(data.subarray(i * classes, (i + 1) * classes))));
    const report = await evaluate({ model, data: val, clipsPerVideo: 5 });
    model.dispose();
    return { clipTop, videoTop: report.predictions.map((p) => argmax(Array.from(p.probs))) };
  };
  const reference = await topOf(fp32);
  const rows = [];
  for (const [name, file, options] of [
    ['bf16', path.join(out, 'best-bf16.pt')],
    ['bf16 at load', fp32, { precision: 'bf16' }],
    ['int8', path.join(out, 'best-int8.pt')],
  ]) {
    const got = await topOf(file, options);
    const share = (a, b) => a.filter((x, i) => x === b[i]).length / a.length;
    rows.push({
      precision: name,
      clips: shape[0],
      clipTop1: share(got.clipTop, reference.clipTop),
      videos: got.videoTop.length,
      videoTop1: share(got.videoTop, reference.videoTop),
    });
  }
  console.log(
    `  agreement with fp32 on the demo's fine-tuned ${JSON.parse(fs.readFileSync(path.join(DEMO, 'finetune', 'best.json'), 'utf8')).arch} ` +
      `(${shape[0]} validation clips, ${rows[0].videos} videos; targets: clips >= 99%, videos 100%): ` +
      rows.map((r) => `${r.precision} ${(r.clipTop1 * 100).toFixed(1)}% / ${(r.videoTop1 * 100).toFixed(0)}%`).join(', '),
  );
  return rows;
}

module.exports = { benchPrecision, PRECISION_OUT: OUT, INT8_EXPORT_ARGS };

if (require.main === module) {
  const { runAlone } = require('./bench-alone');
  runAlone(benchPrecision, (values, number) => ({
    archs: values.arch?.split(','),
    batches: values.batch?.split(',').map(Number),
    iters: number(values.iters),
  }));
}
