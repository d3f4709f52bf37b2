'use strict';
// scripts/export_models.py: other class counts, local state dicts, and clear errors for bad ones.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { loadModel, Tensor } = require('..');
const { ROOT, tempDir } = require('./helpers/paths');
const { PYTHON, pythonReference } = require('./helpers/python-reference');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');

const EXPORT = path.join(ROOT, 'scripts', 'export_models.py');
const exportModel = (...args) => spawnSync(PYTHON, [EXPORT, ...args], { encoding: 'utf8' });
const python = (code) => {
  const result = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
};

const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

t.test('a 10-class export from a local state dict', async (t) => {
  const pth = path.join(dir, 'mc3_10.pth');
  python(
    `import torch, torchvision; torch.manual_seed(1); torch.save(torchvision.models.video.mc3_18(num_classes=10).state_dict(), ${JSON.stringify(pth)})`,
  );
  const out = path.join(dir, 'ten');
  const result = exportModel('--arch', 'mc3_18', '--weights', pth, '--out', out);
  t.equal(result.status, 0, result.stderr);
  const sidecar = JSON.parse(fs.readFileSync(path.join(out, 'mc3_18.json'), 'utf8'));
  t.equal(sidecar.num_classes, 10, 'classes inferred from fc.weight');
  t.same(sidecar.labels.slice(0, 2), ['class_0', 'class_1']);
  t.match(sidecar.weights, /mc3_10\.pth/);
  const model = await loadModel(path.join(out, 'mc3_18.pt'), { warmup: false });
  t.equal(model.info.numClasses, 10);
  t.equal(model.info.labels[9], 'class_9');
  // The export carries the state dict's weights: its logits equal torchvision's own mc3_18 with
  // that state dict loaded (an export that ignored --weights would differ).
  const shape = [1, 3, 4, 32, 32];
  const input = randomFloats(
    shape.reduce((a, b) => a * b, 1),
    3,
  );
  const logits = await model.forward(Tensor.from(input, shape));
  t.same(logits.shape, [1, 10]);
  const inputFile = path.join(dir, 'input.bin');
  fs.writeFileSync(inputFile, Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  const { json, bytes } = pythonReference('ref_eager_forward.py', [
    '--arch',
    'mc3_18',
    '--weights',
    pth,
    '--input',
    inputFile,
    '--shape',
    shape.join(','),
  ]);
  t.same(json.shape, [1, 10]);
  const diff = maxAbsDiff(logits.data(), new Float32Array(bytes.buffer, bytes.byteOffset, 10));
  t.ok(diff <= 1e-4, `equals torchvision's mc3_18 with the state dict loaded: max abs diff ${diff.toExponential(2)}`);
  model.dispose();
  const again = exportModel('--arch', 'mc3_18', '--weights', pth, '--out', out);
  t.equal(again.status, 0);
  t.match(again.stdout + again.stderr, /up to date|skip/i, 'a second run redoes nothing');
});

t.test('bad state dicts are refused by name', async (t) => {
  const missing = path.join(dir, 'missing.pth');
  python(
    `import torch, torchvision; sd = torchvision.models.video.r3d_18().state_dict(); sd.pop('layer1.0.conv1.0.weight'); sd['extra.weight'] = torch.zeros(1); torch.save(sd, ${JSON.stringify(missing)})`,
  );
  const result = exportModel('--arch', 'r3d_18', '--weights', missing, '--out', path.join(dir, 'bad'));
  t.equal(result.status, 2);
  t.match(result.stderr, /layer1\.0\.conv1\.0\.weight/, 'names the missing key');
  t.match(result.stderr, /extra\.weight/, 'names the unexpected key');

  const wrongClasses = path.join(dir, 'r3d_10.pth');
  python(
    `import torch, torchvision; torch.save(torchvision.models.video.r3d_18(num_classes=10).state_dict(), ${JSON.stringify(wrongClasses)})`,
  );
  const mismatch = exportModel('--arch', 'r3d_18', '--weights', wrongClasses, '--num-classes', '400', '--out', path.join(dir, 'bad'));
  t.equal(mismatch.status, 2);
  t.match(mismatch.stderr, /fc\.weight/);

  // A payload that creates a marker file when unpickled: refusing with status 2 after running it
  // would still be a hole, so the marker must not exist afterwards.
  const pickle = path.join(dir, 'object.pth');
  const marker = path.join(dir, 'unpickled.marker');
  python(
    `import builtins, torch\nclass Payload:\n  def __reduce__(self): return (builtins.open, (${JSON.stringify(marker)}, 'w'))\n` +
      `torch.save({'model': Payload()}, ${JSON.stringify(pickle)})`,
  );
  t.notOk(fs.existsSync(marker), 'saving the payload did not run it');
  const unsafe = exportModel('--arch', 'r3d_18', '--weights', pickle, '--out', path.join(dir, 'bad'));
  t.equal(unsafe.status, 2, 'arbitrary objects are not unpickled');
  t.notOk(fs.existsSync(marker), "the payload's code did not run");
  // The payload is live: Python's own unrestricted torch.load runs it.
  python(`import torch; torch.load(${JSON.stringify(pickle)})`);
  t.ok(fs.existsSync(marker), 'an unrestricted torch.load writes the marker');

  const nofile = exportModel('--arch', 'r3d_18', '--weights', path.join(dir, 'nope.pth'), '--out', path.join(dir, 'bad'));
  t.equal(nofile.status, 2);
  t.match(nofile.stderr, /nope\.pth/);
  t.notOk(fs.existsSync(path.join(dir, 'bad', 'r3d_18.pt')), 'nothing half-written');
});
