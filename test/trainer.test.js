'use strict';
// What a trainer makes: exports that loadModel loads and that score clips as trainer.predict does;
// freezeBackbone trains fc alone, leaving every other parameter and every batch-norm statistic
// bit-identical; a new fc is initialised as torch.nn.Linear's default.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { Trainer, loadModel } = require('..');
const { modelPath, tempDir } = require('./helpers/paths');
const { maxAbsDiff } = require('./helpers/numbers');
const { clipsTensor, labelsTensor, compareExports, runPython } = require('./helpers/training');

const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('exportModel: loadModel loads it and its logits equal trainer.predict', async (t) => {
  const labels = ['archery', 'bowling', 'cooking', 'dancing', 'eating'];
  const trainer = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 5, labels, seed: 1 });
  t.teardown(() => trainer.dispose());
  await trainer.step(clipsTensor(), labelsTensor([1, 3]));
  const clips = clipsTensor([3, 3, 8, 56, 56], 9);
  const predicted = await trainer.predict(clips);
  t.same(predicted.shape, [3, 5]);
  t.same((await trainer.predict(clips)).data(), predicted.data(), 'predict changes nothing: a second call gives the same logits');

  const file = path.join(dir, 'trained.pt');
  await trainer.exportModel(file);
  const sidecar = JSON.parse(fs.readFileSync(path.join(dir, 'trained.json'), 'utf8'));
  t.match(sidecar, { arch: 'r3d_18', num_classes: 5, labels, clip_length: 16, crop_size: [112, 112], sha256: /^[0-9a-f]{64}$/ });

  const plain = await loadModel(file, { optimize: false, warmup: false });
  t.teardown(() => plain.dispose());
  t.match(plain.info, { arch: 'r3d_18', numClasses: 5, labels });
  const plainDiff = maxAbsDiff((await plain.forward(clips)).data(), predicted.data());
  t.ok(plainDiff <= 1e-5, `plain scripted export: max abs diff ${plainDiff.toExponential(2)} <= 1e-5`);
  const optimized = await loadModel(file, { warmup: false });
  t.teardown(() => optimized.dispose());
  const optimizedDiff = maxAbsDiff((await optimized.forward(clips)).data(), predicted.data());
  t.ok(optimizedDiff <= 1e-4, `frozen and optimized export: max abs diff ${optimizedDiff.toExponential(2)} <= 1e-4`);

  await trainer.exportModel(file, { labels: ['v', 'w', 'x', 'y', 'z'] });
  const relabelled = await loadModel(file, { warmup: false });
  t.teardown(() => relabelled.dispose());
  t.same(relabelled.info.labels, ['v', 'w', 'x', 'y', 'z'], 'labels given to exportModel reach the sidecar');
  t.equal(trainer.info.labels[0], 'archery', "the trainer's own labels stay");
});

t.test('freezeBackbone trains fc alone; batch-norm statistics stay frozen', async (t) => {
  const trainer = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 5, freezeBackbone: true, lr: 0.1, seed: 2 });
  t.teardown(() => trainer.dispose());
  t.equal(trainer.info.trainedParameters, 512 * 5 + 5, 'only fc.weight and fc.bias are trained');
  const before = path.join(dir, 'frozen-before.pt');
  const after = path.join(dir, 'frozen-after.pt');
  await trainer.exportModel(before);
  await trainer.step(clipsTensor(undefined, 3), labelsTensor([0, 4]));
  await trainer.step(clipsTensor(undefined, 4), labelsTensor([2, 1]));
  await trainer.exportModel(after);
  const comparison = compareExports(before, after);
  const changed = (kind) =>
    Object.entries(comparison[kind])
      .filter(([, same]) => !same)
      .map(([name]) => name)
      .sort();
  t.same(changed('parameters'), ['fc.bias', 'fc.weight'], 'only fc changed; every other parameter is bit-identical');
  t.same(changed('buffers'), [], 'every batch-norm buffer (running mean/var, batches tracked) is bit-identical');
  t.ok(Object.keys(comparison.buffers).length >= 40, `${Object.keys(comparison.buffers).length} buffers compared`);
});

t.test("a new fc is torch.nn.Linear's default initialisation, seeded", async (t) => {
  const seed = 1234;
  const a = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 7, seed });
  const b = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 7, seed });
  t.teardown(() => [a, b].forEach((trainer) => trainer.dispose()));
  await a.exportModel(path.join(dir, 'seeded-a.pt'));
  await b.exportModel(path.join(dir, 'seeded-b.pt'));
  const same = compareExports(path.join(dir, 'seeded-a.pt'), path.join(dir, 'seeded-b.pt'));
  t.ok(same.parameters['fc.weight'] && same.parameters['fc.bias'], 'the same seed gives the same fc');
  // PyTorch: torch.manual_seed(seed); nn.Linear(512, 7) draws the weight, then the bias, from the
  // CPU generator; the trainer's own generator starts from the same seed.
  const linear = runPython('ref_linear_init.py', [
    '--seed',
    String(seed),
    '--in',
    '512',
    '--out',
    '7',
    '--export',
    path.join(dir, 'seeded-a.pt'),
  ]);
  t.equal(linear.weight, 0, `fc.weight equals nn.Linear(512, 7) after torch.manual_seed(${seed}): max abs diff ${linear.weight}`);
  t.equal(linear.bias, 0, `fc.bias too: max abs diff ${linear.bias}`);
});
