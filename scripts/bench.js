#!/usr/bin/env node
// npm run bench: one run, side by side, for each network at batch 1 and 8 (16x112x112 clips):
// ms/clip through torchvideo, through PyTorch in Python on the same export (plain scripted and
// frozen+optimized, same LibTorch), and through onnxruntime-node on an ONNX export of the same
// weights; ratios; the p99 event-loop delay while torchvideo computes; RSS growth.
//
//   node scripts/bench.js [--arch r3d_18,mc3_18,r2plus1d_18] [--batch 1,8] [--iters 5] [--no-scripted]
//                         [--no-python] [--no-onnx] [--no-video] [--no-train] [--no-train-data] [--no-scaling] [--no-precision] [--no-serve] [--serve]
//                         [--no-streams] [--streams] [--streams-quick] [--no-decode-plan] [--decode-plan] [--json FILE]
//
// The training row: Trainer.step (forward, cross-entropy, backward, SGD) on r3d_18 at batch 8, ms/clip,
// beside the same step in PyTorch on the same export (bench_python.py --modes train).
// The training-data row (--no-train-data skips it): trainBatches alone, the batches of a training epoch
// (RandomClipSampler windows, the training preset) of the evaluation rows' videos at batch 8, clips/s,
// against the training row's Trainer.step clips/s (target: the pipeline at least as fast as the step).
// The scaling rows (--no-scaling skips them): scripts/bench-scaling.js, 2 ranks x 1 thread against 1 rank x
// 2 threads at the same global batch, and the share of the gradient allreduce hidden behind backward.
// The precision rows (--no-precision skips them): scripts/bench-precision.js, fp32 / bf16 / int8 exports
// and bf16 converted at load, through torchvideo beside PyTorch on the same files.
// The serving rows (--no-serve skips them; --serve runs only them): scripts/bench-serve.js, concurrent
// single-clip callers through a batcher and plain forward, and `torchvideo serve` over loopback HTTP.
// The streams rows (--no-streams skips them; --streams runs only them; --streams-quick, or
// TORCHVIDEO_BENCH_STREAMS_QUICK=1, makes them a short smoke run): scripts/bench-streams.js, how many paced
// 320x240 live streams r3d_18 fp32 and int8 classify through one batcher without drops or falling behind.
// The decode plan's rows (--no-decode-plan skips them; --decode-plan runs only them): scripts/bench-decode.js,
// decode-only clips/s for evaluation's sampling with and without skipping unwanted non-reference frames.
//
// GPU rows: node scripts/bench.js --device cuda[:N] [--arch ...] [--batch 1,32] [--precision float32,half]
//                                 [--iters 20] [--no-python] [--json FILE]
// (a CUDA build of the addon: TORCHVIDEO_ADDON=build-cuda/Release/torchvideo.node, see scripts/gpu-check.sh)
// prints, per network, precision (float32; half = float16 weights and input, float32 logits), batch
// size and input source (already on the GPU, or in host memory), ms/clip through torchvideo beside
// PyTorch on the same GPU and export (scripts/bench_python.py --device cuda: TorchScript frozen and
// optimized, and torchvision's eager module in channels_last_3d, under autocast for half), with
// torchvideo / PyTorch best and, for host input, host / on-device. What is timed, on both sides: one
// call from a float32 clip to float32 logits in host memory, `(await model.forward(x)).to('cpu')` here
// and `module(x).float().cpu()` + torch.cuda.synchronize() in Python. The copy back is what makes the
// time honest: forward()'s promise resolves once the executor has queued the kernels (cpp/model.cpp
// does not synchronize; the logits stay on the GPU), so timing forward() alone would time the launches.
// Python is $PYTHON when set, else /usr/bin/python3 on CPU (Debian's torch, the addon's LibTorch) and
// python3 on CUDA. Without a usable CUDA device it exits 2 with the ERR_DEVICE_UNAVAILABLE message.
'use strict';
require('./bench-alone').usageIfAsked(`node scripts/bench.js [--arch r3d_18,mc3_18,r2plus1d_18] [--batch 1,8] [--iters 5] [--no-scripted]
         [--no-python] [--no-onnx] [--no-video] [--no-train] [--no-train-data] [--no-scaling] [--no-precision]
         [--no-serve] [--serve] [--no-streams] [--streams] [--streams-quick] [--no-decode-plan] [--decode-plan] [--json FILE]
       node scripts/bench.js --device cuda[:N] [--arch ...] [--batch 1,32] [--precision float32,half] [--iters 20]
         [--no-python] [--json FILE]`);
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
// Internal: the decode row times the same native job (decode + preprocess of a clip) classifyVideo runs.
const { nativePreprocessOptions, readClipBatch } = require(path.join(ROOT, 'dist', 'video.js'));
const MODELS = path.join(ROOT, 'models');
const { loadModel, Tensor, TorchVideoError, Trainer, versions, openVideo, sampleClips, classifyVideo, evaluate } = require(ROOT);
const BENCH_DIR = path.join(ROOT, 'bench-out');

const { values: args } = parseArgs({
  options: {
    arch: { type: 'string', default: 'r3d_18,mc3_18,r2plus1d_18' },
    batch: { type: 'string' },
    iters: { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    precision: { type: 'string', default: 'float32,half' },
    'no-scripted': { type: 'boolean', default: false },
    'no-python': { type: 'boolean', default: false },
    'no-onnx': { type: 'boolean', default: false },
    'no-video': { type: 'boolean', default: false },
    'no-train': { type: 'boolean', default: false },
    'no-train-data': { type: 'boolean', default: false },
    'no-scaling': { type: 'boolean', default: false },
    'no-precision': { type: 'boolean', default: false },
    'no-serve': { type: 'boolean', default: false },
    serve: { type: 'boolean', default: false },
    'no-streams': { type: 'boolean', default: false },
    'no-decode-plan': { type: 'boolean', default: false },
    'decode-plan': { type: 'boolean', default: false },
    streams: { type: 'boolean', default: false },
    'streams-quick': { type: 'boolean', default: process.env.TORCHVIDEO_BENCH_STREAMS_QUICK === '1' },
    json: { type: 'string' },
  },
});
const DEVICE = args.device;
const ON_GPU = DEVICE !== 'cpu';
const ARCHS = args.arch.split(',');
const BATCHES = (args.batch ?? (ON_GPU ? '1,32' : '1,8')).split(',').map(Number);
const ITERS = Number(args.iters ?? (ON_GPU ? '20' : '5'));
// Untimed calls first: the profiling executor optimizes on the second call; on CUDA a third lets the
// fusers compile and cuDNN's autotuner settle (bench_python.py warms up as many times).
const WARMUP = ON_GPU ? 3 : 2;
const PRECISIONS = args.precision.split(',');
const CLIP = [3, 16, 112, 112];
const THREADS = os.availableParallelism();
const PYTHON = process.env.PYTHON || (ON_GPU ? 'python3' : '/usr/bin/python3');

function usageError(message) {
  console.error(`bench.js: ${message}`);
  process.exit(2);
}
if (!/^(cpu|cuda(:\d{1,3})?)$/.test(DEVICE)) usageError(`expected --device cpu, cuda or cuda:N, got '${DEVICE}'`);
if (!BATCHES.every((b) => Number.isInteger(b) && b >= 1)) {
  usageError(`expected --batch to be integers >= 1, got '${args.batch}'`);
}
if (!(Number.isInteger(ITERS) && ITERS >= 1)) usageError(`expected --iters to be an integer >= 1, got '${args.iters}'`);
if (!PRECISIONS.every((p) => p === 'float32' || p === 'half')) {
  usageError(`expected --precision float32 and/or half, got '${args.precision}'`);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const clipElements = CLIP.reduce((a, b) => a * b, 1);
function randomInput(batch) {
  const data = new Float32Array(batch * clipElements);
  for (let i = 0; i < data.length; i++) data[i] = Math.random() * 2 - 1;
  return data;
}

async function timeIt(run, batch) {
  for (let i = 0; i < WARMUP; i++) await run();
  const times = [];
  for (let i = 0; i < ITERS; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times) / batch;
}

async function benchTorchvideo(arch) {
  const rows = [];
  const model = await loadModel(path.join(MODELS, `${arch}.pt`));
  for (const batch of BATCHES) {
    const input = Tensor.from(randomInput(batch), [batch, ...CLIP]);
    const forward = async () => (await model.forward(input)).dispose();
    const rssBefore = process.memoryUsage().rss;
    const msPerClip = await timeIt(forward, batch);
    // The event-loop delay is measured in a pass of its own: the monitor wakes the loop every
    // millisecond, which would steal CPU from the timed forwards on a small machine.
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    for (let i = 0; i < 3; i++) await forward();
    delay.disable();
    rows.push({
      arch,
      batch,
      msPerClip,
      loopDelayP99Ms: delay.percentile(99) / 1e6,
      rssGrowthMb: (process.memoryUsage().rss - rssBefore) / 2 ** 20,
    });
    input.dispose();
  }
  model.dispose();
  return rows;
}

// Runs scripts/bench_python.py on the same exports, networks, batches and iterations; `extra` adds
// the mode/device arguments of each caller. Returns its JSON.
function runBenchPython(extra) {
  const common = ['--models', MODELS, '--arch', ARCHS.join(','), '--batch', BATCHES.join(','), '--iters', String(ITERS)];
  const out = execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'bench_python.py'), ...common, ...extra, '--json'], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 2 ** 20,
  });
  return JSON.parse(out);
}

function benchPython() {
  return runBenchPython(['--modes', args['no-scripted'] ? 'optimized' : 'optimized,scripted']);
}

function ensureOnnx(arch) {
  const file = path.join(MODELS, `${arch}.onnx`);
  if (!fs.existsSync(file)) {
    execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'export_models.py'), '--arch', arch, '--out', MODELS, '--onnx'], {
      stdio: 'inherit',
    });
  }
  return file;
}

async function benchOnnx(arch) {
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (error) {
    return { skipped: `onnxruntime-node cannot load: ${error.message.split('\n')[0]}` };
  }
  const session = await ort.InferenceSession.create(ensureOnnx(arch), {
    intraOpNumThreads: THREADS,
    graphOptimizationLevel: 'all',
  });
  const rows = [];
  for (const batch of BATCHES) {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', randomInput(batch), [batch, ...CLIP]) };
    rows.push({ arch, batch, msPerClip: await timeIt(() => session.run(feeds), batch) });
  }
  await session.release?.();
  return { rows };
}

// H.264 videos of 10 s at 30 fps, made with the ffmpeg CLI the first time.
function benchVideo(width, height) {
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

// Decode + preprocess throughput (5 uniform clips of 16 frames at 15 fps, one native job per clip as
// classifyVideo does at batch 1), and classifyVideo's end-to-end time against the network alone.
async function benchVideoPipeline() {
  const rows = [];
  for (const [width, height] of [
    [320, 240],
    [1280, 720],
  ]) {
    const file = benchVideo(width, height);
    const times = [];
    let clipCount = 0;
    for (let run = 0; run < ITERS; run++) {
      const start = performance.now();
      const reader = await openVideo(file);
      const clips = sampleClips(reader.info, { clipsPerVideo: 5 });
      clipCount = clips.length;
      for (const clip of clips) (await readClipBatch(reader, [clip], nativePreprocessOptions())).dispose();
      reader.close();
      times.push(performance.now() - start);
    }
    rows.push({ video: `${width}x${height} H.264`, clipsPerSecond: (clipCount / median(times)) * 1000 });
  }
  const model = await loadModel(path.join(MODELS, 'r2plus1d_18.pt'));
  const file = benchVideo(320, 240);
  const clip = Tensor.from(randomInput(1), [1, ...CLIP]);
  const modelOnly = await timeIt(async () => {
    for (let i = 0; i < 5; i++) (await model.forward(clip)).dispose();
  }, 1);
  const endToEnd = await timeIt(() => classifyVideo(model, file, { clipsPerVideo: 5 }), 1);
  model.dispose();
  return { decode: rows, classify: { modelOnlyMs: modelOnly, endToEndMs: endToEnd } };
}

// The evaluation rows' set: 6 copies of the 320x240 video in 3 classes.
function evaluationSet() {
  const VIDEOS = 6;
  const data = path.join(BENCH_DIR, 'eval-set');
  const file = benchVideo(320, 240);
  for (let i = 0; i < VIDEOS; i++) {
    const dir = path.join(data, ['abseiling', 'archery', 'zumba'][i % 3]);
    fs.mkdirSync(dir, { recursive: true });
    if (!fs.existsSync(path.join(dir, `v${i}.mp4`))) fs.copyFileSync(file, path.join(dir, `v${i}.mp4`));
  }
  return data;
}

// An evaluation job against the network alone on the same clips at the same batch (target >= 0.9),
// and the decode ceiling: every video's clips decoded at once, all decode threads busy.
async function benchEvaluation() {
  const BATCH = 8;
  const data = evaluationSet();
  const model = await loadModel(path.join(MODELS, 'r2plus1d_18.pt'));
  const options = { model, data, clipsPerVideo: 5, batchSize: BATCH, indexPath: path.join(BENCH_DIR, 'eval-index.json') };
  await evaluate(options); // index the set, warm the caches
  const start = performance.now();
  const report = await evaluate(options);
  const evalClipsPerSec = report.clips / ((performance.now() - start) / 1000);
  // The same clips, decoded once, through the network alone at the same batch.
  const readers = await Promise.all(report.predictions.map((p) => openVideo(p.path)));
  const decodeStart = performance.now();
  // One tensor per clip, so the network alone runs exactly `BATCH` clips per call as evaluate does.
  const clips = (
    await Promise.all(
      readers.map(async (reader) => {
        const out = [];
        for (const clip of sampleClips(reader.info, { clipsPerVideo: 5 }))
          out.push(await readClipBatch(reader, [clip], nativePreprocessOptions()));
        return out;
      }),
    )
  ).flat();
  const decodeClipsPerSec = clips.length / ((performance.now() - decodeStart) / 1000);
  readers.forEach((reader) => reader.close());
  const netStart = performance.now();
  for (let begin = 0; begin < clips.length; begin += BATCH) (await model.forward(clips.slice(begin, begin + BATCH))).dispose();
  const networkClipsPerSec = clips.length / ((performance.now() - netStart) / 1000);
  clips.forEach((clip) => clip.dispose());
  model.dispose();
  return { clips: report.clips, evalClipsPerSec, networkClipsPerSec, decodeClipsPerSec };
}

// Trainer.step against PyTorch's step on the same export. A step at batch 8 takes seconds on a small
// CPU: fewer timed runs than the forward rows (the median of TRAIN_ITERS after 2 warm-up steps).
// The issue's rows: r3d_18 and r2plus1d_18 (r3d_18's preprocessing feeds the training-data row).
const TRAIN_ARCHS = ['r3d_18', 'r2plus1d_18'];
const TRAIN_ARCH = TRAIN_ARCHS[0];
const TRAIN_BATCH = 8;
const TRAIN_ITERS = 3;
async function benchTraining(arch) {
  const trainer = await Trainer.create({ model: path.join(MODELS, `${arch}.pt`), numClasses: 400, seed: 0 });
  const clips = Tensor.from(randomInput(TRAIN_BATCH), [TRAIN_BATCH, ...CLIP]);
  const labels = Tensor.from(
    BigInt64Array.from({ length: TRAIN_BATCH }, (_, i) => BigInt((i * 53) % 400)),
    [TRAIN_BATCH],
  );
  for (let i = 0; i < WARMUP; i++) await trainer.step(clips, labels);
  const times = [];
  for (let i = 0; i < TRAIN_ITERS; i++) {
    const start = performance.now();
    await trainer.step(clips, labels);
    times.push(performance.now() - start);
  }
  trainer.dispose();
  const msPerClip = median(times) / TRAIN_BATCH;
  let pytorchMsPerClip;
  if (!args['no-python']) {
    const common = ['--models', MODELS, '--arch', arch, '--batch', String(TRAIN_BATCH), '--iters', String(TRAIN_ITERS)];
    const out = execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'bench_python.py'), ...common, '--modes', 'train', '--json'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    pytorchMsPerClip = JSON.parse(out).rows[0]?.msPerClip;
  }
  return { arch, batch: TRAIN_BATCH, msPerClip, pytorchMsPerClip };
}

// The training data pipeline alone, as fineTune drives it (prefetch 2, one FFmpeg thread per video): the
// batches of training epochs over the evaluation rows' videos, with the training network's preprocessing.
// Epoch 0 warms the decoders and the page cache; epochs 1..TRAIN_DATA_EPOCHS are timed.
const TRAIN_DATA_EPOCHS = 10;
async function benchTrainingData() {
  const { loadDataset } = require(path.join(ROOT, 'dist', 'eval', 'dataset.js'));
  const { readSidecar, DEFAULT_PREPROCESSING } = require(path.join(ROOT, 'dist', 'sidecar.js'));
  const { trainingEpoch } = require(path.join(ROOT, 'dist', 'train', 'clip-sampler.js'));
  const { trainBatches } = require(path.join(ROOT, 'dist', 'train', 'train-batches.js'));
  const data = evaluationSet();
  const dataset = await loadDataset(data, { indexPath: path.join(BENCH_DIR, 'eval-index.json') });
  const preprocessing = readSidecar(path.join(MODELS, `${TRAIN_ARCH}.pt`))?.preprocessing ?? DEFAULT_PREPROCESSING;
  const preprocess = nativePreprocessOptions({ preprocessing });
  const videos = dataset.videos.map((video) => ({
    path: video.path,
    label: dataset.classes.indexOf(video.label),
    frameIndex: video.info.frameIndex,
  }));
  const timing = dataset.videos.map((video) => ({ frameCount: video.info.frameCount, fps: video.info.fps }));
  const epochOptions = {
    clipLength: CLIP[1],
    frameRate: 15,
    clipsPerVideo: 5,
    resizeSize: preprocessing.resizeSize,
    cropSize: preprocessing.cropSize[0],
    seed: 0,
  };
  let clips = 0;
  let seconds = 0;
  for (let epoch = 0; epoch <= TRAIN_DATA_EPOCHS; epoch++) {
    const start = performance.now();
    let count = 0;
    const batches = trainBatches(videos, trainingEpoch(timing, { ...epochOptions, epoch }), {
      batchSize: TRAIN_BATCH,
      preprocess,
      prefetch: 2,
      threadsPerVideo: 1,
    });
    for await (const batch of batches) {
      count += batch.labels.shape[0];
      batch.clips.dispose();
      batch.labels.dispose();
    }
    if (epoch === 0) continue;
    clips += count;
    seconds += (performance.now() - start) / 1000;
  }
  return { videos: videos.length, batch: TRAIN_BATCH, clips, clipsPerSec: clips / seconds };
}

// ---------------------------------------------------------------------------------------- CUDA rows

// Fails with the addon's own ERR_DEVICE_UNAVAILABLE message (a CPU-only LibTorch, no GPU, an index
// past the last one) before any model is loaded.
async function checkDevice() {
  const probe = Tensor.from(new Float32Array(1), [1]);
  try {
    (await probe.to(DEVICE)).dispose();
  } finally {
    probe.dispose();
  }
}

// One timed call: forward, then the logits copied to host memory (see the top of this file).
const gpuCall = (model, input) => async () => {
  const logits = await model.forward(input);
  const host = await logits.to('cpu');
  logits.dispose();
  host.dispose();
};

async function benchTorchvideoGpu(arch) {
  const rows = [];
  for (const precision of PRECISIONS) {
    const model = await loadModel(path.join(MODELS, `${arch}.pt`), { device: DEVICE, half: precision === 'half' });
    for (const batch of BATCHES) {
      const host = Tensor.from(randomInput(batch), [batch, ...CLIP]);
      const device = await host.to(DEVICE);
      for (const [input, tensor] of [
        ['device', device],
        ['host', host],
      ]) {
        rows.push({ arch, precision, batch, input, msPerClip: await timeIt(gpuCall(model, tensor), batch) });
      }
      device.dispose();
      host.dispose();
    }
    model.dispose();
  }
  return rows;
}

// PyTorch's rows; when Python fails, torchvideo's rows are still printed, with the reason.
function benchPythonGpu() {
  try {
    return runBenchPython([
      '--warmup',
      String(WARMUP),
      '--device',
      DEVICE,
      '--modes',
      'optimized,eager',
      '--precision',
      PRECISIONS.join(','),
      '--inputs',
      'device,host',
    ]);
  } catch (error) {
    return {
      rows: [],
      error: `${PYTHON} scripts/bench_python.py failed (${error.status === null ? error.message : `exit ${error.status}`})`,
    };
  }
}

// Trainer.step on the GPU, float32 and amp (float16 autocast + loss scaler), clips already on the device,
// beside the same step in PyTorch (bench_python.py --modes train: "half" = torch.autocast + GradScaler).
async function benchTrainingGpu() {
  const rows = [];
  for (const arch of TRAIN_ARCHS) {
    for (const amp of [false, true]) {
      const trainer = await Trainer.create({ model: path.join(MODELS, `${arch}.pt`), numClasses: 400, seed: 0, device: DEVICE, amp });
      const clips = await Tensor.from(randomInput(TRAIN_BATCH), [TRAIN_BATCH, ...CLIP]).to(DEVICE);
      const labels = Tensor.from(
        BigInt64Array.from({ length: TRAIN_BATCH }, (_, i) => BigInt((i * 53) % 400)),
        [TRAIN_BATCH],
      );
      for (let i = 0; i < WARMUP; i++) await trainer.step(clips, labels);
      const times = [];
      for (let i = 0; i < ITERS; i++) {
        const start = performance.now();
        await trainer.step(clips, labels);
        times.push(performance.now() - start);
      }
      trainer.dispose();
      clips.dispose();
      rows.push({ arch, precision: amp ? 'half' : 'float32', batch: TRAIN_BATCH, msPerClip: median(times) / TRAIN_BATCH });
    }
  }
  let python = { rows: [] };
  if (!args['no-python']) {
    try {
      const common = ['--models', MODELS, '--arch', TRAIN_ARCHS.join(','), '--batch', String(TRAIN_BATCH), '--iters', String(ITERS)];
      python = JSON.parse(
        execFileSync(
          PYTHON,
          [
            path.join(ROOT, 'scripts', 'bench_python.py'),
            ...common,
            '--warmup',
            String(WARMUP),
            '--device',
            DEVICE,
            '--modes',
            'train',
            '--precision',
            'float32,half',
            '--inputs',
            'device',
            '--json',
          ],
          { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
        ),
      );
    } catch (error) {
      python = { rows: [], error: `${PYTHON} scripts/bench_python.py --modes train failed (${error.message})` };
    }
  }
  console.log(`
training step on ${DEVICE} (forward + cross-entropy + backward + SGD; "half" = amp), batch ${TRAIN_BATCH}, 16x112x112:`);
  for (const row of rows) {
    row.pytorchMsPerClip = python.rows.find((r) => r.arch === row.arch && r.precision === row.precision && r.mode === 'train')?.msPerClip;
    console.log(
      `  ${row.arch} ${row.precision}: torchvideo ${fmtGpu(row.msPerClip)} ms/clip, PyTorch ${fmtGpu(row.pytorchMsPerClip)} ms/clip = ` +
        `${ratio(row.msPerClip, row.pytorchMsPerClip)} (target <= 1.0x)`,
    );
  }
  return rows;
}

// ms/clip on a GPU run from a few hundredths to tens of milliseconds.
const fmtGpu = (ms) => (ms === undefined ? '—' : ms < 10 ? ms.toFixed(3) : ms.toFixed(1));

async function mainGpu() {
  try {
    await checkDevice();
  } catch (error) {
    if (error instanceof TorchVideoError) usageError(`--device ${DEVICE}: ${error.code}: ${error.message}`);
    throw error;
  }
  console.log(`torchvideo ${versions.torchvideo} | LibTorch ${versions.libtorch} | ${DEVICE} | ${THREADS} CPU threads`);
  const results = [];
  for (const arch of ARCHS) results.push(...(await benchTorchvideoGpu(arch)));
  let python = { rows: [] };
  if (!args['no-python']) python = benchPythonGpu();
  if (python.error) console.log(`PyTorch rows missing: ${python.error}; PYTHON=/path/to/python3 picks the interpreter`);
  if (python.deviceName) console.log(`PyTorch ${python.torch} on ${python.device} (${python.deviceName}), same export`);
  console.log(
    `median of ${ITERS} calls after ${WARMUP} warm-up calls; input (B, ${CLIP.join(', ')}) float32; ` +
      'a call = forward + logits copied to host memory, on both sides\n',
  );

  const find = (rows, row, extra) =>
    rows.find(
      (r) =>
        r.arch === row.arch &&
        r.batch === row.batch &&
        r.precision === row.precision &&
        r.input === row.input &&
        Object.entries(extra).every(([k, v]) => r[k] === v),
    )?.msPerClip;
  for (const row of results) {
    row.pytorchOptimizedMsPerClip = find(python.rows, row, { mode: 'optimized' });
    row.pytorchEagerMsPerClip = find(python.rows, row, { mode: 'eager' });
    const best = [row.pytorchOptimizedMsPerClip, row.pytorchEagerMsPerClip].filter((x) => x !== undefined);
    row.pytorchBestMsPerClip = best.length ? Math.min(...best) : undefined;
    row.vsPytorchBest = row.pytorchBestMsPerClip === undefined ? undefined : row.msPerClip / row.pytorchBestMsPerClip;
    if (row.input === 'host') row.hostVsDevice = row.msPerClip / find(results, { ...row, input: 'device' }, {});
  }

  const header = [
    'network',
    'precision',
    'batch',
    'input',
    'torchvideo',
    'PyTorch optimized',
    'PyTorch eager CL',
    'tv / PyTorch best',
    'host / device',
  ];
  const lines = results.map((r) => [
    r.arch,
    r.precision,
    String(r.batch),
    r.input,
    fmtGpu(r.msPerClip),
    fmtGpu(r.pytorchOptimizedMsPerClip),
    fmtGpu(r.pytorchEagerMsPerClip),
    r.vsPytorchBest === undefined ? '—' : `${r.vsPytorchBest.toFixed(2)}x`,
    r.hostVsDevice === undefined ? '' : `${r.hostVsDevice.toFixed(2)}x`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const print = (cells) => console.log(cells.map((c, i) => c.padStart(widths[i])).join('  '));
  console.log(`ms per clip on ${DEVICE} (lower is better); input: "device" = already on the GPU, "host" = host memory`);
  print(header);
  lines.forEach(print);

  // The targets: at batch 1, within 1.05x of PyTorch's best on the same input; from host memory,
  // within 1.1x of the same call on an input already on the GPU.
  const batchOne = results.filter((r) => r.batch === 1 && r.vsPytorchBest !== undefined);
  const slowAtOne = batchOne.filter((r) => r.vsPytorchBest > 1.05);
  const hostRows = results.filter((r) => r.hostVsDevice !== undefined);
  const slowFromHost = hostRows.filter((r) => r.hostVsDevice > 1.1);
  const name = (r) => `${r.arch} ${r.precision} b${r.batch} ${r.input}`;
  console.log(
    `\ntarget batch 1 <= 1.05x PyTorch best: ${batchOne.length - slowAtOne.length} of ${batchOne.length} rows met` +
      (slowAtOne.length ? `; missed: ${slowAtOne.map((r) => `${name(r)} ${r.vsPytorchBest.toFixed(2)}x`).join(', ')}` : ''),
  );
  console.log(
    `target host <= 1.1x on-device: ${hostRows.length - slowFromHost.length} of ${hostRows.length} rows met` +
      (slowFromHost.length ? `; missed: ${slowFromHost.map((r) => `${name(r)} ${r.hostVsDevice.toFixed(2)}x`).join(', ')}` : ''),
  );
  const training = args['no-train'] ? undefined : await benchTrainingGpu();
  if (args.json) {
    fs.writeFileSync(args.json, JSON.stringify({ versions, device: DEVICE, iters: ITERS, python, results, training }, null, 2));
  }
}

// ------------------------------------------------------------------------------------------ CPU rows

const fmt = (ms) => (ms === undefined ? '—' : ms.toFixed(1));
const ratio = (a, b) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}x`);

// forward() refuses CPU inputs holding NaN/Inf with one sum over the input (cpp/model.cpp,
// checkFiniteInputs). The same op in LibTorch, same threads, against the forward it guards.
function benchFiniteCheck(results) {
  const script = `
import json, sys, time, torch
torch.set_num_threads(${THREADS})
out = {}
for batch in (1, 8):
    x = torch.full((batch, ${CLIP.join(', ')}), 0.5)
    for _ in range(3): float(x.sum())
    start = time.perf_counter()
    for _ in range(50): float(x.sum())
    out[batch] = (time.perf_counter() - start) / 50 * 1000
print(json.dumps(out))`;
  let times;
  try {
    times = JSON.parse(execFileSync(PYTHON, ['-c', script], { encoding: 'utf8' }));
  } catch (error) {
    console.log(`\ninput finite check: not measured (${error.message.split('\n')[0]})`);
    return undefined;
  }
  console.log('\ninput finite check (one sum over the input, per forward call):');
  const rows = [];
  for (const [batch, ms] of Object.entries(times)) {
    const forwards = results.filter((r) => r.batch === Number(batch)).map((r) => r.msPerClip * r.batch);
    const share = forwards.length ? (ms / Math.min(...forwards)) * 100 : undefined;
    rows.push({ batch: Number(batch), ms, percentOfFastestForward: share });
    console.log(`  batch ${batch}: ${ms.toFixed(2)} ms${share === undefined ? '' : ` = ${share.toFixed(2)}% of the fastest forward`}`);
  }
  return rows;
}

// A job reads a copy of memory JS can still write (binding/tensor.cc, snapshot): what that costs on the
// JS thread at the forward() call, for a Tensor.from input (copied) against the same input taken over
// with { transfer: true } (not copied), beside the forward it feeds.
async function benchInputCopy(results) {
  const model = await loadModel(path.join(MODELS, 'r3d_18.pt'));
  const rows = [];
  for (const batch of [1, 8]) {
    const callMs = async (transfer) => {
      const times = [];
      for (let i = 0; i < 20; i++) {
        const input = Tensor.from(randomInput(batch), [batch, ...CLIP], { transfer });
        const start = performance.now();
        const pending = model.forward(input);
        times.push(performance.now() - start);
        // The forward itself is not what is measured: it is dropped once queued (run to the end).
        (await pending).dispose();
        input.dispose();
        if (i === 4) times.length = 0; // the first calls warm the allocator
      }
      return median(times);
    };
    const copied = await callMs(false);
    const taken = await callMs(true);
    const forward = results.find((r) => r.arch === 'r3d_18' && r.batch === batch);
    const forwardMs = forward ? forward.msPerClip * batch : undefined;
    const copyMs = copied - taken;
    rows.push({
      batch,
      megabytes: (batch * clipElements * 4) / 2 ** 20,
      copiedCallMs: copied,
      transferredCallMs: taken,
      copyMs,
      forwardMs,
    });
    console.log(
      `  batch ${batch} (${((batch * clipElements * 4) / 2 ** 20).toFixed(1)} MB): forward() call ${copied.toFixed(2)} ms copied vs ` +
        `${taken.toFixed(2)} ms taken over = ${copyMs.toFixed(2)} ms of copy` +
        (forwardMs ? ` (${((copyMs / forwardMs) * 100).toFixed(2)}% of r3d_18's ${forwardMs.toFixed(0)} ms forward)` : ''),
    );
  }
  model.dispose();
  return rows;
}

async function main() {
  if (args.serve) {
    const serve = await require('./bench-serve').benchServe({ arch: ARCHS[0] });
    if (args.json) fs.writeFileSync(args.json, JSON.stringify({ versions, serve }, null, 2));
    return;
  }
  if (args.streams) {
    const streams = await require('./bench-streams').benchStreams({ quick: args['streams-quick'] });
    if (args.json) fs.writeFileSync(args.json, JSON.stringify({ versions, streams }, null, 2));
    return;
  }
  if (args['decode-plan']) {
    const decodePlan = await require('./bench-decode').benchDecodePlan();
    if (args.json) fs.writeFileSync(args.json, JSON.stringify({ versions, decodePlan }, null, 2));
    return;
  }
  console.log(`torchvideo ${versions.torchvideo} | LibTorch ${versions.libtorch} | ${THREADS} threads | ${os.cpus()[0].model}`);
  console.log(`median of ${ITERS} runs after 2 warm-up runs; input (B, ${CLIP.join(', ')}) float32\n`);
  const results = [];
  const onnxNotes = new Set();
  for (const arch of ARCHS) {
    const tv = await benchTorchvideo(arch);
    const onnx = args['no-onnx'] ? { skipped: 'skipped (--no-onnx)' } : await benchOnnx(arch);
    if (onnx.skipped) onnxNotes.add(onnx.skipped);
    for (const row of tv) {
      results.push({ ...row, onnxMsPerClip: onnx.rows?.find((r) => r.batch === row.batch)?.msPerClip });
    }
  }
  let python = { rows: [] };
  if (!args['no-python']) python = benchPython();
  for (const row of results) {
    const py = (mode) => python.rows.find((r) => r.arch === row.arch && r.batch === row.batch && r.mode === mode)?.msPerClip;
    row.pytorchOptimizedMsPerClip = py('optimized');
    row.pytorchScriptedMsPerClip = py('scripted');
  }

  const header = [
    'network',
    'batch',
    'torchvideo',
    'PyTorch optimized',
    'PyTorch scripted',
    'onnxruntime-node',
    'tv / PyTorch best',
    'tv / ORT',
    'loop p99',
    'RSS +',
  ];
  const lines = results.map((r) => {
    const best = [r.pytorchOptimizedMsPerClip, r.pytorchScriptedMsPerClip].filter((x) => x !== undefined);
    return [
      r.arch,
      String(r.batch),
      fmt(r.msPerClip),
      fmt(r.pytorchOptimizedMsPerClip),
      fmt(r.pytorchScriptedMsPerClip),
      fmt(r.onnxMsPerClip),
      ratio(r.msPerClip, best.length ? Math.min(...best) : undefined),
      ratio(r.msPerClip, r.onnxMsPerClip),
      `${r.loopDelayP99Ms.toFixed(1)} ms`,
      `${r.rssGrowthMb.toFixed(0)} MB`,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const print = (cells) => console.log(cells.map((c, i) => c.padStart(widths[i])).join('  '));
  console.log('ms per clip (lower is better)');
  print(header);
  lines.forEach(print);
  for (const note of onnxNotes) console.log(`\nonnxruntime-node: ${note}`);
  const finite = args['no-python'] ? undefined : benchFiniteCheck(results);
  console.log('\ninput copy at the forward() call (Tensor.from memory the caller can still write):');
  const inputCopy = await benchInputCopy(results);
  let video;
  if (!args['no-video']) {
    video = await benchVideoPipeline();
    console.log('\nvideo pipeline (decode + resample + VideoClassification preprocessing, 5 clips x 16 frames)');
    for (const row of video.decode) console.log(`  ${row.video.padEnd(18)} ${row.clipsPerSecond.toFixed(1)} clips/s`);
    const { modelOnlyMs, endToEndMs } = video.classify;
    console.log(
      `  classifyVideo r2plus1d_18, 320x240, 5 clips: ${endToEndMs.toFixed(0)} ms end to end vs ` +
        `${modelOnlyMs.toFixed(0)} ms for the network alone = ${(endToEndMs / modelOnlyMs).toFixed(2)}x`,
    );
    const evaluation = await benchEvaluation();
    video.evaluation = evaluation;
    console.log(
      `  evaluate r2plus1d_18, batch 8, ${evaluation.clips} clips of 320x240 H.264: ${evaluation.evalClipsPerSec.toFixed(2)} clips/s ` +
        `vs ${evaluation.networkClipsPerSec.toFixed(2)} clips/s for the network alone = ` +
        `${(evaluation.evalClipsPerSec / evaluation.networkClipsPerSec).toFixed(2)} (target >= 0.9); ` +
        `decode ceiling ${evaluation.decodeClipsPerSec.toFixed(1)} clips/s`,
    );
  }
  let training;
  if (!args['no-train']) {
    const rows = [];
    console.log();
    for (const arch of TRAIN_ARCHS) {
      const row = await benchTraining(arch);
      rows.push(row);
      const { batch, msPerClip, pytorchMsPerClip } = row;
      console.log(
        `training step (forward + cross-entropy + backward + SGD), ${arch} batch ${batch}, 16x112x112: ` +
          `torchvideo ${fmt(msPerClip)} ms/clip, PyTorch ${fmt(pytorchMsPerClip)} ms/clip = ${ratio(msPerClip, pytorchMsPerClip)} (target <= 1.0x)`,
      );
    }
    training = { ...rows[0], rows };
    const { msPerClip } = training;
    if (!args['no-train-data']) {
      const data = await benchTrainingData();
      const stepClipsPerSec = 1000 / msPerClip;
      training.data = { ...data, stepClipsPerSec, ratio: data.clipsPerSec / stepClipsPerSec };
      console.log(
        `training data (trainBatches: RandomClipSampler clips + training preset, ${data.videos} videos of 320x240 H.264, ` +
          `batch ${data.batch}, ${data.clips} clips): ${data.clipsPerSec.toFixed(1)} clips/s vs ${stepClipsPerSec.toFixed(2)} clips/s ` +
          `for Trainer.step = ${training.data.ratio.toFixed(1)}x (target: data pipeline >= step, the step never waits)`,
      );
    }
  }
  let precision;
  if (!args['no-precision']) {
    console.log();
    precision = await require('./bench-precision').benchPrecision({ archs: ARCHS });
  }
  let scaling;
  if (!args['no-scaling']) {
    console.log();
    scaling = await require('./bench-scaling').benchScaling();
  }
  let serve;
  if (!args['no-serve']) {
    console.log();
    serve = await require('./bench-serve').benchServe({ arch: 'r3d_18' });
  }
  let streams;
  if (!args['no-streams']) {
    console.log();
    streams = await require('./bench-streams').benchStreams({ quick: args['streams-quick'] });
  }
  let decodePlan;
  if (!args['no-decode-plan']) {
    console.log();
    decodePlan = await require('./bench-decode').benchDecodePlan();
  }
  if (args.json)
    fs.writeFileSync(
      args.json,
      JSON.stringify(
        { versions, threads: THREADS, python, results, finite, inputCopy, video, training, precision, scaling, serve, streams, decodePlan },
        null,
        2,
      ),
    );
}

(ON_GPU ? mainGpu : main)().catch((error) => {
  console.error(error);
  process.exit(1);
});
