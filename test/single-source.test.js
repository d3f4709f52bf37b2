'use strict';
// One source of truth: the dtype table, the preprocessing defaults and the error codes live once in
// cpp/ and reach TS through the addon. These tests hold every other place that names them (the TS
// types, the README, the sidecars, torchvision's own preset) to that one copy.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { Tensor, errorCodes, loadModel } = require('..');
const { ARCHS, ROOT, modelPath, tempDir } = require('./helpers/paths');
const { PYTHON } = require('./helpers/python-reference');

t.test("the README's list of error codes is errorCodes", async (t) => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const paragraph = readme.slice(readme.indexOf('Errors: wrong types'), readme.indexOf('\n\n', readme.indexOf('Errors: wrong types')));
  const listed = [...new Set(paragraph.match(/ERR_[A-Z_]+/g))];
  t.same([...listed].sort(), [...errorCodes].sort(), 'the same codes');
  t.ok(errorCodes.length >= 12, `${errorCodes.length} codes`);
});

t.test('every code the TS layer raises is in errorCodes', async (t) => {
  const sources = fs.readdirSync(path.join(ROOT, 'src'), { recursive: true }).filter((f) => f.endsWith('.ts'));
  const used = new Set();
  for (const file of sources) {
    for (const match of fs.readFileSync(path.join(ROOT, 'src', file), 'utf8').matchAll(/'(ERR_[A-Z_]+)'/g)) used.add(match[1]);
  }
  t.ok(used.size > 0, `the TS layer raises ${[...used].join(', ')}`);
  for (const code of used) t.ok(errorCodes.includes(code), `${code} is in errorCodes`);
});

t.test("the TS Dtype type names exactly the addon's dtypes, each with its TypedArray", async (t) => {
  const declared = fs.readFileSync(path.join(ROOT, 'src', 'types.ts'), 'utf8').match(/export type Dtype = ([^;]+);/)[1];
  const names = declared.match(/'([a-z0-9]+)'/g).map((s) => s.slice(1, -1));
  const kinds = {
    Float32Array: 'float32',
    Float64Array: 'float64',
    Int32Array: 'int32',
    BigInt64Array: 'int64',
    Uint8Array: 'uint8',
    Int8Array: 'int8',
    Int16Array: 'int16',
  };
  const made = Object.entries(kinds).map(([kind, expected]) => {
    const data = kind === 'BigInt64Array' ? new BigInt64Array([1n, 2n]) : new globalThis[kind]([1, 2]);
    const tensor = Tensor.from(data, [2]);
    t.equal(tensor.dtype, expected, `${kind} -> ${expected}`);
    return tensor.dtype;
  });
  t.same([...names].sort(), [...made].sort(), 'the Dtype union lists the same names');
  t.throws(() => Tensor.from(new Uint16Array(2), [2]), {
    name: 'TypeError',
    message:
      /expected data to be a Float32Array, Float64Array, Int32Array, BigInt64Array, Uint8Array, Int8Array or Int16Array, got a Uint16Array/,
  });
});

t.test("the default preprocessing is torchvision's preset, and every export's sidecar agrees", async (t) => {
  const preset = JSON.parse(
    execFileSync(
      PYTHON,
      [
        '-c',
        `import json; from torchvision.models import video as v
p = v.R2Plus1D_18_Weights.KINETICS400_V1.transforms()
print(json.dumps({"resizeSize": list(p.resize_size), "cropSize": list(p.crop_size), "mean": list(p.mean), "std": list(p.std)}))`,
      ],
      { encoding: 'utf8' },
    ),
  );
  // Without a sidecar, the model's preprocessing is the addon's defaults.
  const dir = tempDir();
  const bare = path.join(dir, 'bare.pt');
  fs.copyFileSync(modelPath('mc3_18'), bare);
  const model = await loadModel(bare, { warmup: false });
  const { preprocessing } = model.info;
  model.dispose();
  fs.rmSync(dir, { recursive: true });
  for (const key of ['resizeSize', 'cropSize']) t.same(preprocessing[key], preset[key], `${key} ${preset[key]}`);
  for (const key of ['mean', 'std']) {
    preprocessing[key].forEach((value, i) => t.ok(Math.abs(value - preset[key][i]) < 1e-6, `${key}[${i}] ${value}`));
  }
  t.equal(preprocessing.clipLength, 16, "the reference scripts' clip length");
  t.equal(preprocessing.frameRate, 15, "the reference scripts' frame rate");
  for (const arch of ARCHS) {
    const sidecar = JSON.parse(fs.readFileSync(modelPath(arch).replace(/\.pt$/, '.json'), 'utf8'));
    t.same(
      [sidecar.clip_length, sidecar.frame_rate, sidecar.resize_size, sidecar.crop_size, sidecar.mean, sidecar.std],
      [
        preprocessing.clipLength,
        preprocessing.frameRate,
        preprocessing.resizeSize,
        preprocessing.cropSize,
        preprocessing.mean,
        preprocessing.std,
      ],
      `${arch}'s sidecar holds the same values`,
    );
  }
});
