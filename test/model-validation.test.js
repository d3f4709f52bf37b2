'use strict';
// loadModel refuses what would otherwise answer with silently wrong numbers: modules that are not
// classifiers, non-finite weights, exports whose bytes changed since export; and every refusal says
// why. The bad modules are made at test time with Debian's torch (test/py/make_bad_modules.py).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadModel, classifyVideo, Tensor } = require('..');
const { fixture } = require('./helpers/fixtures');
const { PYTHON } = require('./helpers/python-reference');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');

const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
execFileSync(PYTHON, [path.join(ROOT, 'test', 'py', 'make_bad_modules.py'), '--out', dir, '--model', modelPath('mc3_18')], {
  stdio: ['ignore', 'ignore', 'inherit'],
});
const bad = (name) => path.join(dir, name);

t.test('a module that is not a classifier is refused at load, naming what it returned', async (t) => {
  for (const warmup of [true, false]) {
    await t.rejects(loadModel(bad('identity.pt'), { warmup }), {
      name: 'TorchVideoError',
      code: 'ERR_MODEL_LOAD',
      message:
        `model '${bad('identity.pt')}' is not a video classifier: its forward returned a float32 tensor of shape ` +
        '[1, 3, 16, 112, 112] for a batch of 1, expected float logits of shape [1, classes]',
    });
  }
  await t.rejects(loadModel(bad('tuple.pt')), { code: 'ERR_MODEL_LOAD', message: /its forward returned a tuple for a batch of 1/ });
});

t.test('a module that fails at load-time warm-up is ERR_MODEL_LOAD, with its own reason', async (t) => {
  await t.rejects(loadModel(bad('raises.pt')), {
    name: 'TorchVideoError',
    code: 'ERR_MODEL_LOAD',
    message: /model '.*raises\.pt' fails on a \[1, 3, 16, 112, 112\] input at load: forward failed: this module refuses every input/,
  });
});

t.test('non-finite parameters and buffers are refused, naming the first', async (t) => {
  await t.rejects(loadModel(bad('nan-weights.pt'), { warmup: false }), {
    code: 'ERR_MODEL_LOAD',
    message: /has a parameter holding non-finite values: 'layer2\.0\.conv1\.0\.weight' \[3, 1, 0, 1, 2\] is NaN/,
  });
  await t.rejects(loadModel(bad('inf-buffer.pt'), { warmup: false }), {
    code: 'ERR_MODEL_LOAD',
    message: /has a buffer holding non-finite values: 'layer1\.0\.conv1\.1\.running_var' \[5\] is Infinity/,
  });
});

t.test("an export whose bytes differ from its sidecar's sha256 is refused unless verify is false", async (t) => {
  const copy = path.join(dir, 'flipped.pt');
  const bytes = Buffer.from(fs.readFileSync(modelPath('mc3_18')));
  // A byte deep inside the weights: the archive still opens and the network still runs.
  bytes[Math.floor(bytes.length * 0.7)] ^= 0x40;
  fs.writeFileSync(copy, bytes);
  fs.copyFileSync(modelPath('mc3_18').replace(/\.pt$/, '.json'), path.join(dir, 'flipped.json'));
  const sidecar = JSON.parse(fs.readFileSync(path.join(dir, 'flipped.json'), 'utf8'));
  t.match(sidecar.sha256, /^[0-9a-f]{64}$/, 'the export recorded its sha256');
  await t.rejects(loadModel(copy, { warmup: false }), {
    name: 'TorchVideoError',
    code: 'ERR_MODEL_LOAD',
    path: copy,
    message: new RegExp(`model '.*flipped\\.pt' does not match its sidecar: sha256 [0-9a-f]{64}, the sidecar records ${sidecar.sha256}`),
  });
  const unchecked = await loadModel(copy, { warmup: false, verify: false });
  t.equal(unchecked.info.numClasses, 400, 'verify: false loads it');
  unchecked.dispose();
  await t.rejects(loadModel(copy, { verify: 'no' }), { name: 'TypeError', message: /expected options.verify to be a boolean/ });
});

t.test('damaged archives are refused with a reason that says something', async (t) => {
  const damaged = fs.readdirSync(dir).filter((f) => f.startsWith('damaged-'));
  t.equal(damaged.length, 4, 'four damaged exports were made');
  for (const name of damaged) {
    const error = await loadModel(bad(name), { warmup: false }).then(
      () => null,
      (e) => e,
    );
    t.ok(error, `${name} is refused`);
    t.equal(error?.code, 'ERR_MODEL_LOAD', `${name}: ERR_MODEL_LOAD`);
    const reason = error?.message.split(`${name}': `)[1] ?? '';
    t.match(reason, /\S{3,}/, `${name}: a reason follows the path ("${reason.slice(0, 60)}")`);
  }
});

t.test('classify never answers with an empty top', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const result = await classifyVideo(model, fixture('h264.mp4'), { clipsPerVideo: 1, topk: 3 });
  t.equal(result.top.length, 3);
  t.ok(result.top.every((p) => typeof p.label === 'string' && p.label.length > 0));
  const logits = await model.forward(Tensor.from(new Float32Array(3 * 4 * 32 * 32), [1, 3, 4, 32, 32]));
  t.same(logits.shape, [1, model.info.numClasses]);
  model.dispose();
});
