'use strict';
// expectSha256 pins the hash a caller trusts: an export or checkpoint is code (TorchScript), and its
// sidecar's sha256 proves only that the file is intact, since whoever replaces the file can replace the
// sidecar too. loadModel, Trainer.create and Trainer.restore compare the file's sha256 with the pinned one
// before loading anything; a mismatch names both hashes, a malformed pin is a bad argument.
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadModel, Trainer } = require('..');
const { modelPath, tempDir } = require('./helpers/paths');

const dir = tempDir('torchvideo-pin-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
const model = modelPath('mc3_18');
const modelHash = sha256(model);
const OTHER = 'ab'.repeat(32);

t.test('loadModel: the pinned hash loads; another is ERR_MODEL_LOAD naming both, before anything loads', async (t) => {
  const pinned = await loadModel(model, { expectSha256: modelHash.toUpperCase(), warmup: false, threads: 1 });
  t.equal(pinned.info.arch, 'mc3_18', 'the pin is case-insensitive hex');
  pinned.dispose();
  await t.rejects(loadModel(model, { expectSha256: OTHER }), {
    name: 'TorchVideoError',
    code: 'ERR_MODEL_LOAD',
    path: model,
    message: `'${model}' is not the file you trust: its sha256 is ${modelHash}, expectSha256 is ${OTHER} (refused before loading: an export or checkpoint is code)`,
  });
  // Not TorchScript at all: the hash answers first, LibTorch never reads it.
  const foreign = path.join(dir, 'foreign.pt');
  fs.writeFileSync(foreign, 'not a model');
  await t.rejects(loadModel(foreign, { expectSha256: OTHER }), {
    code: 'ERR_MODEL_LOAD',
    message: /is not the file you trust: its sha256 is [0-9a-f]{64}/,
  });
  await t.rejects(loadModel(path.join(dir, 'missing.pt'), { expectSha256: OTHER }), { code: 'ERR_FILE_NOT_FOUND' });
});

t.test('a malformed pin is a bad argument', async (t) => {
  for (const bad of ['abc', 'g'.repeat(64), `${modelHash} `, `sha256:${modelHash}`]) {
    await t.rejects(loadModel(model, { expectSha256: bad }), {
      name: 'RangeError',
      message: /^expected options\.expectSha256 to be a sha256 as 64 hex digits, got /,
    });
  }
  await t.rejects(loadModel(model, { expectSha256: 42 }), {
    name: 'TypeError',
    message: /^expected options\.expectSha256 to be a sha256 as 64 hex digits, got number 42/,
  });
  await t.rejects(Trainer.create({ model, numClasses: 2, expectSha256: 'abc' }), { name: 'RangeError', message: /options\.expectSha256/ });
  await t.rejects(Trainer.restore(path.join(dir, 'x.ckpt'), { expectSha256: 'abc' }), {
    name: 'RangeError',
    message: /options\.expectSha256/,
  });
});

t.test('Trainer.create pins the export, Trainer.restore the checkpoint', async (t) => {
  await t.rejects(Trainer.create({ model, numClasses: 2, expectSha256: OTHER }), {
    code: 'ERR_MODEL_LOAD',
    message: `'${model}' is not the file you trust: its sha256 is ${modelHash}, expectSha256 is ${OTHER} (refused before loading: an export or checkpoint is code)`,
  });
  const trainer = await Trainer.create({ model, numClasses: 2, expectSha256: modelHash, threads: 1 });
  const checkpoint = path.join(dir, 'trainer.ckpt');
  await trainer.saveCheckpoint(checkpoint);
  trainer.dispose();
  const checkpointHash = sha256(checkpoint);
  await t.rejects(Trainer.restore(checkpoint, { expectSha256: OTHER }), {
    code: 'ERR_CHECKPOINT',
    path: checkpoint,
    message: `'${checkpoint}' is not the file you trust: its sha256 is ${checkpointHash}, expectSha256 is ${OTHER} (refused before loading: an export or checkpoint is code)`,
  });
  await t.rejects(Trainer.restore(path.join(dir, 'missing.ckpt'), { expectSha256: OTHER }), {
    code: 'ERR_FILE_NOT_FOUND',
    message: /checkpoint file not found/,
  });
  const restored = await Trainer.restore(checkpoint, { expectSha256: checkpointHash, threads: 1 });
  t.equal(restored.info.numClasses, 2);
  restored.dispose();
});
