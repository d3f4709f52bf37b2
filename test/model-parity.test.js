'use strict';
// Logits through torchvideo equal the same export run by PyTorch in Python, on the same input,
// within 1e-4: optimized (frozen) against optimized, plain scripted against plain scripted.
const t = require('tap');
const { loadModel, Tensor } = require('..');
const { ARCHS, modelPath } = require('./helpers/paths');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { pytorchLogits } = require('./helpers/python-reference');

const TOLERANCE = 1e-4;

for (const optimize of [true, false]) {
  // The plain scripted module is ~13x slower on CPU: a shorter, smaller clip keeps that run brief.
  const shape = optimize ? [2, 3, 16, 112, 112] : [1, 3, 8, 64, 64];
  for (const arch of ARCHS) {
    t.test(`${arch} optimize=${optimize} matches PyTorch on ${shape.join('x')}`, async (t) => {
      const input = randomFloats(
        shape.reduce((a, b) => a * b, 1),
        7,
      );
      const model = await loadModel(modelPath(arch), { optimize, warmup: false });
      const logits = await model.forward(Tensor.from(input, shape));
      t.same(logits.shape, [shape[0], 400]);
      const reference = pytorchLogits(arch, input, shape, { optimize });
      const diff = maxAbsDiff(logits.data(), reference);
      t.ok(diff <= TOLERANCE, `max abs diff ${diff.toExponential(2)} <= ${TOLERANCE}`);
      if (optimize) {
        // Freezing folds batch norm into the convolutions: still the same network as the plain module.
        const plain = pytorchLogits(arch, input, shape, { optimize: false });
        const drift = maxAbsDiff(logits.data(), plain);
        t.ok(drift <= TOLERANCE, `against the plain scripted module: max abs diff ${drift.toExponential(2)}`);
      }
      model.dispose();
    });
  }
}

t.test('a list of clips is stacked into one batch', async (t) => {
  const clipShape = [3, 8, 64, 64];
  const size = clipShape.reduce((a, b) => a * b, 1);
  const a = randomFloats(size, 1);
  const b = randomFloats(size, 2);
  const model = await loadModel(modelPath('r3d_18'), { warmup: false });
  const batched = await model.forward([Tensor.from(a, clipShape), Tensor.from(b, clipShape)]);
  t.same(batched.shape, [2, 400]);
  const joined = new Float32Array(size * 2);
  joined.set(a);
  joined.set(b, size);
  const reference = pytorchLogits('r3d_18', joined, [2, ...clipShape], { optimize: true });
  t.ok(maxAbsDiff(batched.data(), reference) <= TOLERANCE, 'equals the stacked batch in PyTorch');
});
