'use strict';
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadModel, Tensor, TorchVideoError, cuda } = require('..');
const { execFileSync } = require('node:child_process');
const { ARCHS, modelPath, tempDir } = require('./helpers/paths');
const { PYTHON } = require('./helpers/python-reference');

// The reference: torchvision's own 400-class networks, counted by PyTorch at test time.
const PARAMETERS = JSON.parse(
  execFileSync(
    PYTHON,
    [
      '-c',
      'import json; from torchvision.models import video as v\n' +
        'print(json.dumps({a: sum(p.numel() for p in getattr(v, a)().parameters()) for a in ("r3d_18", "mc3_18", "r2plus1d_18")}))',
    ],
    { encoding: 'utf8' },
  ),
);

t.test('loadModel reads the module and its sidecar', async (t) => {
  for (const arch of ARCHS) {
    const model = await loadModel(modelPath(arch), { warmup: false });
    t.equal(model.info.arch, arch, `${arch} is recognised`);
    t.equal(model.info.numClasses, 400);
    t.equal(model.info.parameters, PARAMETERS[arch], `${arch} has torchvision's parameter count`);
    t.equal(model.info.device, 'cpu');
    t.equal(model.info.optimized, true);
    t.equal(model.info.labels.length, 400);
    t.equal(model.info.labels[0], 'abseiling', 'Kinetics-400 labels in torchvision order');
    t.equal(model.info.labels[399], 'zumba');
    t.same(model.info.preprocessing.resizeSize, [128, 171]);
    t.equal(model.info.preprocessing.clipLength, 16);
    model.dispose();
    t.equal(model.disposed, true);
  }
});

t.test('without a sidecar the module alone gives arch, classes and generic labels', async (t) => {
  const dir = tempDir();
  const copy = path.join(dir, 'net.pt');
  fs.copyFileSync(modelPath('mc3_18'), copy);
  const model = await loadModel(copy, { warmup: false, optimize: false });
  t.equal(model.info.arch, 'mc3_18');
  t.equal(model.info.numClasses, 400);
  t.equal(model.info.labels[5], 'class_5');
  t.equal(model.info.optimized, false);
  t.equal(model.info.preprocessing.cropSize[0], 112, "torchvision's preset by default");
  model.dispose();
  fs.rmSync(dir, { recursive: true });
});

t.test('bad calls to loadModel', async (t) => {
  const dir = tempDir();
  const missing = path.join(dir, 'missing.pt');
  const text = path.join(dir, 'notes.pt');
  fs.writeFileSync(text, 'this is not a TorchScript archive\n');
  const empty = path.join(dir, 'empty.pt');
  fs.writeFileSync(empty, '');
  const truncated = path.join(dir, 'truncated.pt');
  const whole = fs.readFileSync(modelPath('mc3_18'));
  fs.writeFileSync(truncated, whole.subarray(0, Math.floor(whole.length / 2)));
  const badSidecar = path.join(dir, 'bad.pt');
  fs.copyFileSync(modelPath('mc3_18'), badSidecar);
  fs.writeFileSync(path.join(dir, 'bad.json'), '{ not json');

  await t.rejects(loadModel(missing), {
    name: 'TorchVideoError',
    code: 'ERR_FILE_NOT_FOUND',
    message: /model file not found: '.*missing\.pt'/,
  });
  await t.rejects(loadModel(dir), { code: 'ERR_NOT_A_FILE', message: /model path is not a regular file/ });
  await t.rejects(loadModel(text), { code: 'ERR_MODEL_LOAD', message: /cannot load TorchScript model '.*notes\.pt': .*zip archive/ });
  await t.rejects(loadModel(empty), { code: 'ERR_MODEL_LOAD', message: /model file is empty/ });
  await t.rejects(loadModel(truncated), { code: 'ERR_MODEL_LOAD', message: /cannot load TorchScript model '.*truncated\.pt'/ });
  await t.rejects(loadModel(badSidecar), { code: 'ERR_MODEL_LOAD', message: /cannot read the model's sidecar '.*bad\.json'/ });
  await t.rejects(loadModel(123), { name: 'TypeError', message: /expected path to be a string, got number 123/ });
  await t.rejects(loadModel(''), { name: 'RangeError', message: /expected path to be a non-empty string/ });
  await t.rejects(loadModel(modelPath('mc3_18'), 'cpu'), { name: 'TypeError', message: /expected options to be an object/ });
  await t.rejects(loadModel(modelPath('mc3_18'), { device: 'tpu' }), {
    name: 'RangeError',
    message: /expected options.device to be 'cpu', 'cuda' or 'cuda:N', got 'tpu'/,
  });
  await t.rejects(loadModel(modelPath('mc3_18'), { optimize: 'yes' }), {
    name: 'TypeError',
    message: /expected options.optimize to be a boolean/,
  });
  await t.rejects(loadModel(modelPath('mc3_18'), { threads: 0 }), {
    name: 'RangeError',
    message: /expected options.threads to be an integer between 1 and 1024, got number 0/,
  });
  await t.rejects(loadModel(modelPath('mc3_18'), { precision: 'fp16' }), {
    name: 'RangeError',
    message: /options.precision 'fp16' .* CUDA/,
  });
  if (!cuda.isAvailable()) {
    const error = await loadModel(modelPath('mc3_18'), { device: 'cuda:1' }).catch((e) => e);
    t.ok(error instanceof TorchVideoError);
    t.equal(error.code, 'ERR_DEVICE_UNAVAILABLE');
    t.match(error.message, /device 'cuda:1' is not available: this LibTorch has no usable CUDA \(a CPU-only build/);
  }
  // The process goes on working after every failure above.
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const logits = await model.forward(Tensor.from(new Float32Array(3 * 4 * 32 * 32), [1, 3, 4, 32, 32]));
  t.same(logits.shape, [1, 400], 'still works after the failures');
  fs.rmSync(dir, { recursive: true });
});
