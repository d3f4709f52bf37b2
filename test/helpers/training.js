// Shared by the trainer tests: small batches, and the Python references they are checked against
// (computed at test time by Debian's torch, never taken from torchvideo itself).
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { Tensor } = require('../..');
const { PYTHON } = require('./python-reference');
const { ROOT } = require('./paths');
const { randomFloats } = require('./numbers');

// Small clips keep a step of r3d_18 well under a second on 2 cores; the adaptive pool takes any size.
const SMALL_CLIPS = [2, 3, 4, 32, 32];

function clipsTensor(shape = SMALL_CLIPS, seed = 11) {
  return Tensor.from(
    randomFloats(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

function labelsTensor(values) {
  return Tensor.from(
    BigInt64Array.from(values, (v) => BigInt(v)),
    [values.length],
  );
}

// `python`: another interpreter (the CUDA PyTorch's on a GPU machine, test/gpu/trainer-check.js).
function runPython(script, args, python = PYTHON) {
  const stdout = execFileSync(python, [path.join(ROOT, 'test', 'py', script), ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 2 ** 20,
  });
  return JSON.parse(stdout.trim().split('\n').pop());
}

// PyTorch's own steps on the same batch; `compare` maps a step number to torchvideo's export after it.
function referenceSteps(
  dir,
  { model, clips, labels, steps, lr, momentum, weightDecay, compare = {}, device = 'cpu', amp = false, python },
) {
  const clipsFile = path.join(dir, 'clips.bin');
  const labelsFile = path.join(dir, 'labels.bin');
  const data = clips.data();
  fs.writeFileSync(clipsFile, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  const labelData = labels.data();
  fs.writeFileSync(labelsFile, Buffer.from(labelData.buffer, labelData.byteOffset, labelData.byteLength));
  const args = ['--model', model, '--clips', clipsFile, '--shape', clips.shape.join(','), '--labels', labelsFile];
  args.push('--steps', String(steps), '--lr', String(lr), '--momentum', String(momentum), '--weight-decay', String(weightDecay));
  for (const [step, file] of Object.entries(compare)) args.push('--compare', `${step}:${file}`);
  args.push('--device', device);
  if (amp) args.push('--amp');
  return runPython('ref_train_step.py', args, python);
}

// {parameters: {name: bitIdentical}, buffers: {...}} for two TorchScript exports (`python`: the GPU
// checks pass the CUDA machine's interpreter).
function compareExports(a, b, python = PYTHON) {
  return runPython('compare_exports.py', [a, b], python);
}

/**
 * A tiny fine-tuning job in `root`: moving-shapes train (12 videos) and val (4) sets, and mc3_18's export as
 * the start with a sidecar for 8x56x56 clips (shapesStartingExport). Used by the CLI and distributed tests.
 */
function movingShapesJob(root) {
  const { makeMovingShapes, shapesStartingExport } = require('../../dist/internal.js');
  const { modelPath } = require('./paths');
  const train = path.join(root, 'train');
  const val = path.join(root, 'val');
  makeMovingShapes(train, { videosPerClass: 3, seed: 1 });
  makeMovingShapes(val, { videosPerClass: 1, seed: 2 });
  return { train, val, model: shapesStartingExport(modelPath('mc3_18'), path.join(root, 'start.pt')) };
}

module.exports = { SMALL_CLIPS, movingShapesJob, clipsTensor, labelsTensor, runPython, referenceSteps, compareExports };
