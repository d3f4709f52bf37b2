#!/usr/bin/env node
// CUDA checks of the trainer in plain Node (node:assert, no tap), each printing its numbers. Run on a
// GPU machine after scripts/gpu-check.sh has built the CUDA addon:
//
//   TORCHVIDEO_ADDON=build-cuda/Release/torchvideo.node [PYTHON=python3] node test/gpu/trainer-check.js
//
// On cuda:0, r3d_18 with a new 5-class fc (the start export is written by a CPU trainer, so every run
// starts from the same weights):
// - float32 steps equal PyTorch's on the same GPU (torch.jit.load, train mode, SGD) and torchvideo's
//   on the CPU, within TF32 tolerances (cuDNN's float32 convolutions run in TF32 by default);
// - amp: float16 autocast + GradScaler steps equal PyTorch's autocast + torch.cuda.amp.GradScaler;
// - an amp checkpoint restores on CUDA and keeps training; restoring it on the CPU is a RangeError.
// Ends with `trainer-gpu-check: N passed, N failed`; exits 1 if any failed; without CUDA it prints
// `no CUDA device: skipped` and exits 0.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const { Trainer, cuda } = require(ROOT);
const { tempDir } = require(path.join(ROOT, 'test', 'helpers', 'paths'));
const { clipsTensor, labelsTensor, referenceSteps } = require(path.join(ROOT, 'test', 'helpers', 'training'));
const { gpuChecks } = require('./harness');

const MODELS = process.env.TORCHVIDEO_MODELS ? path.resolve(process.env.TORCHVIDEO_MODELS) : path.join(ROOT, 'models');
const PYTHON = process.env.PYTHON || 'python3';
const SHAPE = [4, 3, 8, 56, 56];
const LABELS = [0, 3, 1, 4];
const STEPS = 3;
const RECIPE = { lr: 0.01, momentum: 0.9, weightDecay: 1e-4 };
// Relative to the loss, and to how far the steps moved the weights.
const TOL_LOSS = { float: 1e-2, amp: 5e-2 };
const TOL_WEIGHTS = { float: 5e-2, amp: 1e-1 };

const exp = (x) => x.toExponential(2);
const { check, run } = gpuChecks('trainer-gpu-check');

async function train(start, options, dir, tag) {
  const trainer = await Trainer.create({ model: start, numClasses: 5, seed: 0, ...RECIPE, ...options });
  const clips = clipsTensor(SHAPE, 21);
  const labels = labelsTensor(LABELS);
  const losses = [];
  for (let step = 1; step <= STEPS; step++) losses.push((await trainer.step(clips, labels)).loss);
  const file = path.join(dir, `${tag}.pt`);
  await trainer.exportModel(file);
  return { trainer, losses, file, clips, labels };
}

function againstPyTorch(start, run, { amp }) {
  const reference = referenceSteps(path.dirname(run.file), {
    model: start,
    clips: run.clips,
    labels: run.labels,
    steps: STEPS,
    ...RECIPE,
    compare: { [STEPS]: run.file },
    device: 'cuda',
    amp,
    python: PYTHON,
  });
  const kind = amp ? 'amp' : 'float';
  const lossDiffs = run.losses.map((loss, i) => Math.abs(loss - reference.losses[i]) / Math.abs(reference.losses[i]));
  const { parameters, update, missing, worst } = reference.compare[STEPS];
  assert.deepEqual(missing, []);
  assert.ok(Math.max(...lossDiffs) <= TOL_LOSS[kind], `losses ${run.losses} vs PyTorch ${reference.losses}`);
  assert.ok(
    parameters <= TOL_WEIGHTS[kind] * update,
    `weights differ by ${exp(parameters)} at ${worst}; the steps moved them ${exp(update)}`,
  );
  return `losses ${run.losses.map((l) => l.toFixed(4)).join(' ')} (PyTorch ${reference.losses.map((l) => l.toFixed(4)).join(' ')}); weights max diff ${exp(parameters)} vs update ${exp(update)}`;
}

async function main() {
  if (!cuda.isAvailable()) {
    console.log('no CUDA device: skipped');
    return;
  }
  const dir = tempDir('torchvideo-trainer-gpu-');
  try {
    const maker = await Trainer.create({ model: path.join(MODELS, 'r3d_18.pt'), numClasses: 5, seed: 3 });
    const start = path.join(dir, 'start.pt');
    await maker.exportModel(start);
    maker.dispose();

    const onGpu = await train(start, { device: 'cuda' }, dir, 'cuda-float');
    await check('float32 steps on CUDA equal PyTorch on the same GPU', () => againstPyTorch(start, onGpu, { amp: false }));
    await check('float32 steps on CUDA equal torchvideo on the CPU', async () => {
      const onCpu = await train(start, { device: 'cpu' }, dir, 'cpu-float');
      const diffs = onGpu.losses.map((loss, i) => Math.abs(loss - onCpu.losses[i]) / Math.abs(onCpu.losses[i]));
      onCpu.trainer.dispose();
      assert.ok(Math.max(...diffs) <= TOL_LOSS.float, `CUDA ${onGpu.losses} vs CPU ${onCpu.losses}`);
      return `relative loss differences ${diffs.map(exp).join(' ')}`;
    });
    await check('predict on CUDA returns float32 logits on the GPU', async () => {
      const logits = await onGpu.trainer.predict(onGpu.clips);
      assert.deepEqual(logits.shape, [SHAPE[0], 5]);
      assert.equal(logits.dtype, 'float32');
      assert.match(logits.device, /^cuda/);
      return logits.device;
    });
    onGpu.trainer.dispose();

    const amp = await train(start, { device: 'cuda', amp: true }, dir, 'cuda-amp');
    await check('amp steps (autocast float16 + GradScaler) equal PyTorch autocast + torch.cuda.amp.GradScaler', () =>
      againstPyTorch(start, amp, { amp: true }),
    );
    await check('an amp checkpoint restores on CUDA and keeps training; on the CPU it is a RangeError', async () => {
      const file = path.join(dir, 'amp.ckpt');
      await amp.trainer.saveCheckpoint(file);
      const restored = await Trainer.restore(file, { device: 'cuda' });
      assert.equal(restored.info.amp, true);
      const { loss } = await restored.step(amp.clips, amp.labels);
      const { loss: original } = await amp.trainer.step(amp.clips, amp.labels);
      restored.dispose();
      assert.ok(Number.isFinite(loss));
      assert.ok(Math.abs(loss - original) <= TOL_LOSS.amp * Math.abs(original), `restored ${loss} vs uninterrupted ${original}`);
      await assert.rejects(Trainer.restore(file, { device: 'cpu' }), { name: 'RangeError', message: /amp/ });
      return `step after restore: loss ${loss.toFixed(4)} (uninterrupted ${original.toFixed(4)})`;
    });
    amp.trainer.dispose();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

run(main);
