'use strict';
// The GPU rows of `npm run bench -- --device cuda[:N]` (scripts/bench.js; a CUDA build of the addon:
// TORCHVIDEO_ADDON=build-cuda/Release/torchvideo.node, see scripts/gpu-check.sh): per network, precision
// (float32; half = float16 weights and input, float32 logits), batch size and input source (already on the
// GPU, or in host memory), ms/clip through torchvideo beside PyTorch on the same GPU and export
// (scripts/bench_python.py --device cuda: TorchScript frozen and optimized, and torchvision's eager module
// in channels_last_3d, under autocast for half), then the training rows on the GPU (bench-training.js).
// What is timed, on both sides: one call from a float32 clip to float32 logits in host memory,
// `(await model.forward(x)).to('cpu')` here and `module(x).float().cpu()` + torch.cuda.synchronize() in
// Python. The copy back is what makes the time honest: forward()'s promise resolves once the executor has
// queued the kernels (cpp/model.cpp does not synchronize; the logits stay on the GPU), so timing forward()
// alone would time the launches.
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, MODELS, CLIP, THREADS, usageError, randomInput, timeIt, runBenchPython, fmtGpu, printTable } = require('./bench-common');
const { benchTrainingGpu } = require('./bench-training');

const { loadModel, Tensor, TorchVideoError, versions } = require(ROOT);

// Fails with the addon's own ERR_DEVICE_UNAVAILABLE message (a CPU-only LibTorch, no GPU, an index
// past the last one) before any model is loaded.
async function checkDevice(device) {
  const probe = Tensor.from(new Float32Array(1), [1]);
  try {
    (await probe.to(device)).dispose();
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

async function benchTorchvideoGpu(config, arch) {
  const rows = [];
  for (const precision of config.precisions) {
    const model = await loadModel(path.join(MODELS, `${arch}.pt`), { device: config.device, half: precision === 'half' });
    for (const batch of config.batches) {
      const host = Tensor.from(randomInput(batch), [batch, ...CLIP]);
      const device = await host.to(config.device);
      for (const [input, tensor] of [
        ['device', device],
        ['host', host],
      ]) {
        rows.push({ arch, precision, batch, input, msPerClip: await timeIt(config, gpuCall(model, tensor), batch) });
      }
      device.dispose();
      host.dispose();
    }
    model.dispose();
  }
  return rows;
}

// PyTorch's rows; when Python fails, torchvideo's rows are still printed, with the reason.
function benchPythonGpu(config) {
  try {
    return runBenchPython(config, [
      '--warmup',
      String(config.warmup),
      '--device',
      config.device,
      '--modes',
      'optimized,eager',
      '--precision',
      config.precisions.join(','),
      '--inputs',
      'device,host',
    ]);
  } catch (error) {
    return {
      rows: [],
      error: `${config.python} scripts/bench_python.py failed (${error.status === null ? error.message : `exit ${error.status}`})`,
    };
  }
}

/** The GPU rows, printed; with --json, written there. */
async function benchGpu(config) {
  const { args, device: DEVICE, iters: ITERS, warmup: WARMUP } = config;
  try {
    await checkDevice(DEVICE);
  } catch (error) {
    if (error instanceof TorchVideoError) usageError(`--device ${DEVICE}: ${error.code}: ${error.message}`);
    throw error;
  }
  console.log(`torchvideo ${versions.torchvideo} | LibTorch ${versions.libtorch} | ${DEVICE} | ${THREADS} CPU threads`);
  const results = [];
  for (const arch of config.archs) results.push(...(await benchTorchvideoGpu(config, arch)));
  let python = { rows: [] };
  if (!args['no-python']) python = benchPythonGpu(config);
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
  console.log(`ms per clip on ${DEVICE} (lower is better); input: "device" = already on the GPU, "host" = host memory`);
  printTable(header, lines);

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
  const training = args['no-train'] ? undefined : await benchTrainingGpu(config);
  if (args.json) {
    fs.writeFileSync(args.json, JSON.stringify({ versions, device: DEVICE, iters: ITERS, python, results, training }, null, 2));
  }
}

module.exports = { benchGpu };
