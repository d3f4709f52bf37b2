'use strict';
// forward() never blocks the event loop, many calls queue and all settle, and dispose() during a
// forward neither crashes nor loses the running call.
const t = require('tap');
const { loadModel, Tensor } = require('..');
const { modelPath } = require('./helpers/paths');
const { randomFloats } = require('./helpers/numbers');

const SHAPE = [1, 3, 16, 112, 112];
const input = () =>
  Tensor.from(
    randomFloats(
      SHAPE.reduce((a, b) => a * b, 1),
      3,
    ),
    SHAPE,
  );

t.test('the event loop keeps turning while forward runs', async (t) => {
  // Counts timer callbacks that run while the forward is still pending. A forward that blocked the JS
  // thread would settle before any of them ran (its promise resolves in the microtask right after the
  // blocking call), so zero turns means blocking. No time window is asserted: CI machines are loaded.
  const model = await loadModel(modelPath('r3d_18'));
  let settled = false;
  let turnsWhilePending = 0;
  let stop = false;
  const tick = () => {
    if (stop) return;
    if (!settled) turnsWhilePending++;
    setTimeout(tick, 1);
  };
  setTimeout(tick, 0);
  const out = await model.forward(input()).then((out) => {
    settled = true;
    return out;
  });
  stop = true;
  t.same(out.shape, [1, 400], 'the forward settled with logits');
  t.ok(turnsWhilePending >= 2, `timers ran while the forward was pending (${turnsWhilePending} turns)`);
  model.dispose();
});

t.test('many concurrent forwards all settle with the same answer', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const shape = [1, 3, 4, 32, 32];
  const x = Tensor.from(randomFloats(3 * 4 * 32 * 32, 9), shape);
  const results = await Promise.all(Array.from({ length: 40 }, () => model.forward(x)));
  t.equal(results.length, 40);
  const first = Array.from(results[0].data());
  t.ok(
    results.every((r) => Array.from(r.data()).every((v, i) => v === first[i])),
    'identical logits',
  );
  model.dispose();
});

t.test('dispose() while forwards are in flight', async (t) => {
  const model = await loadModel(modelPath('r3d_18'), { warmup: false });
  const x = input();
  const running = [model.forward(x), model.forward(x)];
  model.dispose();
  x.dispose();
  const outputs = await Promise.all(running);
  t.same(
    outputs.map((o) => o.shape),
    [
      [1, 400],
      [1, 400],
    ],
    'calls made before dispose() finish',
  );
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
