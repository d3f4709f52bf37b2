'use strict';
const v8 = require('node:v8');
const t = require('tap');
const { Tensor, TorchVideoError, cuda } = require('..');

t.test('Tensor.from takes the dtype from the TypedArray', async (t) => {
  const cases = [
    [Float32Array, 'float32', [1.5, -2]],
    [Float64Array, 'float64', [1.5, -2]],
    [Int32Array, 'int32', [7, -9]],
    [BigInt64Array, 'int64', [7n, -9n]],
    [Uint8Array, 'uint8', [0, 255]],
    [Int8Array, 'int8', [-128, 127]],
    [Int16Array, 'int16', [-300, 300]],
  ];
  for (const [Kind, dtype, values] of cases) {
    const tensor = Tensor.from(Kind.from(values), [2, 1]);
    t.equal(tensor.dtype, dtype, `${Kind.name} -> ${dtype}`);
    t.same(tensor.shape, [2, 1]);
    t.equal(tensor.device, 'cpu');
    // A copy made by LibTorch, read back: the values went through the native tensor.
    const copy = await tensor.to('cpu');
    t.ok(copy.data() instanceof Kind, `a copy's data() is a ${Kind.name} again`);
    t.same(Array.from(copy.data()), values, `${dtype} data round-trips through LibTorch`);
    copy.dispose();
    tensor.dispose();
  }
});

t.test('Tensor.from shares memory with the caller (zero-copy) and copies on to()', async (t) => {
  const data = new Float32Array([1, 2, 3, 4, 5, 6]);
  const tensor = Tensor.from(data, [2, 3]);
  t.equal(tensor.data(), data, "data() of a Tensor.from tensor is the caller's own array");
  data[0] = 42;
  // LibTorch's copy reads the JS memory at copy time: a write made after Tensor.from is in it.
  const copy = await tensor.to('cpu');
  t.same(Array.from(copy.data()), [42, 2, 3, 4, 5, 6], 'LibTorch sees a write to the source array');
  data[1] = -1;
  t.same(Array.from(copy.data()), [42, 2, 3, 4, 5, 6], 'to() makes an independent copy');
  t.not(copy.data().buffer, data.buffer);
  t.same(copy.shape, [2, 3]);
});

t.test('a tensor over JS memory adds no second backing store; a native copy adds one of its size', async (t) => {
  // V8 counts ArrayBuffer backing stores in external_memory. Wrapping the caller's memory in a
  // second, external ArrayBuffer would give V8 two owners of one allocation.
  const bytes = 16 * 2 ** 20;
  const externalMemory = () => v8.getHeapStatistics().external_memory;
  const data = new Float32Array(bytes / 4).fill(1.5);
  if (global.gc) global.gc();
  let before = externalMemory();
  const tensor = Tensor.from(data, [data.length]);
  t.equal(tensor.data().buffer, data.buffer, "data() is over the caller's buffer");
  const grown = externalMemory() - before;
  t.ok(grown < bytes / 4, `Tensor.from + data(): external memory grew ${(grown / 2 ** 20).toFixed(1)} MB (< ${bytes / 4 / 2 ** 20} MB)`);

  const copy = await tensor.to('cpu');
  before = externalMemory();
  const view = copy.data();
  const copyGrown = externalMemory() - before;
  t.not(view.buffer, data.buffer);
  t.ok(copyGrown >= bytes * 0.9, `a copy's data(): one external buffer of ${(copyGrown / 2 ** 20).toFixed(1)} MB (~${bytes / 2 ** 20} MB)`);
  t.equal(view[view.length - 1], 1.5);
  copy.dispose();
  tensor.dispose();
});

t.test('a view into a larger buffer keeps its offset', async (t) => {
  const backing = new Float32Array([9, 9, 1, 2, 3, 4, 9]);
  const view = backing.subarray(2, 6);
  const tensor = Tensor.from(view, [4]);
  const copy = await tensor.to('cpu');
  t.same(Array.from(copy.data()), [1, 2, 3, 4]);
});

t.test('scalars and empty tensors', async (t) => {
  const scalar = Tensor.from(new Float32Array([3]), []);
  t.same(scalar.shape, []);
  t.same(Array.from((await scalar.to('cpu')).data()), [3]);
  const empty = Tensor.from(new Float32Array(0), [0, 4]);
  t.same(empty.shape, [0, 4]);
  t.equal((await empty.to('cpu')).data().length, 0);
});

t.test('the source buffer outlives a dropped tensor copy under GC', async (t) => {
  // Native copies own their memory: data() after the tensor object is gone must still be valid.
  let view;
  {
    const tensor = await Tensor.from(new Float32Array([1, 2, 3]), [3]).to('cpu');
    view = tensor.data();
  }
  if (global.gc) global.gc();
  t.same(Array.from(view), [1, 2, 3]);
});

t.test('dispose()', async (t) => {
  const tensor = await Tensor.from(new Float32Array([1, 2]), [2]).to('cpu');
  const view = tensor.data();
  tensor.dispose();
  tensor.dispose();
  t.equal(tensor.disposed, true, 'disposed after dispose(), and dispose() is idempotent');
  t.same(Array.from(view), [1, 2], 'an array taken before dispose stays valid');
  t.same(tensor.shape, [2], 'shape stays readable');
  t.throws(() => tensor.data(), { name: 'TorchVideoError', code: 'ERR_DISPOSED', message: /tensor is disposed/ });
  await t.rejects(tensor.to('cpu'), { code: 'ERR_DISPOSED', message: /tensor is disposed/ });

  const fromJs = Tensor.from(new Float32Array([1]), [1]);
  fromJs[Symbol.dispose]();
  t.equal(fromJs.disposed, true, 'Symbol.dispose disposes');
  t.throws(() => fromJs.data(), { code: 'ERR_DISPOSED' });
});

t.test('bad calls to Tensor.from', async (t) => {
  t.throws(() => Tensor.from([1, 2, 3], [3]), {
    name: 'TypeError',
    message: /expected data to be a Float32Array, .* got an Array of length 3/,
  });
  t.throws(() => Tensor.from(new Uint16Array(3), [3]), { name: 'TypeError', message: /got a Uint16Array/ });
  t.throws(() => Tensor.from(new Float32Array(3).buffer, [3]), { name: 'TypeError', message: /expected data/ });
  t.throws(() => Tensor.from(new Float32Array(3), 3), { name: 'TypeError', message: /expected shape to be an array/ });
  t.throws(() => Tensor.from(new Float32Array(3), ['3']), { name: 'TypeError', message: /expected shape\[0\] to be a number/ });
  t.throws(() => Tensor.from(new Float32Array(6), [2, -3]), {
    name: 'RangeError',
    message: /expected shape\[1\] to be a non-negative integer, got number -3/,
  });
  t.throws(() => Tensor.from(new Float32Array(6), [2, 1.5]), { name: 'RangeError', message: /shape\[1\]/ });
  t.throws(() => Tensor.from(new Float32Array(6), [4, 2]), {
    name: 'RangeError',
    message: /expected shape \[4, 2\] \(8 elements\) to match data.length 6/,
  });
});

t.test('bad calls to tensor.to', async (t) => {
  const tensor = Tensor.from(new Float32Array(2), [2]);
  await t.rejects(tensor.to('gpu'), { name: 'RangeError', message: /expected device to be 'cpu', 'cuda' or 'cuda:N', got 'gpu'/ });
  await t.rejects(tensor.to(0), { name: 'TypeError', message: /expected device to be a device string/ });
  await t.rejects(tensor.to('cpu:1'), { name: 'RangeError' });
  if (!cuda.isAvailable()) {
    const error = await tensor.to('cuda:0').catch((e) => e);
    t.ok(error instanceof TorchVideoError, 'a TorchVideoError');
    t.equal(error.code, 'ERR_DEVICE_UNAVAILABLE');
    t.match(error.message, /device 'cuda:0' is not available: this LibTorch has no usable CUDA/);
    t.match(error.stack, /tensor\.test\.js/, "the stack points at the caller's line");
  }
});

t.test('the native layer re-checks a shape that changes between reads', async (t) => {
  // An array whose own iterator yields other sizes passes the TS checks (which index it) and reaches
  // the addon with another shape: the addon's own check must throw, not abort.
  const lying = (sizes, yielded) => Object.assign([...sizes], { [Symbol.iterator]: () => yielded[Symbol.iterator]() });
  t.throws(() => Tensor.from(new Float32Array(2), lying([2], [3])), {
    name: 'RangeError',
    message: /shape holds 3 elements but data has 2/,
  });
  t.throws(() => Tensor.from(new Float32Array(2), lying([2], [-2])), { name: 'RangeError', message: /shape\[0\]/ });
  t.throws(() => Tensor.from(new Float32Array(2), lying([2], [2.5])), { name: 'RangeError' });
});
