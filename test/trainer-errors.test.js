'use strict';
// Bad calls to the trainer: each rejects with the error class the API documents and a message that
// names the argument, and nothing is queued.
const fs = require('node:fs');
const t = require('tap');
const { Trainer, Tensor, cuda } = require('..');
const { modelPath } = require('./helpers/paths');
const { SMALL_CLIPS, clipsTensor, labelsTensor } = require('./helpers/training');

const MODEL = modelPath('r3d_18');

t.test('Trainer.create: bad options', async (t) => {
  const base = { model: MODEL, numClasses: 5 };
  await t.rejects(Trainer.create(), { name: 'TypeError', message: /expected options to be an object/ });
  await t.rejects(Trainer.create({ numClasses: 5 }), { name: 'TypeError', message: /expected options\.model to be a string/ });
  await t.rejects(Trainer.create({ ...base, numClasses: 0 }), {
    name: 'RangeError',
    message: /expected options\.numClasses to be an integer between 1 and 1000000000, got number 0/,
  });
  await t.rejects(Trainer.create({ ...base, numClasses: 2.5 }), { name: 'RangeError', message: /options\.numClasses to be an integer/ });
  await t.rejects(Trainer.create({ ...base, numClasses: '5' }), {
    name: 'TypeError',
    message: /expected options\.numClasses to be a number/,
  });
  await t.rejects(Trainer.create({ model: MODEL }), { name: 'TypeError', message: /options\.numClasses/ });
  for (const name of ['lr', 'momentum', 'weightDecay']) {
    for (const value of [-0.1, NaN, Infinity]) {
      await t.rejects(
        Trainer.create({ ...base, [name]: value }),
        { name: 'RangeError', message: new RegExp(`expected options\\.${name} to be a finite number >= 0, got number ${value}`) },
        `${name} ${value}`,
      );
    }
    await t.rejects(Trainer.create({ ...base, [name]: '0.1' }), {
      name: 'TypeError',
      message: new RegExp(`options\\.${name} to be a number`),
    });
  }
  await t.rejects(Trainer.create({ ...base, labels: ['a', 'b'] }), {
    name: 'RangeError',
    message: /expected options\.labels to hold numClasses \(5\) names, got 2/,
  });
  await t.rejects(Trainer.create({ ...base, labels: [1, 2, 3, 4, 5] }), {
    name: 'TypeError',
    message: /expected options\.labels\[0\] to be a string/,
  });
  await t.rejects(Trainer.create({ ...base, seed: -1 }), { name: 'RangeError', message: /options\.seed/ });
  await t.rejects(Trainer.create({ ...base, freezeBackbone: 'yes' }), {
    name: 'TypeError',
    message: /options\.freezeBackbone to be a boolean/,
  });
  await t.rejects(Trainer.create({ ...base, amp: true }), {
    name: 'RangeError',
    message: /expected options\.amp to be used with a CUDA device, got device 'cpu'/,
  });
  await t.rejects(Trainer.create({ ...base, device: 'gpu' }), { name: 'RangeError', message: /options\.device/ });
  await t.rejects(Trainer.create({ ...base, model: '/no/such/model.pt' }), {
    name: 'TorchVideoError',
    code: 'ERR_FILE_NOT_FOUND',
    path: '/no/such/model.pt',
  });
  await t.rejects(Trainer.create({ ...base, model: __filename }), {
    name: 'TorchVideoError',
    code: 'ERR_MODEL_LOAD',
    message: /trainer-errors\.test\.js/,
  });
});

t.test("device 'cuda' without CUDA is ERR_DEVICE_UNAVAILABLE", { skip: cuda.isAvailable() && 'this machine has CUDA' }, async (t) => {
  await t.rejects(Trainer.create({ model: MODEL, numClasses: 5, device: 'cuda' }), {
    name: 'TorchVideoError',
    code: 'ERR_DEVICE_UNAVAILABLE',
    message: /device 'cuda' is not available/,
  });
  await t.rejects(Trainer.create({ model: MODEL, numClasses: 5, device: 'cuda', amp: true }), { code: 'ERR_DEVICE_UNAVAILABLE' });
});

t.test('step, predict, setLearningRate: bad inputs; every call after dispose', async (t) => {
  const trainer = await Trainer.create({ model: MODEL, numClasses: 5, seed: 0 });
  const clips = clipsTensor();
  const labels = labelsTensor([0, 1]);
  await t.rejects(trainer.step(clips, labelsTensor([1, 7])), {
    name: 'RangeError',
    message: 'expected labels[1] to be a class index in [0, 5) (numClasses 5), got 7',
  });
  await t.rejects(trainer.step(clips, labelsTensor([-1, 0])), {
    name: 'RangeError',
    message: /expected labels\[0\] to be a class index in \[0, 5\) \(numClasses 5\), got -1/,
  });
  await t.rejects(trainer.step(clips, Tensor.from(new Int32Array([0, 1]), [2])), {
    name: 'TypeError',
    message: 'expected labels to be an int64 tensor of class indices, got int32',
  });
  await t.rejects(trainer.step(clips, Tensor.from(new BigInt64Array(4), [2, 2])), {
    name: 'RangeError',
    message: /expected labels to have shape \(B\), got \[2, 2\]/,
  });
  await t.rejects(trainer.step(clips, labelsTensor([0, 1, 2])), {
    name: 'RangeError',
    message: 'expected one label per clip: clips has batch size 2, labels has 3',
  });
  const size = SMALL_CLIPS.reduce((a, b) => a * b, 1);
  await t.rejects(trainer.step(Tensor.from(new Float64Array(size), SMALL_CLIPS), labels), {
    name: 'TypeError',
    message: /expected clips to be a float32 tensor, got 'float64'/,
  });
  await t.rejects(trainer.step(Tensor.from(new Float32Array(size), [2, 3, 4, 1024]), labels), {
    name: 'RangeError',
    message: /expected clips to have shape \(B, 3, T, H, W\), got \[2, 3, 4, 1024\]/,
  });
  await t.rejects(trainer.step(Tensor.from(new Float32Array(size), [2, 4, 3, 32, 32]), labels), {
    name: 'RangeError',
    message: /clips to have shape \(B, 3, T, H, W\)/,
  });
  await t.rejects(trainer.step(new Float32Array(size), labels), {
    name: 'TypeError',
    message: /expected clips to be a Tensor, got a Float32Array/,
  });
  await t.rejects(trainer.step(clips, [0, 1]), { name: 'TypeError', message: /expected labels to be a Tensor, got an Array of length 2/ });
  await t.rejects(trainer.predict(Tensor.from(new Float32Array(size), [2, 3, 4, 1024])), {
    name: 'RangeError',
    message: /clips to have shape/,
  });
  t.throws(() => trainer.setLearningRate(-1), { name: 'RangeError', message: 'expected lr to be a finite number >= 0, got number -1' });
  t.throws(() => trainer.setLearningRate(NaN), { name: 'RangeError', message: /expected lr to be a finite number >= 0/ });
  t.throws(() => trainer.setLearningRate('0.1'), { name: 'TypeError', message: /expected lr to be a number/ });
  t.equal(trainer.learningRate, 0.01, 'a refused rate changes nothing');
  await t.rejects(trainer.exportModel(''), { name: 'RangeError', message: /expected path to be a non-empty string/ });
  await t.rejects(trainer.exportModel('/tmp/x.pt', { labels: ['a'] }), {
    name: 'RangeError',
    message: /options\.labels to hold numClasses \(5\) names, got 1/,
  });
  // Nothing above reached the network: the step that follows is the trainer's first.
  const { loss, correct } = await trainer.step(clips, labels);
  t.ok(Number.isFinite(loss) && loss > 0, `a good step still runs (loss ${loss.toFixed(4)})`);
  t.ok(Number.isInteger(correct) && correct >= 0 && correct <= 2, `correct ${correct}`);

  trainer.dispose();
  trainer.dispose();
  t.equal(trainer.disposed, true);
  const disposed = { name: 'TorchVideoError', code: 'ERR_DISPOSED', message: 'trainer is disposed' };
  await t.rejects(trainer.step(clips, labels), disposed, 'step');
  await t.rejects(trainer.predict(clips), disposed, 'predict');
  await t.rejects(trainer.exportModel('/tmp/never.pt'), disposed, 'exportModel');
  await t.rejects(trainer.saveCheckpoint('/tmp/never.ckpt'), disposed, 'saveCheckpoint');
  t.notOk(fs.existsSync('/tmp/never.pt') || fs.existsSync('/tmp/never.ckpt'), 'nothing was written');
});

t.test('a trainer disposed while its steps are queued finishes them', async (t) => {
  const trainer = await Trainer.create({ model: MODEL, numClasses: 5, seed: 0 });
  const pending = [trainer.step(clipsTensor(), labelsTensor([0, 1])), trainer.step(clipsTensor(), labelsTensor([2, 3]))];
  trainer.dispose();
  const results = await Promise.all(pending);
  t.ok(
    results.every((r) => Number.isFinite(r.loss)),
    'both queued steps ran to the end',
  );
});
