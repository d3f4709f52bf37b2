'use strict';
// CUDA paths, run for real where LibTorch has a GPU (a CUDA LibTorch build: LIBTORCH=... npm run
// build) and reported as skipped elsewhere, one skip per test. The CPU-only checks of CUDA errors
// live in the tensor/model-load tests.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const t = require('tap');
const { loadModel, Tensor, cuda, classifyVideo } = require('..');
const { modelPath } = require('./helpers/paths');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { fixture } = require('./helpers/fixtures');

const skip = cuda.isAvailable() ? false : 'no CUDA device (CPU-only LibTorch or no GPU)';
const shape = [2, 3, 16, 112, 112];
const input = () =>
  Tensor.from(
    randomFloats(
      shape.reduce((a, b) => a * b, 1),
      5,
    ),
    shape,
  );

t.test('isAvailable() and deviceCount() agree, and hiding every GPU leaves none', async (t) => {
  const count = cuda.deviceCount();
  t.ok(Number.isInteger(count) && count >= 0, `deviceCount() is a count (${count})`);
  t.equal(typeof cuda.isAvailable(), 'boolean');
  t.equal(cuda.isAvailable(), count > 0, 'available exactly when a device is counted');
  // A fresh process with CUDA_VISIBLE_DEVICES empty sees no device, whatever this machine has.
  const hidden = spawnSync(
    process.execPath,
    [
      '-e',
      `const { cuda } = require(${JSON.stringify(path.resolve(__dirname, '..'))}); console.log(JSON.stringify([cuda.isAvailable(), cuda.deviceCount()]))`,
    ],
    { encoding: 'utf8', env: { ...process.env, CUDA_VISIBLE_DEVICES: '' } },
  );
  t.equal(hidden.status, 0, hidden.stderr);
  t.same(JSON.parse(hidden.stdout), [false, 0], 'CUDA_VISIBLE_DEVICES= hides every device');
});

t.test('tensors move to the GPU and back', { skip }, async (t) => {
  const host = Tensor.from(new Float32Array([1, 2, 3, 4]), [2, 2]);
  const device = await host.to('cuda');
  t.equal(device.device, 'cuda:0');
  t.throws(() => device.data(), { code: 'ERR_DEVICE_MISMATCH', message: /tensor is on cuda:0: call `await tensor.to\('cpu'\)`/ });
  t.same(Array.from((await device.to('cpu')).data()), [1, 2, 3, 4]);
});

t.test('forward on CUDA matches the CPU within 1e-3', { skip }, async (t) => {
  for (const arch of ['r3d_18', 'mc3_18', 'r2plus1d_18']) {
    const gpu = await loadModel(modelPath(arch), { device: 'cuda' });
    const cpu = await loadModel(modelPath(arch), { warmup: false });
    t.equal(gpu.info.device, 'cuda:0');
    const x = input();
    const onGpu = await gpu.forward(x);
    t.equal(onGpu.device, 'cuda:0', 'logits stay on the device');
    const diff = maxAbsDiff((await onGpu.to('cpu')).data(), (await cpu.forward(x)).data());
    t.ok(diff <= 1e-3, `${arch}: max abs diff ${diff.toExponential(2)}`);
    gpu.dispose();
    cpu.dispose();
  }
});

t.test('half precision returns float32 logits close to float32', { skip }, async (t) => {
  const half = await loadModel(modelPath('r2plus1d_18'), { device: 'cuda', half: true });
  const full = await loadModel(modelPath('r2plus1d_18'), { device: 'cuda' });
  const x = input();
  const a = await (await half.forward(x)).to('cpu');
  const b = await (await full.forward(x)).to('cpu');
  t.equal(a.dtype, 'float32');
  t.ok(maxAbsDiff(a.data(), b.data()) < 5e-2, 'within float16 precision');
});

t.test('classifyVideo on CUDA', { skip }, async (t) => {
  const model = await loadModel(modelPath('mc3_18'), { device: 'cuda' });
  const cpuModel = await loadModel(modelPath('mc3_18'));
  const video = fixture('h264.mp4');
  const [gpu, cpu] = await Promise.all([classifyVideo(model, video, { topk: 400 }), classifyVideo(cpuModel, video, { topk: 400 })]);
  const byIndex = (r) =>
    Float32Array.from(
      r.top
        .slice()
        .sort((p, q) => p.index - q.index)
        .map((p) => p.score),
    );
  t.ok(maxAbsDiff(byIndex(gpu), byIndex(cpu)) < 1e-4, 'same probabilities as on the CPU');
});

t.test('a device index past the last GPU', { skip }, async (t) => {
  const count = cuda.deviceCount();
  await t.rejects(loadModel(modelPath('mc3_18'), { device: `cuda:${count}` }), {
    code: 'ERR_DEVICE_UNAVAILABLE',
    message: new RegExp(`this machine has ${count} CUDA device\\(s\\)`),
  });
});
