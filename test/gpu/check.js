#!/usr/bin/env node
// CUDA checks in plain Node (node:assert, no tap: tap does not travel to a bare GPU machine), each
// printing its numbers. Run by scripts/gpu-check.sh with the CUDA build of the addon:
//
//   TORCHVIDEO_ADDON=build-cuda/Release/torchvideo.node [PYTHON=python3] node test/gpu/check.js [video|folder ...]
//
// Checks, on cuda:0:
// - per network (r3d_18, mc3_18, r2plus1d_18; models/<arch>.pt, or $TORCHVIDEO_MODELS/<arch>.pt):
//   logits vs PyTorch's own on the same GPU (the same export run by $PYTHON, default python3, frozen
//   and optimized as torchvideo does), vs torchvideo on the CPU, half vs float32, and an input already
//   on the GPU vs one in host memory; each reports the max abs diff, relative to the largest logit;
// - classifyVideo on CUDA vs on the CPU (mc3_18, every class's probability) for up to 3 videos: the
//   arguments (files or folders), $TORCHVIDEO_VIDEOS (':'-separated), ../shared/videos, shared/videos,
//   .gpu/videos; skipped with a note when there is none (the GPU machine has no ffmpeg CLI to make one);
// - 32 concurrent forwards: all settle, each equals its own sequential result, the event loop keeps
//   turning; its p99 delay is reported (monitorEventLoopDelay), not asserted;
// - tensors to the GPU and back, bit for bit; data() on a GPU tensor is ERR_DEVICE_MISMATCH;
// - a device index past the last GPU is ERR_DEVICE_UNAVAILABLE (loadModel and tensor.to).
// Ends with `gpu-check: N passed, N failed`; exits 1 if any check failed. Where LibTorch sees no CUDA
// device it prints `no CUDA device: skipped` and exits 0.
'use strict';
const assert = require('node:assert/strict');
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');

const ROOT = path.resolve(__dirname, '..', '..');
const { loadModel, Tensor, cuda, versions, classifyVideo } = require(ROOT);
const { randomFloats, maxAbsDiff } = require(path.join(ROOT, 'test', 'helpers', 'numbers'));
const { gpuChecks } = require('./harness');

const DEVICE = 'cuda';
const ARCHS = ['r3d_18', 'mc3_18', 'r2plus1d_18'];
const MODELS = process.env.TORCHVIDEO_MODELS ? path.resolve(process.env.TORCHVIDEO_MODELS) : path.join(ROOT, 'models');
const PYTHON = process.env.PYTHON || 'python3';
const SHAPE = [2, 3, 16, 112, 112];
const CLIP = [1, 3, 16, 112, 112];
const VIDEO_EXTENSIONS = new Set(['.mp4', '.mkv', '.avi', '.webm', '.mov', '.m4v']);
const MAX_VIDEOS = 3;
// Tolerances, relative to the largest |logit| of the reference. cuDNN convolutions run in TF32 by
// default (LibTorch's and PyTorch's default alike) and its autotuner may pick other algorithms in
// each process, so float32 results agree to about 1e-3 of the logits' scale, not bit for bit.
const TOL_FLOAT = 1e-2;
const TOL_HALF = 5e-2;
// Probabilities are in [0, 1] (about 1/400 each for random weights): an absolute bound, as test/cuda.test.js.
const TOL_PROBABILITIES = 1e-4;

const elements = (shape) => shape.reduce((a, b) => a * b, 1);
const modelFile = (arch) => path.join(MODELS, `${arch}.pt`);
const maxAbs = (values) => values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const exp = (x) => x.toExponential(2);

const { check, run } = gpuChecks('gpu-check');

// `a` against the reference `b`: the numbers, and a failed assertion past `tolerance`.
function compare(a, b, tolerance) {
  const diff = maxAbsDiff(a, b);
  const scale = Math.max(maxAbs(b), 1e-6);
  const detail = `max abs diff ${exp(diff)} (${exp(diff / scale)} of max |logit| ${exp(scale)})`;
  assert.ok(Number.isFinite(diff) && diff <= tolerance * scale, `${detail} > ${tolerance} x max |logit|`);
  return detail;
}

async function toHost(tensor) {
  const host = await tensor.to('cpu');
  tensor.dispose();
  const data = Float32Array.from(host.data());
  host.dispose();
  return data;
}

// ------------------------------------------------------------------------------ PyTorch on the GPU

const PYTORCH_REFERENCE = String.raw`
import json, sys
import numpy as np
import torch

spec = json.load(open(sys.argv[1]))
report = {"torch": torch.__version__, "cuda": torch.version.cuda, "available": torch.cuda.is_available()}
if not report["available"]:
    print(json.dumps(report))
    sys.exit(3)
device = torch.device(spec["device"])
# As torchvideo's CUDA models: cuDNN's autotuner on, frozen + optimize_for_inference, inference mode.
torch.backends.cudnn.benchmark = True
report["name"] = torch.cuda.get_device_name(device)
x = torch.from_numpy(np.fromfile(spec["input"], dtype="<f4").reshape(spec["shape"]).copy())
with torch.inference_mode():
    for arch, model, output in spec["models"]:
        module = torch.jit.load(model, map_location=device).eval()
        module = torch.jit.optimize_for_inference(torch.jit.freeze(module))
        xd = x.to(device)
        # The third call, as torchvideo's first real call comes after its two warm-up calls.
        for _ in range(3):
            y = module(xd)
        y.float().cpu().numpy().astype("<f4").tofile(output)
print(json.dumps(report))
`;

// Logits per arch from PyTorch on the GPU, or the reason there are none.
function pytorchOnGpu(input) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchvideo-gpu-check-'));
  try {
    const spec = {
      device: 'cuda:0',
      shape: SHAPE,
      input: path.join(dir, 'input.bin'),
      models: ARCHS.map((arch) => [arch, modelFile(arch), path.join(dir, `${arch}.bin`)]),
    };
    fs.writeFileSync(spec.input, Buffer.from(input.buffer, input.byteOffset, input.byteLength));
    fs.writeFileSync(path.join(dir, 'spec.json'), JSON.stringify(spec));
    let stdout;
    try {
      stdout = execFileSync(PYTHON, ['-c', PYTORCH_REFERENCE, path.join(dir, 'spec.json')], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 16 * 2 ** 20,
      });
    } catch (error) {
      const report = (error.stdout || '').trim();
      if (error.status === 3) return { error: `${PYTHON}'s torch sees no CUDA device (${report})` };
      const stderr = String(error.stderr || error.message)
        .trim()
        .split('\n')
        .slice(-3)
        .join(' | ');
      return { error: `${PYTHON} failed (exit ${error.status}): ${stderr}` };
    }
    const report = JSON.parse(stdout.trim().split('\n').pop());
    const logits = {};
    for (const [arch, , output] of spec.models) {
      const bytes = fs.readFileSync(output);
      logits[arch] = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    }
    return { report, logits };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------- videos

function findVideos(args) {
  const env = (process.env.TORCHVIDEO_VIDEOS || '').split(path.delimiter).filter(Boolean);
  const places = args.length
    ? args
    : [...env, path.resolve(ROOT, '..', 'shared', 'videos'), path.join(ROOT, 'shared', 'videos'), path.join(ROOT, '.gpu', 'videos')];
  const found = [];
  for (const place of places) {
    let stat;
    try {
      stat = fs.statSync(place);
    } catch {
      if (args.length) console.log(`note  ${place}: not found`);
      continue;
    }
    const files = stat.isDirectory()
      ? fs
          .readdirSync(place)
          .sort()
          .map((name) => path.join(place, name))
      : [place];
    for (const file of files) {
      if (VIDEO_EXTENSIONS.has(path.extname(file).toLowerCase()) && fs.statSync(file).isFile()) found.push(file);
    }
    if (found.length) break;
  }
  return found.slice(0, MAX_VIDEOS);
}

const probabilitiesByIndex = (result) =>
  Float32Array.from(
    result.top
      .slice()
      .sort((p, q) => p.index - q.index)
      .map((p) => p.score),
  );

// ------------------------------------------------------------------------------------------ checks

async function main() {
  const count = cuda.deviceCount();
  console.log(
    `torchvideo ${versions.torchvideo} | LibTorch ${versions.libtorch} | FFmpeg ${versions.ffmpeg} | ` +
      `addon ${process.env.TORCHVIDEO_ADDON || 'build/Release (node-gyp-build)'} | ${count} CUDA device(s)`,
  );
  if (!cuda.isAvailable()) {
    console.log(
      'no CUDA device: skipped (this LibTorch has no usable CUDA: a CPU-only build, or no GPU; ' +
        'build against a CUDA LibTorch and set TORCHVIDEO_ADDON, see scripts/gpu-check.sh)',
    );
    return;
  }
  for (const arch of ARCHS) {
    if (!fs.existsSync(modelFile(arch))) throw new Error(`${modelFile(arch)} is missing: run scripts/export_models.py --arch all`);
  }

  const input = randomFloats(elements(SHAPE), 5);
  const reference = pytorchOnGpu(input);
  if (reference.report) {
    const r = reference.report;
    console.log(`PyTorch ${r.torch} (CUDA ${r.cuda}) on ${r.name}, via ${PYTHON}`);
  }

  for (const arch of ARCHS) {
    const gpu = await loadModel(modelFile(arch), { device: DEVICE });
    const cpu = await loadModel(modelFile(arch), { warmup: false });
    const half = await loadModel(modelFile(arch), { device: DEVICE, half: true });
    const host = Tensor.from(input, SHAPE);
    const logits = await gpu.forward(host);
    const onGpu = { device: logits.device, dtype: logits.dtype, shape: logits.shape };
    const gpuLogits = await toHost(logits);

    await check(`${arch}: CUDA vs PyTorch on the GPU`, () => {
      assert.equal(onGpu.device, 'cuda:0', 'logits stay on the device');
      assert.deepEqual(onGpu.shape, [SHAPE[0], gpu.info.numClasses]);
      if (reference.error) throw new Error(reference.error);
      return compare(gpuLogits, reference.logits[arch], TOL_FLOAT);
    });
    await check(`${arch}: CUDA vs CPU`, async () => compare(gpuLogits, await toHost(await cpu.forward(host)), TOL_FLOAT));
    await check(`${arch}: half vs float32 on CUDA`, async () => {
      const halfLogits = await half.forward(host);
      assert.equal(halfLogits.dtype, 'float32', 'half precision returns float32 logits');
      return compare(await toHost(halfLogits), gpuLogits, TOL_HALF);
    });
    await check(`${arch}: input on the GPU vs in host memory`, async () => {
      const device = await host.to(DEVICE);
      const result = await toHost(await gpu.forward(device));
      device.dispose();
      return compare(result, gpuLogits, TOL_FLOAT);
    });
    host.dispose();
    for (const model of [gpu, cpu, half]) model.dispose();
  }

  const videos = findVideos(process.argv.slice(2));
  if (!videos.length) {
    console.log('note  classifyVideo CUDA vs CPU: skipped, no video found (pass a file or folder, or set TORCHVIDEO_VIDEOS)');
  } else {
    const gpu = await loadModel(modelFile('mc3_18'), { device: DEVICE });
    const cpu = await loadModel(modelFile('mc3_18'));
    const topk = gpu.info.numClasses;
    for (const video of videos) {
      await check(`classifyVideo mc3_18 CUDA vs CPU, ${path.basename(video)}`, async () => {
        const [a, b] = await Promise.all([classifyVideo(gpu, video, { topk }), classifyVideo(cpu, video, { topk })]);
        assert.equal(a.clips, b.clips, 'same clips');
        const diff = maxAbsDiff(probabilitiesByIndex(a), probabilitiesByIndex(b));
        const detail =
          `${a.clips} clips, max abs diff of ${topk} probabilities ${exp(diff)}, top-1 ` + `${a.top[0].index} vs ${b.top[0].index}`;
        assert.ok(diff <= TOL_PROBABILITIES, `${detail} > ${TOL_PROBABILITIES}`);
        return detail;
      });
    }
    gpu.dispose();
    cpu.dispose();
  }

  await check('32 concurrent forwards on CUDA settle, each with its own result', async () => {
    const model = await loadModel(modelFile('mc3_18'), { device: DEVICE });
    const inputs = Array.from({ length: 32 }, (_, i) => Tensor.from(randomFloats(elements(CLIP), 100 + i), CLIP));
    const sequential = [];
    for (const x of inputs) sequential.push(await toHost(await model.forward(x)));
    // A 1 ms timer counts the loop's turns while the 32 calls are pending: none would fire if the
    // work ran on the JS thread.
    let turns = 0;
    const timer = setInterval(() => turns++, 1);
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const start = performance.now();
    const settled = await Promise.allSettled(inputs.map(async (x) => toHost(await model.forward(x))));
    const wallMs = performance.now() - start;
    clearInterval(timer);
    delay.disable();
    const rejected = settled.filter((s) => s.status === 'rejected');
    assert.equal(rejected.length, 0, `${rejected.length} rejected: ${rejected[0]?.reason?.message}`);
    let worst = 0;
    settled.forEach((s, i) => {
      worst = Math.max(worst, maxAbsDiff(s.value, sequential[i]) / Math.max(maxAbs(sequential[i]), 1e-6));
    });
    assert.ok(worst <= TOL_FLOAT, `a result differs from its sequential run by ${exp(worst)} of max |logit|`);
    assert.ok(turns >= 1, 'the event loop turned while the forwards were pending');
    for (const x of inputs) x.dispose();
    model.dispose();
    return (
      `${wallMs.toFixed(1)} ms for 32, event-loop delay p99 ${(delay.percentile(99) / 1e6).toFixed(2)} ms ` +
      `max ${(delay.max / 1e6).toFixed(2)} ms, ${turns} timer turns while pending, worst diff vs sequential ${exp(worst)}`
    );
  });

  await check('tensors to the GPU and back', async () => {
    const small = Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]);
    const onGpu = await small.to(DEVICE);
    assert.equal(onGpu.device, 'cuda:0');
    assert.throws(() => onGpu.data(), { code: 'ERR_DEVICE_MISMATCH' });
    assert.deepEqual(Array.from(await toHost(onGpu)), [1, 2, 3, 4]);
    small.dispose();
    const bytes = Uint8Array.from({ length: 3 * 16 * 112 * 112 }, (_, i) => (i * 31) & 255);
    const u8Host = Tensor.from(bytes, [3, 16, 112, 112]);
    const u8 = await u8Host.to('cuda:0');
    u8Host.dispose();
    assert.equal(u8.dtype, 'uint8');
    const u8Back = await u8.to('cpu');
    assert.deepEqual(Buffer.from(u8Back.data()), Buffer.from(bytes), 'uint8 round trip bit for bit');
    u8.dispose();
    u8Back.dispose();
    // A batch of 32 clips (77 MB): timed each way, for the numbers.
    const big = randomFloats(elements([32, ...CLIP.slice(1)]), 7);
    const host = Tensor.from(big, [32, ...CLIP.slice(1)]);
    let start = performance.now();
    const device = await host.to(DEVICE);
    const upMs = performance.now() - start;
    start = performance.now();
    const back = await device.to('cpu');
    const downMs = performance.now() - start;
    const same =
      Buffer.compare(
        Buffer.from(back.data().buffer, back.data().byteOffset, big.byteLength),
        Buffer.from(big.buffer, big.byteOffset, big.byteLength),
      ) === 0;
    assert.ok(same, 'float32 round trip bit for bit');
    for (const t of [host, device, back]) t.dispose();
    const gbps = (ms) => (big.byteLength / (ms * 1e6)).toFixed(2);
    return (
      `${(big.byteLength / 1e6).toFixed(0)} MB float32 host->GPU ${upMs.toFixed(1)} ms (${gbps(upMs)} GB/s), ` +
      `GPU->host ${downMs.toFixed(1)} ms (${gbps(downMs)} GB/s), bit for bit`
    );
  });

  await check(`a device index past the last GPU (cuda:${count}) is ERR_DEVICE_UNAVAILABLE`, async () => {
    const pattern = new RegExp(`this machine has ${count} CUDA device\\(s\\)`);
    const unavailable = { code: 'ERR_DEVICE_UNAVAILABLE', message: pattern };
    await assert.rejects(loadModel(modelFile('mc3_18'), { device: `cuda:${count}` }), unavailable);
    const x = Tensor.from(new Float32Array(4), [4]);
    await assert.rejects(x.to(`cuda:${count}`), unavailable);
    x.dispose();
    return 'loadModel and tensor.to both reject';
  });
}

run(main);
