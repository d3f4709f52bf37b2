'use strict';
// One precision option: loadModel's `precision` takes 'fp32' | 'fp16' | 'bf16' | 'int8', `half` is its old
// spelling (true = 'fp16', deprecated, warned once), and every request the export or device cannot run is
// refused by name before anything loads; the classify and evaluate commands take --precision (and --half).
// No export is made here: the rules read the sidecar, so a copy of a float32 export with a sidecar that
// says otherwise stands in for a bf16 one.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { loadModel, cuda } = require('..');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { fixture } = require('./helpers/fixtures');

const dir = tempDir('torchvideo-precision-option-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const fp32 = modelPath('mc3_18');
const CLI = path.join(ROOT, 'dist', 'cli.js');

t.test("precision 'int8' needs an int8 export: a float32 one is refused, naming torchvideo quantize", async (t) => {
  await t.rejects(loadModel(fp32, { precision: 'int8' }), {
    name: 'RangeError',
    message: new RegExp(
      `^expected an int8 export for options\\.precision 'int8': '.*mc3_18\\.pt' is exported in fp32; quantize it first with \`torchvideo quantize --model .*mc3_18\\.pt --precision int8 --calibrate DATA\`$`,
    ),
  });
});

t.test("precision 'fp16' runs on CUDA only", async (t) => {
  await t.rejects(loadModel(fp32, { precision: 'fp16' }), {
    name: 'RangeError',
    message: "expected a CUDA device for options.precision 'fp16' (float16 runs on CUDA), got device 'cpu' (on the CPU, use 'bf16')",
  });
  if (!cuda.isAvailable()) {
    // Accepted with a CUDA device: what fails is the device itself, not the precision.
    await t.rejects(loadModel(fp32, { precision: 'fp16', device: 'cuda' }), { code: 'ERR_DEVICE_UNAVAILABLE' });
  }
});

t.test('a precision outside the four, and a precision a bf16 export cannot run, are named', async (t) => {
  for (const bad of ['fp8', 'FP16', 16, null]) {
    await t.rejects(loadModel(fp32, { precision: bad }), {
      name: 'RangeError',
      message: /^expected options\.precision to be 'fp32', 'fp16', 'bf16' or 'int8', got /,
    });
  }
  const bf16 = path.join(dir, 'bf16.pt');
  fs.copyFileSync(fp32, bf16);
  fs.writeFileSync(path.join(dir, 'bf16.json'), JSON.stringify({ arch: 'mc3_18', precision: 'bf16' }));
  await t.rejects(loadModel(bf16, { precision: 'fp16' }), {
    name: 'RangeError',
    message: /^expected options\.precision to be 'bf16' or unset: '.*bf16\.pt' is exported in bf16$/,
  });
  await t.rejects(loadModel(bf16, { precision: 'int8' }), {
    name: 'RangeError',
    message: /^expected an int8 export for options\.precision 'int8': '.*bf16\.pt' is exported in bf16/,
  });
});

t.test('half is precision fp16: same rules, a DeprecationWarning once, and a contradiction refused', async (t) => {
  const warnings = [];
  const onWarning = (warning) => warnings.push(warning);
  process.on('warning', onWarning);
  t.teardown(() => process.off('warning', onWarning));
  await t.rejects(loadModel(fp32, { half: true }), {
    name: 'RangeError',
    message: /^expected a CUDA device for options\.precision 'fp16'/,
  });
  await t.rejects(loadModel(fp32, { half: true }), { name: 'RangeError' });
  await t.rejects(loadModel(fp32, { half: true, precision: 'bf16' }), {
    name: 'RangeError',
    message: "expected options.precision or its old form options.half, not both: half: true is precision 'fp16', got precision 'bf16'",
  });
  await t.rejects(loadModel(fp32, { half: false, precision: 'fp16' }), {
    name: 'RangeError',
    message: "expected options.precision or its old form options.half, not both: half: false contradicts precision 'fp16'",
  });
  await t.rejects(loadModel(fp32, { half: 'yes' }), { name: 'TypeError', message: /^expected options\.half to be a boolean/ });
  // The same value both ways is no contradiction: it fails only for the device.
  await t.rejects(loadModel(fp32, { half: true, precision: 'fp16' }), { message: /^expected a CUDA device/ });
  await new Promise((resolve) => setImmediate(resolve));
  const deprecations = warnings.filter((w) => w.code === 'TORCHVIDEO_DEP_HALF');
  t.equal(deprecations.length, 1, 'warned once for every use in the process');
  t.equal(deprecations[0].name, 'DeprecationWarning');
  t.match(deprecations[0].message, /options\.half is deprecated: use options\.precision 'fp16'/);
});

t.test('info.precision reports the precision the network runs in', async (t) => {
  const plain = await loadModel(fp32, { warmup: false, threads: 1 });
  t.teardown(() => plain.dispose());
  t.equal(plain.info.precision, 'fp32', "the export's own by default");
  const notHalf = await loadModel(fp32, { warmup: false, threads: 1, half: false });
  t.teardown(() => notHalf.dispose());
  t.equal(notHalf.info.precision, 'fp32', 'half: false asks for nothing');
  const converted = await loadModel(fp32, { warmup: false, threads: 1, precision: 'bf16' });
  t.teardown(() => converted.dispose());
  t.equal(converted.info.precision, 'bf16', 'converted at load');
});

t.test('classify and evaluate take --precision, and --half as --precision fp16', async (t) => {
  const run = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  const video = fixture('h264.mp4');
  const bogus = run('classify', video, '--model', fp32, '--precision', 'fp64');
  t.not(bogus.status, 0);
  t.match(bogus.stderr, /expected --precision to be fp32, fp16, bf16 or int8, got 'fp64'/);
  const both = run('evaluate', '--model', fp32, '--data', dir, '--half', '--precision', 'bf16');
  t.not(both.status, 0);
  t.match(both.stderr, /expected --precision or --half, not both: --half is --precision fp16, got --precision bf16/);
  // The flag reaches loadModel: its own rules answer.
  const half = run('evaluate', '--model', fp32, '--data', dir, '--half');
  t.not(half.status, 0);
  t.match(half.stderr, /expected a CUDA device for options\.precision 'fp16'/);
  const int8 = run('classify', video, '--model', fp32, '--precision', 'int8');
  t.not(int8.status, 0);
  t.match(int8.stderr, /expected an int8 export for options\.precision 'int8'.*torchvideo quantize/);
});

// bf16 on a CPU without AVX512-BF16 / AMX is emulated: the library says so once. A test shows it a CPU
// without them through a preload that fakes /proc/cpuinfo (test/fixtures/fake-cpuinfo.js): the package
// itself reads no variable that could redirect it.
t.test('bf16 on a CPU without AVX512-BF16 or AMX: a warning, once; the package honours no cpuinfo variable', async (t) => {
  const cpuinfo = path.join(dir, 'cpuinfo');
  fs.writeFileSync(cpuinfo, 'processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni\n');
  const script = `const { loadModel } = require(${JSON.stringify(ROOT)});
    (async () => { for (let i = 0; i < 2; i++) (await loadModel(${JSON.stringify(fp32)}, { precision: 'bf16', warmup: false, threads: 1 })).dispose(); })();`;
  const WARNING =
    /TorchVideoPrecisionWarning: this CPU has no AVX512-BF16 or AMX instructions: bf16 models run emulated, slower than float32/g;
  const preload = ['--require', path.join(__dirname, 'fixtures', 'fake-cpuinfo.js')];
  const faked = spawnSync(process.execPath, [...preload, '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, TORCHVIDEO_TEST_FAKE_CPUINFO: cpuinfo },
  });
  t.equal(faked.status, 0, faked.stderr);
  t.equal(faked.stderr.match(WARNING)?.length, 1, 'said once for two loads');
  fs.writeFileSync(cpuinfo, 'flags\t\t: fpu avx512f avx512_bf16\n');
  const quiet = spawnSync(process.execPath, [...preload, '-e', script], {
    encoding: 'utf8',
    env: { ...process.env, TORCHVIDEO_TEST_FAKE_CPUINFO: cpuinfo },
  });
  t.equal(quiet.status, 0, quiet.stderr);
  t.notMatch(quiet.stderr, /TorchVideoPrecisionWarning/, 'nothing to say where the CPU has AVX512-BF16');

  // The old hook, TORCHVIDEO_CPUINFO, given to the package without the preload: ignored, so on a CPU that
  // has the instructions there is nothing to say.
  const real = fs.readFileSync('/proc/cpuinfo', 'utf8');
  if (!/\b(avx512_bf16|amx_bf16)\b/.test(real)) {
    t.comment('this CPU has no AVX512-BF16 or AMX: the published-path check needs one that has');
    return;
  }
  fs.writeFileSync(cpuinfo, 'processor\t: 0\nflags\t\t: fpu sse2 avx2\n');
  const published = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, TORCHVIDEO_CPUINFO: cpuinfo } });
  t.equal(published.status, 0, published.stderr);
  t.notMatch(published.stderr, /TorchVideoPrecisionWarning/, 'TORCHVIDEO_CPUINFO does not redirect the published code');
});
