#!/usr/bin/env node
// npm run bench: one run, side by side, for each network at batch 1 and 8 (16x112x112 clips) (bench-cpu.js):
// ms/clip through torchvideo, through PyTorch in Python on the same export (plain scripted and
// frozen+optimized, same LibTorch), and through onnxruntime-node on an ONNX export of the same
// weights; ratios; the p99 event-loop delay while torchvideo computes; RSS growth.
//
//   node scripts/bench.js [--arch r3d_18,mc3_18,r2plus1d_18] [--batch 1,8] [--iters 5] [--no-scripted]
//                         [--no-python] [--no-onnx] [--no-video] [--no-train] [--no-train-data] [--no-scaling] [--no-precision] [--no-serve] [--serve]
//                         [--no-streams] [--streams] [--streams-quick] [--no-decode-plan] [--decode-plan] [--json FILE]
//
// The video rows (--no-video skips them; bench-video.js): decode + preprocess throughput, classifyVideo and
// evaluate against the network alone.
// The training row (bench-training.js): Trainer.step (forward, cross-entropy, backward, SGD) on r3d_18 at batch 8, ms/clip,
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
// GPU rows (bench-gpu.js): node scripts/bench.js --device cuda[:N] [--arch ...] [--batch 1,32] [--precision float32,half]
//                                 [--iters 20] [--no-python] [--json FILE]
// (a CUDA build of the addon: TORCHVIDEO_ADDON=build-cuda/Release/torchvideo.node, see scripts/gpu-check.sh)
// prints, per network, precision (float32; half = float16 weights and input, float32 logits), batch
// size and input source (already on the GPU, or in host memory), ms/clip through torchvideo beside
// PyTorch on the same GPU and export (scripts/bench_python.py --device cuda: TorchScript frozen and
// optimized, and torchvision's eager module in channels_last_3d, under autocast for half), with
// torchvideo / PyTorch best and, for host input, host / on-device (what exactly is timed, and why the
// logits are copied back to host memory: bench-gpu.js).
// Python is $PYTHON when set, else /usr/bin/python3 on CPU (Debian's torch, the addon's LibTorch) and
// python3 on CUDA. Without a usable CUDA device it exits 2 with the ERR_DEVICE_UNAVAILABLE message.
//
// This file is the driver: it reads the flags and runs the parts; what they share (timing, table cells,
// PyTorch's side, the bench's videos) is bench-common.js.
'use strict';
require('./bench-alone').usageIfAsked(`node scripts/bench.js [--arch r3d_18,mc3_18,r2plus1d_18] [--batch 1,8] [--iters 5] [--no-scripted]
         [--no-python] [--no-onnx] [--no-video] [--no-train] [--no-train-data] [--no-scaling] [--no-precision]
         [--no-serve] [--serve] [--no-streams] [--streams] [--streams-quick] [--no-decode-plan] [--decode-plan] [--json FILE]
       node scripts/bench.js --device cuda[:N] [--arch ...] [--batch 1,32] [--precision float32,half] [--iters 20]
         [--no-python] [--json FILE]`);
const fs = require('node:fs');
const { parseArgs } = require('node:util');

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
const { ROOT, THREADS, usageError } = require('./bench-common');

const onGpu = args.device !== 'cpu';
// What every part reads (bench-common.js describes it).
const config = {
  args,
  device: args.device,
  onGpu,
  archs: args.arch.split(','),
  batches: (args.batch ?? (onGpu ? '1,32' : '1,8')).split(',').map(Number),
  iters: Number(args.iters ?? (onGpu ? '20' : '5')),
  // Untimed calls first: the profiling executor optimizes on the second call; on CUDA a third lets the
  // fusers compile and cuDNN's autotuner settle (bench_python.py warms up as many times).
  warmup: onGpu ? 3 : 2,
  precisions: args.precision.split(','),
  python: process.env.PYTHON || (onGpu ? 'python3' : '/usr/bin/python3'),
};
if (!/^(cpu|cuda(:\d{1,3})?)$/.test(config.device)) usageError(`expected --device cpu, cuda or cuda:N, got '${config.device}'`);
if (!config.batches.every((b) => Number.isInteger(b) && b >= 1)) {
  usageError(`expected --batch to be integers >= 1, got '${args.batch}'`);
}
if (!(Number.isInteger(config.iters) && config.iters >= 1)) usageError(`expected --iters to be an integer >= 1, got '${args.iters}'`);
if (!config.precisions.every((p) => p === 'float32' || p === 'half')) {
  usageError(`expected --precision float32 and/or half, got '${args.precision}'`);
}

const { versions } = require(ROOT);

async function main() {
  if (args.serve) {
    const serve = await require('./bench-serve').benchServe({ arch: config.archs[0] });
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
  const { python, results, finite, inputCopy } = await require('./bench-cpu').benchCpu(config);
  let video;
  if (!args['no-video']) video = await require('./bench-video').benchVideoRows(config);
  let training;
  if (!args['no-train']) training = await require('./bench-training').benchTrainingRows(config);
  let precision;
  if (!args['no-precision']) {
    console.log();
    precision = await require('./bench-precision').benchPrecision({ archs: config.archs });
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
        {
          versions,
          threads: THREADS,
          python,
          results,
          finite,
          inputCopy,
          video,
          training,
          precision,
          scaling,
          serve,
          streams,
          decodePlan,
        },
        null,
        2,
      ),
    );
}

(onGpu ? () => require('./bench-gpu').benchGpu(config) : main)().catch((error) => {
  console.error(error);
  process.exit(1);
});
