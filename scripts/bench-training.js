'use strict';
// The training rows of `npm run bench` (scripts/bench.js; --no-train skips them). On CPU: Trainer.step
// (forward, cross-entropy, backward, SGD) at batch 8, ms/clip, beside the same step in PyTorch on the same
// export (bench_python.py --modes train); then the training-data row (--no-train-data skips it):
// trainBatches alone, the batches of a training epoch (RandomClipSampler windows, the training preset) of
// the evaluation rows' videos at batch 8, clips/s, against Trainer.step's clips/s. On a GPU (--device
// cuda): the step in float32 and amp beside PyTorch's.
const { execFileSync } = require('node:child_process');
const path = require('node:path');
const { ROOT, MODELS, BENCH_DIR, CLIP, median, randomInput, fmt, fmtGpu, ratio, evaluationSet } = require('./bench-common');

const { Tensor, Trainer } = require(ROOT);

// Trainer.step against PyTorch's step on the same export. A step at batch 8 takes seconds on a small
// CPU: fewer timed runs than the forward rows (the median of TRAIN_ITERS after 2 warm-up steps).
// The issue's rows: r3d_18 and r2plus1d_18 (r3d_18's preprocessing feeds the training-data row).
const TRAIN_ARCHS = ['r3d_18', 'r2plus1d_18'];
const TRAIN_ARCH = TRAIN_ARCHS[0];
const TRAIN_BATCH = 8;
const TRAIN_ITERS = 3;
async function benchTraining(config, arch) {
  const trainer = await Trainer.create({ model: path.join(MODELS, `${arch}.pt`), numClasses: 400, seed: 0 });
  const clips = Tensor.from(randomInput(TRAIN_BATCH), [TRAIN_BATCH, ...CLIP]);
  const labels = Tensor.from(
    BigInt64Array.from({ length: TRAIN_BATCH }, (_, i) => BigInt((i * 53) % 400)),
    [TRAIN_BATCH],
  );
  for (let i = 0; i < config.warmup; i++) await trainer.step(clips, labels);
  const times = [];
  for (let i = 0; i < TRAIN_ITERS; i++) {
    const start = performance.now();
    await trainer.step(clips, labels);
    times.push(performance.now() - start);
  }
  trainer.dispose();
  const msPerClip = median(times) / TRAIN_BATCH;
  let pytorchMsPerClip;
  if (!config.args['no-python']) {
    const common = ['--models', MODELS, '--arch', arch, '--batch', String(TRAIN_BATCH), '--iters', String(TRAIN_ITERS)];
    const out = execFileSync(config.python, [path.join(ROOT, 'scripts', 'bench_python.py'), ...common, '--modes', 'train', '--json'], {
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
  const { nativePreprocessOptions } = require(path.join(ROOT, 'dist', 'internal.js'));
  const { loadDataset } = require(path.join(ROOT, 'dist', 'internal.js'));
  const { readSidecar, DEFAULT_PREPROCESSING } = require(path.join(ROOT, 'dist', 'internal.js'));
  const { trainingEpoch } = require(path.join(ROOT, 'dist', 'internal.js'));
  const { trainBatches } = require(path.join(ROOT, 'dist', 'internal.js'));
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

/** The CPU training rows (and the training-data row unless --no-train-data), printed; returns them for the JSON. */
async function benchTrainingRows(config) {
  const rows = [];
  console.log();
  for (const arch of TRAIN_ARCHS) {
    const row = await benchTraining(config, arch);
    rows.push(row);
    const { batch, msPerClip, pytorchMsPerClip } = row;
    console.log(
      `training step (forward + cross-entropy + backward + SGD), ${arch} batch ${batch}, 16x112x112: ` +
        `torchvideo ${fmt(msPerClip)} ms/clip, PyTorch ${fmt(pytorchMsPerClip)} ms/clip = ${ratio(msPerClip, pytorchMsPerClip)} (target <= 1.0x)`,
    );
  }
  const training = { ...rows[0], rows };
  const { msPerClip } = training;
  if (!config.args['no-train-data']) {
    const data = await benchTrainingData();
    const stepClipsPerSec = 1000 / msPerClip;
    training.data = { ...data, stepClipsPerSec, ratio: data.clipsPerSec / stepClipsPerSec };
    console.log(
      `training data (trainBatches: RandomClipSampler clips + training preset, ${data.videos} videos of 320x240 H.264, ` +
        `batch ${data.batch}, ${data.clips} clips): ${data.clipsPerSec.toFixed(1)} clips/s vs ${stepClipsPerSec.toFixed(2)} clips/s ` +
        `for Trainer.step = ${training.data.ratio.toFixed(1)}x (target: data pipeline >= step, the step never waits)`,
    );
  }
  return training;
}

// Trainer.step on the GPU, float32 and amp (float16 autocast + loss scaler), clips already on the device,
// beside the same step in PyTorch (bench_python.py --modes train: "half" = torch.autocast + GradScaler).
async function benchTrainingGpu(config) {
  const { device, warmup, iters, python: PYTHON } = config;
  const rows = [];
  for (const arch of TRAIN_ARCHS) {
    for (const amp of [false, true]) {
      const trainer = await Trainer.create({ model: path.join(MODELS, `${arch}.pt`), numClasses: 400, seed: 0, device, amp });
      const clips = await Tensor.from(randomInput(TRAIN_BATCH), [TRAIN_BATCH, ...CLIP]).to(device);
      const labels = Tensor.from(
        BigInt64Array.from({ length: TRAIN_BATCH }, (_, i) => BigInt((i * 53) % 400)),
        [TRAIN_BATCH],
      );
      for (let i = 0; i < warmup; i++) await trainer.step(clips, labels);
      const times = [];
      for (let i = 0; i < iters; i++) {
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
  if (!config.args['no-python']) {
    try {
      const common = ['--models', MODELS, '--arch', TRAIN_ARCHS.join(','), '--batch', String(TRAIN_BATCH), '--iters', String(iters)];
      python = JSON.parse(
        execFileSync(
          PYTHON,
          [
            path.join(ROOT, 'scripts', 'bench_python.py'),
            ...common,
            '--warmup',
            String(warmup),
            '--device',
            device,
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
training step on ${device} (forward + cross-entropy + backward + SGD; "half" = amp), batch ${TRAIN_BATCH}, 16x112x112:`);
  for (const row of rows) {
    row.pytorchMsPerClip = python.rows.find((r) => r.arch === row.arch && r.precision === row.precision && r.mode === 'train')?.msPerClip;
    console.log(
      `  ${row.arch} ${row.precision}: torchvideo ${fmtGpu(row.msPerClip)} ms/clip, PyTorch ${fmtGpu(row.pytorchMsPerClip)} ms/clip = ` +
        `${ratio(row.msPerClip, row.pytorchMsPerClip)} (target <= 1.0x)`,
    );
  }
  return rows;
}

module.exports = { benchTrainingRows, benchTrainingGpu };
