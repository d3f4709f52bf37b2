'use strict';
// A checkpoint's stored counts are checked before they drive a loop or an allocation, and its labels
// against num_classes: a real checkpoint with one field altered (by PyTorch, which reads and writes the
// archive: test/py/alter_checkpoint.py) is ERR_CHECKPOINT naming the field, never a huge loop, an
// allocation or a crash. The same rewrite with nothing altered restores, so each failure is its field's.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { Trainer } = require('..');
const { modelPath, tempDir } = require('./helpers/paths');
const { clipsTensor, labelsTensor, runPython } = require('./helpers/training');

const dir = tempDir('torchvideo-ckpt-counts-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const original = path.join(dir, 'original.ckpt');

t.before(async () => {
  // One step first, so the momentum buffers exist and are stored.
  const trainer = await Trainer.create({ model: modelPath('mc3_18'), numClasses: 2, labels: ['left', 'right'], seed: 1, threads: 1 });
  await trainer.step(clipsTensor(), labelsTensor([0, 1]));
  await trainer.saveCheckpoint(original);
  trainer.dispose();
});

let altered = 0;
function alter(key, value) {
  const file = path.join(dir, `altered-${altered++}.ckpt`);
  runPython('alter_checkpoint.py', [original, file, key, JSON.stringify(value)]);
  return file;
}

t.test('the rewrite alone changes nothing: the control restores', async (t) => {
  const trainer = await Trainer.restore(alter('-', null), { threads: 1 });
  t.same(trainer.info.labels, ['left', 'right']);
  t.equal(trainer.info.numClasses, 2);
  await trainer.step(clipsTensor(), labelsTensor([1, 0]));
  trainer.dispose();
});

t.test('counts out of range are ERR_CHECKPOINT naming the field', async (t) => {
  const cases = [
    ['num_classes', 0, "its 'num_classes' is 0, expected a class count in [1, 1000000000]"],
    ['num_classes', 2 ** 40, `its 'num_classes' is ${2 ** 40}, expected a class count in [1, 1000000000]`],
    ['labels', ['left'], "its 'labels' is 1, expected num_classes (2) names"],
    ['labels', ['a', 'b', 'c'], "its 'labels' is 3, expected num_classes (2) names"],
    ['momentum_buffers', -1, "its 'momentum_buffers' is -1, expected a count in [0, 1048576]"],
    // Read one by one, this count would loop for hours and hold a terabyte of empty tensors.
    ['momentum_buffers', 2 ** 40, `its 'momentum_buffers' is ${2 ** 40}, expected a count in [0, 1048576]`],
    ['step_count', -3, "its 'step_count' is -3, expected a step count >= 0"],
    ['version', 0, "its 'version' is 0, expected a format version >= 1"],
  ];
  for (const [key, value, reason] of cases) {
    const file = alter(key, value);
    await t.rejects(
      Trainer.restore(file, { threads: 1 }),
      { code: 'ERR_CHECKPOINT', path: file, message: `checkpoint '${file}' is damaged: ${reason}` },
      `${key} = ${JSON.stringify(value)}`,
    );
  }
});

t.test('a count within range that does not fit the network is refused at restore, not at the next step', async (t) => {
  const fewer = alter('momentum_buffers', 3);
  await t.rejects(Trainer.restore(fewer, { threads: 1 }), {
    code: 'ERR_CHECKPOINT',
    message: /the checkpoint holds 3 momentum buffers for \d+ trained parameters/,
  });
  const reshaped = alter('momentum_0', { zeros: [3] });
  await t.rejects(Trainer.restore(reshaped, { threads: 1 }), {
    code: 'ERR_CHECKPOINT',
    message: /the checkpoint's momentum buffer 0 does not match its parameter's shape and dtype/,
  });
});
