'use strict';
// forward() never blocks the event loop, many calls queue and all settle, and dispose() during a
// forward neither crashes nor loses the running call.
const t = require('tap');
const { loadModel, Tensor } = require('..');
const { modelPath, randomFloats } = require('./helpers/models');

const SHAPE = [1, 3, 16, 112, 112];
const input = () => Tensor.from(randomFloats(SHAPE.reduce((a, b) => a * b, 1), 3), SHAPE);

t.test('the event loop keeps turning while forward runs', async (t) => {
  const model = await loadModel(modelPath('r3d_18'));
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  let settled = false;
  const pending = model.forward(input()).then((out) => {
    settled = true;
    return out;
  });
  await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(settled, false, 'a full-size forward is still running 20 ms later...');
  t.ok(ticks >= 3, `...while the timers ran (${ticks} ticks)`);
  await pending;
  clearInterval(timer);
  model.dispose();
});

t.test('many concurrent forwards all settle with the same answer', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const shape = [1, 3, 4, 32, 32];
  const x = Tensor.from(randomFloats(3 * 4 * 32 * 32, 9), shape);
  const results = await Promise.all(Array.from({ length: 40 }, () => model.forward(x)));
  t.equal(results.length, 40);
  const first = Array.from(results[0].data());
  t.ok(results.every((r) => Array.from(r.data()).every((v, i) => v === first[i])), 'identical logits');
  model.dispose();
});

t.test('dispose() while forwards are in flight', async (t) => {
  const model = await loadModel(modelPath('r3d_18'), { warmup: false });
  const x = input();
  const running = [model.forward(x), model.forward(x)];
  model.dispose();
  x.dispose();
  const outputs = await Promise.all(running);
  t.same(outputs.map((o) => o.shape), [[1, 400], [1, 400]], 'calls made before dispose() finish');
  await t.rejects(model.forward(input()), { code: 'ERR_DISPOSED' });
});

t.test('a dropped model and tensors are collected without crashing running work', async (t) => {
  let pending;
  {
    const model = await loadModel(modelPath('mc3_18'), { warmup: false });
    pending = model.forward(Tensor.from(new Float32Array(3 * 4 * 32 * 32), [1, 3, 4, 32, 32]));
  }
  if (global.gc) global.gc();
  const out = await pending;
  t.same(out.shape, [1, 400]);
});
