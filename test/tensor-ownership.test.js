'use strict';
// What a queued job reads cannot change or vanish after the call returns: a caller may refill the same
// array for the next request, transfer its buffer to a worker, or drop it, while a forward or a step
// waits on the executor. Each case queues the job behind a busy executor, interferes, and compares
// the result with the same job run on an untouched copy of the values. Run under scripts/asan.sh too.
const t = require('tap');
const { loadModel, Tensor, Trainer } = require('..');
const { modelPath } = require('./helpers/paths');
const { randomFloats } = require('./helpers/numbers');

const SHAPE = [1, 3, 8, 112, 112];
const ELEMENTS = SHAPE.reduce((a, b) => a * b, 1);
const gc = () => global.gc?.();

function maxAbsDiff(a, b) {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

t.test('forward: refill, transfer, write through data() while queued', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmupShape: SHAPE });
  const original = randomFloats(ELEMENTS, 7);
  const reference = (await model.forward(Tensor.from(original.slice(), SHAPE))).data().slice();
  const busy = () => model.forward(Tensor.from(randomFloats(ELEMENTS, 3), SHAPE));

  // 1. The same array refilled for the next request.
  {
    const data = original.slice();
    const first = busy();
    const queued = model.forward(Tensor.from(data, SHAPE));
    data.fill(0);
    await first;
    t.ok(maxAbsDiff((await queued).data(), reference) <= 1e-5, 'a refill after the call does not reach the queued forward');
  }
  // 2. The buffer transferred away (postMessage does the same), its new owner dropped and collected.
  {
    const first = busy();
    // In a function of its own, so that nothing keeps the array or the transferred buffer alive.
    const queued = (() => {
      const data = original.slice();
      const pending = model.forward(Tensor.from(data, SHAPE));
      const moved = structuredClone(data.buffer, { transfer: [data.buffer] });
      new Float32Array(moved).fill(1e30);
      return pending;
    })();
    gc();
    await first;
    t.ok(maxAbsDiff((await queued).data(), reference) <= 1e-5, 'a transfer after the call does not reach the queued forward');
  }
  // 3. A native tensor written through the view data() handed out.
  {
    const owned = await Tensor.from(original.slice(), SHAPE).to('cpu');
    const view = owned.data();
    const first = busy();
    const queued = model.forward(owned);
    view.fill(0);
    await first;
    t.ok(maxAbsDiff((await queued).data(), reference) <= 1e-5, 'a write through data() after the call does not reach the queued forward');
  }
  // 4. Several requests in flight off one array refilled between calls: each gets its own values.
  {
    const data = new Float32Array(ELEMENTS);
    const seeds = [11, 12, 13];
    const pending = [busy()];
    for (const seed of seeds) {
      data.set(randomFloats(ELEMENTS, seed));
      pending.push(model.forward(Tensor.from(data, SHAPE)));
    }
    const results = (await Promise.all(pending)).slice(1);
    for (const [i, seed] of seeds.entries()) {
      const alone = (await model.forward(Tensor.from(randomFloats(ELEMENTS, seed), SHAPE))).data();
      t.ok(maxAbsDiff(results[i].data(), alone) <= 1e-5, `request ${i} saw its own values, not a later refill`);
    }
  }
  model.dispose();
});

t.test('a tensor whose buffer was transferred is refused, not read', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmup: false });
  const data = randomFloats(ELEMENTS, 5);
  const tensor = Tensor.from(data, SHAPE);
  structuredClone(data.buffer, { transfer: [data.buffer] });
  gc();
  await t.rejects(model.forward(tensor), { code: 'ERR_DISPOSED', message: /ArrayBuffer it was made from was transferred/ });
  await t.rejects(tensor.to('cpu'), { code: 'ERR_DISPOSED', message: /transferred/ });
  model.dispose();
});

t.test('Tensor.from(data, shape, { transfer: true }) takes the memory over', async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { warmupShape: SHAPE });
  const original = randomFloats(ELEMENTS, 9);
  const reference = (await model.forward(Tensor.from(original.slice(), SHAPE))).data().slice();
  const data = original.slice();
  const tensor = Tensor.from(data, SHAPE, { transfer: true });
  t.equal(data.length, 0, "the caller's array is detached");
  t.equal(data.buffer.byteLength, 0, 'and so is its ArrayBuffer');
  t.equal(tensor.data().length, ELEMENTS, 'the tensor still has the values');
  t.equal(tensor.data()[0], original[0]);
  t.ok(maxAbsDiff((await model.forward(tensor)).data(), reference) <= 1e-5, 'and forwards them');

  // A view into a larger buffer keeps its offset when taken over.
  const backing = new Float32Array([9, 1, 2, 3, 9]);
  const part = Tensor.from(backing.subarray(1, 4), [3], { transfer: true });
  t.same(Array.from((await part.to('cpu')).data()), [1, 2, 3]);
  t.equal(backing.length, 0, 'the whole backing buffer is detached');
  model.dispose();
});

t.test('memory a job could not own is refused by name', async (t) => {
  t.throws(() => Tensor.from(new Float32Array(new SharedArrayBuffer(16)), [4]), {
    name: 'TypeError',
    message: /expected data to be backed by an ArrayBuffer, got a SharedArrayBuffer/,
  });
  const resizable = new ArrayBuffer(16, { maxByteLength: 64 });
  t.throws(() => Tensor.from(new Float32Array(resizable, 0, 4), [4]), {
    name: 'TypeError',
    message: /expected data to be backed by a fixed-length ArrayBuffer, got a resizable one/,
  });
  const detached = new Float32Array(4);
  structuredClone(detached.buffer, { transfer: [detached.buffer] });
  t.throws(() => Tensor.from(detached, [0]), { name: 'TypeError', message: /detached/ });
  // The native layer checks the element count itself: a shape whose product overflows (2^40 x 2^40 x 0
  // wraps to 0) must not "match" an empty array and describe memory that is not there.
  const { native } = require('../dist/internal.js');
  t.throws(() => native.Tensor.fromTypedArray(new Float32Array(0), [2 ** 40, 2 ** 40, 0]), {
    name: 'RangeError',
    message: /expected shape to hold at most 2\^63 - 1 elements/,
  });
  t.throws(() => Tensor.from(new Float32Array(4), [4], { transfer: 'yes' }), {
    name: 'TypeError',
    message: /expected options\.transfer to be a boolean/,
  });
});

t.test('Trainer.step: clips and labels refilled while the step is queued', async (t) => {
  const shape = [2, 3, 4, 112, 112];
  const elements = shape.reduce((a, b) => a * b, 1);
  const make = () => Trainer.create({ model: modelPath('mc3_18'), numClasses: 3, seed: 1, lr: 0.01 });
  const clips = randomFloats(elements, 21);
  const labels = BigInt64Array.from([1n, 2n]);

  const alone = await make();
  await alone.step(Tensor.from(randomFloats(elements, 20), shape), Tensor.from(BigInt64Array.from([0n, 1n]), [2]));
  const expected = await alone.step(Tensor.from(clips.slice(), shape), Tensor.from(labels.slice(), [2]));
  alone.dispose();

  const trainer = await make();
  const first = trainer.step(Tensor.from(randomFloats(elements, 20), shape), Tensor.from(BigInt64Array.from([0n, 1n]), [2]));
  const clipData = clips.slice();
  const labelData = labels.slice();
  const queued = trainer.step(Tensor.from(clipData, shape), Tensor.from(labelData, [2]));
  clipData.fill(0);
  // An out-of-range label written after the call (checked on the JS thread already) never reaches
  // cross_entropy: the step uses the labels as they were.
  labelData.fill(1000n);
  await first;
  const result = await queued;
  t.ok(Math.abs(result.loss - expected.loss) <= 1e-5, `the queued step's loss ${result.loss} equals the untouched one ${expected.loss}`);
  trainer.dispose();
});
