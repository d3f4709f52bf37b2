'use strict';
// scripts/export_models.py --precision bf16|int8: the exports load in PyTorch and return float32 logits
// close to the float32 network's; their sidecars record precision, calibration and agreement; int8
// calibrates on clips torchvideo itself decodes and preprocesses (scripts/calibration-clips.js); bad
// options are refused by name. Random weights give near-uniform outputs (every probability near 1/400),
// so closeness there is asserted on the logits relative to their own spread across the classes; top-1
// agreement is asserted on a network whose answers are known (test/py/make_colour_classifier.py).
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync, spawnSync } = require('node:child_process');
const t = require('tap');
const { openVideo, preprocess } = require('..');
const { makeMovingShapes, shapesStartingExport, DIRECTIONS } = require('../dist/internal.js');
const { ROOT, tempDir } = require('./helpers/paths');
const { PYTHON } = require('./helpers/python-reference');

const EXPORT = path.join(ROOT, 'scripts', 'export_models.py');
const CLIPS_SCRIPT = path.join(ROOT, 'scripts', 'calibration-clips.js');
const exportModel = (...args) => spawnSync(PYTHON, [EXPORT, ...args], { encoding: 'utf8' });
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));
const sha256 = (file) => crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// Small sets keep the whole file near a minute on 2 cores.
const FEW = ['--calibration-clips', '8', '--agreement-clips', '4'];

function comparePrecision(low, fp32, shape, clips) {
  const args = ['--low', low, '--fp32', fp32, '--shape', shape.join(','), ...(clips ? ['--clips', clips] : [])];
  const result = spawnSync(PYTHON, [path.join(ROOT, 'test', 'py', 'compare_precision.py'), ...args], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(result.stderr);
  return JSON.parse(result.stdout.trim().split('\n').pop());
}

// What every low-precision sidecar must carry: the float32 sidecar's fields (same values where they
// describe the network), the precision, and an agreement measured on `clips` held-out clips.
function checkSidecar(t, sidecar, fp32Sidecar, { precision, clips, ptFile }) {
  const missing = Object.keys(fp32Sidecar).filter((key) => !(key in sidecar));
  t.same(missing, [], 'has every field of the float32 sidecar');
  for (const key of [
    'arch',
    'num_classes',
    'labels',
    'clip_length',
    'frame_rate',
    'resize_size',
    'crop_size',
    'mean',
    'std',
    'parameters',
  ]) {
    t.same(sidecar[key], fp32Sidecar[key], `${key} as in the float32 sidecar`);
  }
  t.equal(sidecar.precision, precision);
  t.equal(sidecar.sha256, sha256(ptFile), 'sha256 of the .pt');
  // The agreement's values are checked on the colour classifier, where they are known; on near-uniform
  // outputs they say nothing.
  const { agreement } = sidecar;
  t.equal(agreement.clips, clips, 'agreement on the held-out clips asked for');
  t.same(
    ['top1', 'meanAbsProbDiff', 'maxAbsProbDiff'].filter((key) => typeof agreement[key] !== 'number'),
    [],
    'top1, meanAbsProbDiff and maxAbsProbDiff recorded',
  );
}

// Logits within `relativeTolerance` of the float32 logits' spread across classes (per clip): a wrong
// layer, scale or zero point moves them by about the spread itself.
function checkInPyTorch(t, low, fp32, shape, classes, { relativeTolerance, clips }) {
  const got = comparePrecision(low, fp32, shape, clips);
  t.equal(got.dtype, 'torch.float32', 'logits are float32');
  t.same(got.shape, [shape[0], classes]);
  t.ok(
    got.maxRelLogitDiff < relativeTolerance,
    `logits close to float32's: max |diff| / spread ${got.maxRelLogitDiff.toFixed(4)} < ${relativeTolerance} (max |diff| ${got.maxAbsLogitDiff.toExponential(2)}, smallest spread ${got.minLogitSpread.toExponential(2)})`,
  );
  t.ok(got.refrozenMaxDiff < 1e-3, `frozen and optimized again (as torchvideo's loader does), it still runs: diff ${got.refrozenMaxDiff}`);
}

// Largest logit difference over the float32 logits' spread, about 4x what was measured here (bf16 0.002
// on random r3d_18, 0.008 on the colour classifier; int8 0.015 and 0.024): a wrong layer, scale or zero
// point moves the logits by about the spread itself.
const BF16_TOLERANCE = 0.05;
const INT8_TOLERANCE = 0.1;

const dir = tempDir();
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const out = path.join(dir, 'models');
const CLIP = [2, 3, 16, 112, 112];

t.before(() => {
  // The float32 export the low-precision ones are compared with: the same --arch and seed.
  const result = exportModel('--arch', 'r3d_18', '--out', out);
  if (result.status !== 0) throw new Error(result.stderr);
});

t.test('bf16: frozen bf16 TorchScript, float32 in and out', async (t) => {
  const result = exportModel('--arch', 'r3d_18', '--precision', 'bf16', '--out', out, '--agreement-clips', '4');
  t.equal(result.status, 0, result.stderr);
  const pt = path.join(out, 'r3d_18-bf16.pt');
  t.ok(fs.existsSync(pt), 'writes <arch>-bf16.pt');
  const sidecar = readJson(path.join(out, 'r3d_18-bf16.json'));
  checkSidecar(t, sidecar, readJson(path.join(out, 'r3d_18.json')), { precision: 'bf16', clips: 4, ptFile: pt });
  t.equal(sidecar.agreement.source, 'random');
  t.notOk('calibration' in sidecar, 'bf16 needs no calibration');
  checkInPyTorch(t, pt, path.join(out, 'r3d_18.pt'), CLIP, 400, { relativeTolerance: BF16_TOLERANCE });
  const again = exportModel('--arch', 'r3d_18', '--precision', 'bf16', '--out', out, '--agreement-clips', '4');
  t.equal(again.status, 0);
  t.match(again.stdout, /up to date/, 'a second run redoes nothing');
  const fp32Again = exportModel('--arch', 'r3d_18', '--out', out);
  t.match(fp32Again.stdout, /r3d_18: up to date/, 'the float32 export beside it is still up to date');
});

t.test('int8: FX static quantization for onednn, calibrated on random clips', async (t) => {
  const result = exportModel('--arch', 'r3d_18', '--precision', 'int8', '--calibrate', 'random', ...FEW, '--out', out);
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, /20 of 20 convolutions quantized/);
  const pt = path.join(out, 'r3d_18-int8.pt');
  const sidecar = readJson(path.join(out, 'r3d_18-int8.json'));
  checkSidecar(t, sidecar, readJson(path.join(out, 'r3d_18.json')), { precision: 'int8', clips: 4, ptFile: pt });
  t.same(sidecar.calibration, { source: 'random', clips: 8 });
  t.equal(sidecar.quantized_engine, 'onednn');
  checkInPyTorch(t, pt, path.join(out, 'r3d_18.pt'), CLIP, 400, { relativeTolerance: INT8_TOLERANCE });
});

t.test('a fine-tuned export (--model), calibrated on a dataset through torchvideo', async (t) => {
  // What fineTune leaves: a 4-class export whose sidecar has its labels and the moving shapes' preprocessing.
  const base = path.join(dir, 'base4');
  const fp32 = exportModel('--arch', 'r3d_18', '--num-classes', '4', '--out', base);
  t.equal(fp32.status, 0, fp32.stderr);
  const model = shapesStartingExport(path.join(base, 'r3d_18.pt'), path.join(dir, 'ft', 'model.pt'));
  const modelSidecar = path.join(dir, 'ft', 'model.json');
  fs.writeFileSync(modelSidecar, JSON.stringify({ ...readJson(modelSidecar), labels: [...DIRECTIONS] }));
  const data = path.join(dir, 'shapes');
  makeMovingShapes(data, { videosPerClass: 2, seed: 3 });

  const result = exportModel(
    '--model',
    model,
    '--precision',
    'int8',
    '--calibrate',
    data,
    '--calibration-clips',
    '4',
    '--agreement-clips',
    '4',
  );
  t.equal(result.status, 0, result.stderr);
  t.match(result.stderr, /node \S*calibration-clips\.js/, 'says it reads the clips with torchvideo');
  const pt = path.join(dir, 'ft', 'model-int8.pt');
  const sidecar = readJson(path.join(dir, 'ft', 'model-int8.json'));
  checkSidecar(t, sidecar, readJson(modelSidecar), { precision: 'int8', clips: 4, ptFile: pt });
  t.same(sidecar.labels, DIRECTIONS, "the fine-tuned export's labels");
  t.same([sidecar.clip_length, ...sidecar.crop_size], [8, 56, 56], 'and its preprocessing');
  t.same(sidecar.calibration, { source: data, clips: 4, videos: 4 });
  t.equal(sidecar.agreement.source, data);
  t.equal(sidecar.agreement.videosAlsoInCalibration, 0, 'held-out clips come from other videos');
  t.equal(sidecar.source_model, model);
  t.equal(sidecar.source_sha256, sha256(model));
  checkInPyTorch(t, pt, model, [2, 3, 8, 56, 56], 4, { relativeTolerance: INT8_TOLERANCE });

  const outFile = path.join(dir, 'elsewhere', 'shapes-bf16.pt');
  const bf16 = exportModel('--model', model, '--precision', 'bf16', '--out-file', outFile, '--agreement-clips', '2');
  t.equal(bf16.status, 0, bf16.stderr);
  t.equal(readJson(path.join(dir, 'elsewhere', 'shapes-bf16.json')).precision, 'bf16', '--out-file, its sidecar beside it');

  const twice = exportModel('--model', pt, '--precision', 'bf16');
  t.equal(twice.status, 2);
  t.match(twice.stderr, /already exported in int8/, 'a low-precision export is not converted again');
});

// A network whose answers are known: mc3_18 with its fc fitted so that each solid colour's class wins by
// about 10 logits. bf16 must give float32's class on every clip, and its sidecar must say so. (int8 is
// checked on a trained network by test/precision-agreement.test.js: this fc, a least-squares fit on nearly
// collinear features, has weights int8 cannot hold, and its int8 export answers one class for every colour.)
const COLOURS = ['red', 'green', 'blue', 'yellow'];

t.test('on a network with known answers (a colour classifier) bf16 agrees with float32 on every clip', async (t) => {
  const data = path.join(dir, 'colours');
  for (const colour of COLOURS) {
    fs.mkdirSync(path.join(data, colour), { recursive: true });
    for (const n of [1, 2]) {
      const source = `color=c=${colour}:s=160x120:r=25:d=3`;
      const file = path.join(data, colour, `${n}.mp4`);
      execFileSync('ffmpeg', [
        '-hide_banner',
        '-loglevel',
        'error',
        '-y',
        '-f',
        'lavfi',
        '-i',
        source,
        '-c:v',
        'libx264',
        '-pix_fmt',
        'yuv420p',
        file,
      ]);
    }
  }
  const model = path.join(dir, 'colour-model', 'colours.pt');
  fs.mkdirSync(path.dirname(model));
  const videos = COLOURS.map((c) => path.join(data, c, '1.mp4')).join(',');
  execFileSync(
    PYTHON,
    [path.join(ROOT, 'test', 'py', 'make_colour_classifier.py'), '--labels', COLOURS.join(','), '--videos', videos, '--out', model],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  // The clips to compare on: one per video, decoded and preprocessed by torchvideo.
  const clips = path.join(dir, 'colour-clips.bin');
  const { shape } = JSON.parse(
    execFileSync(process.execPath, [CLIPS_SCRIPT, data, '--clips', '8', '--model', model, '--out', clips], { encoding: 'utf8' }),
  );
  const precision = 'bf16';
  const result = exportModel('--model', model, '--precision', precision, '--calibrate', data, '--agreement-clips', '4');
  t.equal(result.status, 0, result.stderr);
  const low = path.join(dir, 'colour-model', `colours-${precision}.pt`);
  const { agreement } = readJson(path.join(dir, 'colour-model', `colours-${precision}.json`));
  t.equal(agreement.top1, 1, `${precision}: the sidecar records top-1 agreement on every held-out clip`);
  t.ok(agreement.meanAbsProbDiff <= agreement.maxAbsProbDiff, `${precision}: mean <= max |prob diff|`);
  t.ok(agreement.maxAbsProbDiff < 0.05, `${precision}: max |prob diff| ${agreement.maxAbsProbDiff} on outputs far from uniform`);
  const got = comparePrecision(low, model, shape, clips);
  t.equal(got.top1, 1, `${precision}: float32's class on all ${shape[0]} clips`);
  t.ok(
    got.maxRelLogitDiff < BF16_TOLERANCE,
    `${precision}: max |logit diff| / spread ${got.maxRelLogitDiff.toFixed(4)} < ${BF16_TOLERANCE}`,
  );
});

t.test("calibration-clips.js writes torchvideo's own preprocessed clips", async (t) => {
  const data = path.join(dir, 'shapes');
  const model = path.join(dir, 'ft', 'model.pt');
  t.ok(fs.existsSync(model), 'made by the test before');
  const bin = path.join(dir, 'clips.bin');
  const result = spawnSync(process.execPath, [CLIPS_SCRIPT, data, '--clips', '3', '--model', model, '--out', bin], { encoding: 'utf8' });
  t.equal(result.status, 0, result.stderr);
  const info = JSON.parse(result.stdout);
  t.same(info.shape, [3, 3, 8, 56, 56]);
  t.equal(new Set(info.clips.map((c) => path.dirname(c.video))).size, 3, 'the first clips span the classes');
  const bytes = fs.readFileSync(bin);
  const clipLength = 3 * 8 * 56 * 56;
  t.equal(bytes.length, 3 * clipLength * 4);
  const written = new Float32Array(bytes.buffer, bytes.byteOffset, 3 * clipLength);
  // Clip 0 again through the public API: the video is 15 fps, the model's rate, so its frames are consecutive.
  const [first, last] = info.clips[0].frames;
  const reader = await openVideo(path.join(data, info.clips[0].video));
  const frames = await reader.readFrames(Array.from({ length: last - first + 1 }, (_, i) => first + i));
  reader.close();
  const { preprocessing } = require('../dist/internal.js').readSidecar(model);
  const clip = (await preprocess(frames, { preprocessing })).data();
  let diff = 0;
  for (let i = 0; i < clipLength; i++) diff = Math.max(diff, Math.abs(clip[i] - written[i]));
  t.ok(diff <= 1e-6, `equals openVideo + preprocess with the model's preprocessing: max diff ${diff}`);

  const missing = spawnSync(process.execPath, [CLIPS_SCRIPT, path.join(dir, 'nope'), '--clips', '3', '--out', bin], { encoding: 'utf8' });
  t.equal(missing.status, 2);
  t.match(missing.stderr, /calibration-clips\.js: error: .*nope/);
});

t.test('bad options are refused by name', async (t) => {
  const bad = path.join(dir, 'bad');
  const uncalibrated = exportModel('--arch', 'r3d_18', '--precision', 'int8', '--out', bad);
  t.equal(uncalibrated.status, 2);
  t.match(uncalibrated.stderr, 'int8 needs calibration clips: --calibrate DATA (or --calibrate random for tests)');

  const precision = exportModel('--arch', 'r3d_18', '--precision', 'fp16', '--out', bad);
  t.equal(precision.status, 2);
  t.match(precision.stderr, /--precision: invalid choice: 'fp16' \(choose from 'fp32', 'bf16', 'int8'\)/);

  const noData = exportModel('--arch', 'r3d_18', '--precision', 'int8', '--calibrate', path.join(dir, 'no-such-set'), '--out', bad);
  t.equal(noData.status, 2);
  t.match(noData.stderr, /no-such-set/);

  const fp32Model = exportModel('--model', path.join(out, 'r3d_18.pt'));
  t.equal(fp32Model.status, 2);
  t.match(fp32Model.stderr, /--model converts an export to --precision bf16 or int8/);

  const calibrateFp32 = exportModel('--arch', 'r3d_18', '--calibrate', 'random', '--out', bad);
  t.equal(calibrateFp32.status, 2);
  t.match(calibrateFp32.stderr, /--calibrate needs --precision bf16 or int8/);
  t.notOk(fs.existsSync(bad), 'nothing written');
});
