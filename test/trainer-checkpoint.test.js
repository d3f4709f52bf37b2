'use strict';
// Checkpoints: 2 steps, save, restore, 2 more steps end bit-identical (every parameter and buffer) to
// 4 steps that never stopped; steps called without awaiting run in call order; a torn or foreign file
// is refused naming its path; a save never leaves a half-written file behind.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { Trainer } = require('..');
const { modelPath, tempDir } = require('./helpers/paths');
const { clipsTensor, labelsTensor, compareExports } = require('./helpers/training');

const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const OPTIONS = { model: modelPath('r3d_18'), numClasses: 5, lr: 0.05, seed: 42, labels: ['a', 'b', 'c', 'd', 'e'] };
// A different batch for each step, so a restored trainer that replayed the wrong step would show.
const batches = [0, 1, 2, 3].map((i) => ({ clips: clipsTensor(undefined, 100 + i), labels: labelsTensor([i % 5, (i + 2) % 5]) }));
const checkpoint = path.join(dir, 'trainer.ckpt');

function allTrue(t, comparison, what) {
  for (const kind of ['parameters', 'buffers']) {
    const differing = Object.entries(comparison[kind]).filter(([, same]) => !same);
    t.same(
      differing.map(([name]) => name),
      [],
      `${what}: every ${kind.slice(0, -1)} bit-identical (${Object.keys(comparison[kind]).length})`,
    );
  }
}

t.test('2 steps, save, restore, 2 steps == 4 steps without stopping', async (t) => {
  const uninterrupted = await Trainer.create(OPTIONS);
  t.teardown(() => uninterrupted.dispose());
  await uninterrupted.step(batches[0].clips, batches[0].labels);
  uninterrupted.setLearningRate(0.03);
  await uninterrupted.step(batches[1].clips, batches[1].labels);
  await uninterrupted.exportModel(path.join(dir, 'after2.pt'));
  await uninterrupted.saveCheckpoint(checkpoint);
  t.same(
    fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')),
    [],
    'no temporary file is left behind',
  );
  await uninterrupted.step(batches[2].clips, batches[2].labels);
  await uninterrupted.step(batches[3].clips, batches[3].labels);
  await uninterrupted.exportModel(path.join(dir, 'uninterrupted.pt'));

  const restored = await Trainer.restore(checkpoint);
  t.teardown(() => restored.dispose());
  t.equal(restored.learningRate, 0.03, 'the learning rate is restored');
  for (const key of [
    'arch',
    'numClasses',
    'labels',
    'momentum',
    'weightDecay',
    'freezeBackbone',
    'amp',
    'seed',
    'parameters',
    'preprocessing',
  ]) {
    t.same(restored.info[key], uninterrupted.info[key], `info.${key} is restored`);
  }
  await restored.step(batches[2].clips, batches[2].labels);
  await restored.step(batches[3].clips, batches[3].labels);
  await restored.exportModel(path.join(dir, 'restored.pt'));

  allTrue(t, compareExports(path.join(dir, 'uninterrupted.pt'), path.join(dir, 'restored.pt')), 'restored vs uninterrupted');
  const moved = compareExports(path.join(dir, 'after2.pt'), path.join(dir, 'restored.pt'));
  t.ok(
    Object.values(moved.parameters).some((same) => !same),
    'steps 3 and 4 changed the weights (the comparison is not vacuous)',
  );
});

t.test('steps called without awaiting run in call order', async (t) => {
  const trainer = await Trainer.create(OPTIONS);
  t.teardown(() => trainer.dispose());
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  const pending = [trainer.step(batches[0].clips, batches[0].labels)];
  trainer.setLearningRate(0.03);
  pending.push(...[1, 2, 3].map((i) => trainer.step(batches[i].clips, batches[i].labels)));
  const results = await Promise.all(pending);
  clearInterval(timer);
  t.ok(ticks > 0, `the event loop ran ${ticks} timer ticks during the steps`);
  t.equal(results.length, 4);
  await trainer.exportModel(path.join(dir, 'queued.pt'));
  allTrue(t, compareExports(path.join(dir, 'uninterrupted.pt'), path.join(dir, 'queued.pt')), 'queued vs awaited one by one');
});

t.test('torn and foreign checkpoints are refused, naming the path', async (t) => {
  const whole = fs.readFileSync(checkpoint);
  const cases = {
    'torn.ckpt': whole.subarray(0, Math.floor(whole.length / 2)),
    'torn-tail.ckpt': whole.subarray(0, whole.length - 100),
    'random.ckpt': Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) >>> 24)),
    'config.json': Buffer.from('{"numClasses": 5}\n'),
    'empty.ckpt': Buffer.alloc(0),
  };
  for (const [name, bytes] of Object.entries(cases)) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    await t.rejects(
      Trainer.restore(file),
      {
        name: 'TorchVideoError',
        code: 'ERR_CHECKPOINT',
        path: file,
        message: new RegExp(`cannot read checkpoint '${file.replace(/[.]/g, '\\.')}'`),
      },
      name,
    );
  }
  const exportFile = modelPath('r3d_18');
  await t.rejects(
    Trainer.restore(exportFile),
    { code: 'ERR_CHECKPOINT', path: exportFile, message: /is not a torchvideo trainer checkpoint/ },
    'a model export',
  );
  await t.rejects(Trainer.restore(path.join(dir, 'missing.ckpt')), { code: 'ERR_FILE_NOT_FOUND', message: /missing\.ckpt/ });
  await t.rejects(Trainer.restore(dir), { code: 'ERR_NOT_A_FILE' });
  await t.rejects(Trainer.restore(42), { name: 'TypeError', message: /expected path to be a string/ });
});

t.test('a checkpoint that cannot be written is an error naming the path', async (t) => {
  const trainer = await Trainer.create(OPTIONS);
  t.teardown(() => trainer.dispose());
  const file = path.join(dir, 'no-such-folder', 'trainer.ckpt');
  await t.rejects(trainer.saveCheckpoint(file), { code: 'ERR_CHECKPOINT', path: file, message: /no-such-folder/ });
});
