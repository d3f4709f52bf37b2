'use strict';
const t = require('tap');
const { loadModel, Tensor } = require('..');
const { modelPath } = require('./helpers/paths');
const { randomFloats } = require('./helpers/numbers');

const clip = (shape, Kind = Float32Array) => Tensor.from(new Kind(shape.reduce((a, b) => a * b, 1)), shape);

t.test('bad calls to model.forward', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  await t.rejects(model.forward(new Float32Array(10)), { name: 'TypeError', message: /expected input to be a Tensor, got a Float32Array/ });
  await t.rejects(model.forward([1, 2]), { name: 'TypeError', message: /expected input\[0\] to be a Tensor, got number 1/ });
  await t.rejects(model.forward(clip([1, 3, 4, 32, 32], Float64Array)), {
    name: 'TypeError',
    message: /expected input to be a float32 tensor, got float64/,
  });
  await t.rejects(model.forward(clip([3, 4, 32, 32])), {
    name: 'RangeError',
    message: /expected input to have 5 dimensions \(B, 3, T, H, W\), got shape \[3, 4, 32, 32\]/,
  });
  await t.rejects(model.forward(clip([1, 4, 4, 32, 32])), {
    name: 'RangeError',
    message: /expected input to have 3 colour channels in dimension 1, got shape \[1, 4, 4, 32, 32\]/,
  });
  await t.rejects(model.forward([]), { name: 'RangeError', message: /non-empty array of tensors/ });
  await t.rejects(model.forward([clip([3, 4, 32, 32]), clip([3, 4, 16, 16])]), {
    name: 'RangeError',
    message: /expected every clip to have the shape of input\[0\] \[3, 4, 32, 32\], got input\[1\] \[3, 4, 16, 16\]/,
  });
  await t.rejects(model.forward([clip([3, 4, 32, 32]), clip([1, 3, 4, 32, 32])]), { name: 'RangeError', message: /input\[1\]/ });
  // An empty clip: LibTorch's own message: LibTorch's own message, as a TorchVideoError.
  await t.rejects(model.forward(clip([1, 3, 0, 32, 32])), {
    name: 'TorchVideoError',
    code: 'ERR_FORWARD',
    message: /forward failed: .*Kernel size can't be greater than actual input size/,
  });

  const disposedInput = clip([1, 3, 4, 32, 32]);
  disposedInput.dispose();
  await t.rejects(model.forward(disposedInput), { code: 'ERR_DISPOSED', message: /tensor is disposed/ });

  const logits = await model.forward(clip([1, 3, 4, 32, 32]));
  t.same(logits.shape, [1, 400], 'the model still works after every bad call');
  model.dispose();
  await t.rejects(model.forward(clip([1, 3, 4, 32, 32])), { name: 'TorchVideoError', code: 'ERR_DISPOSED', message: /model is disposed/ });
  t.equal(model.nativeHandle, undefined, 'no native handle on the public object');
});

t.test('a one-clip array is a batch of one, equal to the same clip as a 5-D tensor', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const values = randomFloats(3 * 4 * 32 * 32, 7);
  const single = await model.forward([Tensor.from(values, [3, 4, 32, 32])]);
  t.same(single.shape, [1, 400]);
  const batched = await model.forward(Tensor.from(values, [1, 3, 4, 32, 32]));
  t.same(Array.from(single.data()), Array.from(batched.data()), 'the same logits');
  const oneBatch = await model.forward([Tensor.from(values, [1, 3, 4, 32, 32])]);
  t.same(oneBatch.shape, [1, 400], 'a one-element array of a batch stays that batch');
  model.dispose();
});

t.test('inputs holding NaN or Infinity are refused, naming the element', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const shape = [2, 3, 4, 32, 32];
  const cases = [
    [NaN, 0, '[0, 0, 0, 0, 0]', 'NaN'],
    [Infinity, 3 * 4 * 32 * 32 + 5, '[1, 0, 0, 0, 5]', 'Infinity'],
    [-Infinity, 2 * 32 * 32 + 33, '[0, 0, 2, 1, 1]', '-Infinity'],
  ];
  for (const [value, at, position, name] of cases) {
    const data = new Float32Array(2 * 3 * 4 * 32 * 32);
    data[at] = value;
    await t.rejects(model.forward(Tensor.from(data, shape)), {
      name: 'RangeError',
      message: `expected input to hold finite numbers, got element ${position} is ${name}`,
    });
  }
  const clipWithNaN = new Float32Array(3 * 4 * 32 * 32);
  clipWithNaN[32] = NaN;
  await t.rejects(model.forward([clip([3, 4, 32, 32]), Tensor.from(clipWithNaN, [3, 4, 32, 32])]), {
    name: 'RangeError',
    message: 'expected input[1] to hold finite numbers, got element [0, 0, 1, 0] is NaN',
  });
  // Huge but finite values overflow a float sum: they are still accepted.
  const huge = new Float32Array(3 * 4 * 32 * 32).fill(3e38);
  t.same((await model.forward([Tensor.from(huge, [3, 4, 32, 32])])).shape, [1, 400], 'huge finite values pass');
  model.dispose();
});
