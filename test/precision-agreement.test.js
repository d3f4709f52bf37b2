'use strict';
// bf16 and int8 on a trained network: r3d_18 fine-tuned on the moving shapes (fineTune, 5 epochs), then
// converted by `torchvideo quantize` (int8 calibrated on the training set through torchvideo's own
// preprocessing). On validation clips the top-1 class agrees with float32 on >= 99% of clips and on every
// video; a bf16 conversion at load agrees too. The CLI's bad flags are named.
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const t = require('tap');
const { evaluate, fineTune, loadModel, Tensor } = require('..');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { makeMovingShapes, shapesStartingExport } = require('../dist/internal.js');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const root = tempDir('torchvideo-agreement-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
const train = path.join(root, 'train');
const val = path.join(root, 'val');
const fp32 = path.join(root, 'ft', 'best.pt');
const argmax = (row) => row.indexOf(Math.max(...row));

t.before(async () => {
  makeMovingShapes(train, { videosPerClass: 6, seed: 1 });
  makeMovingShapes(val, { videosPerClass: 3, seed: 2 });
  const model = shapesStartingExport(modelPath('r3d_18'), path.join(root, 'start.pt'));
  await fineTune({
    ...{ model, train, val, outDir: path.join(root, 'ft'), epochs: 5, batchSize: 8, lr: 0.01, warmupEpochs: 0 },
    ...{ clipsPerVideo: 2, clipLength: 8, hflipProb: 0, seed: 1, milestones: [100] },
  });
});

// Every model's top-1 on the same 60 validation clips (decoded and preprocessed by torchvideo).
function validationClips() {
  const file = path.join(root, 'val60.bin');
  const { shape } = JSON.parse(
    execFileSync(
      process.execPath,
      [path.join(ROOT, 'scripts', 'calibration-clips.js'), val, '--clips', '60', '--model', fp32, '--out', file],
      {
        encoding: 'utf8',
      },
    ),
  );
  const bytes = fs.readFileSync(file);
  return Tensor.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4), shape);
}

async function scores(file, options, clips) {
  const model = await loadModel(file, { threads: 2, ...options });
  try {
    const logits = await model.forward(clips);
    const classes = logits.shape[1];
    const data = logits.data();
    const clipTop = Array.from({ length: logits.shape[0] }, (_, i) => argmax(Array.from(data.subarray(i * classes, (i + 1) * classes))));
    const report = await evaluate({ model, data: val, clipsPerVideo: 5, batchSize: 8 });
    return { clipTop, videoTop: report.predictions.map((p) => argmax(Array.from(p.probs))), precision: model.info.precision };
  } finally {
    model.dispose();
  }
}

t.test('torchvideo quantize: bf16 and int8 agree with float32 on >= 99% of clips and every video', async (t) => {
  const int8 = path.join(root, 'ft', 'best-int8.pt');
  const bf16 = path.join(root, 'ft', 'best-bf16.pt');
  const quantize = (...args) => spawnSync(process.execPath, [CLI, 'quantize', '--model', fp32, ...args], { encoding: 'utf8' });
  const made = quantize('--precision', 'int8', '--calibrate', train, '--calibration-clips', '32', '--agreement-clips', '16');
  t.equal(made.status, 0, made.stderr);
  t.match(made.stderr, /torchvideo: converting with PyTorch: .*export_models\.py --model .*best\.pt --precision int8 --calibrate/);
  t.match(made.stderr, /calibration-clips\.js/, 'the calibration clips come from torchvideo, and it says so');
  t.equal(quantize('--precision', 'bf16', '--agreement-clips', '16').status, 0);
  const sidecar = JSON.parse(fs.readFileSync(path.join(root, 'ft', 'best-int8.json'), 'utf8'));
  t.same(sidecar.calibration.source, train);
  t.equal(sidecar.calibration.clips, 32);

  const clips = validationClips();
  const reference = await scores(fp32, {}, clips);
  for (const [name, file, options] of [
    ['bf16 export', bf16, {}],
    ['int8 export', int8, {}],
    ['bf16 at load', fp32, { precision: 'bf16' }],
  ]) {
    const got = await scores(file, options, clips);
    const clipAgreement = got.clipTop.filter((c, i) => c === reference.clipTop[i]).length / got.clipTop.length;
    t.ok(clipAgreement >= 0.99, `${name} (${got.precision}): clip top-1 agreement ${clipAgreement.toFixed(3)} >= 0.99 on 60 clips`);
    t.same(got.videoTop, reference.videoTop, `${name}: every video's top-1 is float32's (${got.videoTop.length} videos)`);
  }
});

t.test('quantize: bad command lines are named before PyTorch starts', async (t) => {
  const run = (...args) => spawnSync(process.execPath, [CLI, 'quantize', ...args], { encoding: 'utf8' });
  for (const [args, message] of [
    [['--precision', 'int8'], /expected --model MODEL\.pt/],
    [['--model', fp32], /expected --precision bf16 or int8, got nothing/],
    [['--model', fp32, '--precision', 'fp16'], /expected --precision bf16 or int8, got 'fp16'/],
    [['--model', fp32, '--precision', 'int8'], /int8 needs calibration clips: --calibrate DATA/],
    [['--model', fp32, '--precision', 'bf16', '--calibrate', train], /--calibrate and --calibration-clips are for int8/],
    [
      ['--model', fp32, '--precision', 'int8', '--calibrate', train, '--calibration-clips', '0'],
      /expected --calibration-clips to be a positive integer, got '0'/,
    ],
    [['--model', path.join(root, 'none.pt'), '--precision', 'bf16'], /--model: no such file .*none\.pt.*ERR_FILE_NOT_FOUND/],
    [
      ['--model', fp32, '--precision', 'int8', '--calibrate', path.join(root, 'no-set')],
      /--calibrate: no such dataset .*ERR_FILE_NOT_FOUND/,
    ],
  ]) {
    const result = run(...args);
    t.not(result.status, 0, args.join(' '));
    t.match(result.stderr, message);
    t.notMatch(result.stderr, /converting with PyTorch/, 'nothing was started');
  }
});
