'use strict';
// Low-precision CPU inference: loadModel runs bf16 and int8 exports (scripts/export_models.py
// --precision) from float32 input, and converts a float32 export to bf16 at load; each equals the same
// module in PyTorch on the same input (bf16 within 1e-3, int8 within the quantization step);
// classifyVideo and evaluate run them to torchvision's evaluate of the same export
// (test/py/ref_evaluate.py); precision mistakes are named.
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { loadModel, Tensor, classifyVideo, evaluate, Trainer } = require('..');
const { ROOT, tempDir } = require('./helpers/paths');
const { PYTHON, pytorchLogits, pythonReference } = require('./helpers/python-reference');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { classFolderSet } = require('./helpers/fixtures');

const dir = tempDir('torchvideo-precision-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const out = path.join(dir, 'models');
const exportModel = (...args) => {
  const result = spawnSync(PYTHON, [path.join(ROOT, 'scripts', 'export_models.py'), '--arch', 'r3d_18', '--out', out, ...args], {
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(result.stderr);
};
// The float32 export the others are made from, then bf16 and int8 (random calibration: a test, not a model).
exportModel();
exportModel('--precision', 'bf16', '--agreement-clips', '2');
exportModel('--precision', 'int8', '--calibrate', 'random', '--calibration-clips', '4', '--agreement-clips', '2');
const file = (precision) => path.join(out, precision === 'fp32' ? 'r3d_18.pt' : `r3d_18-${precision}.pt`);

const SHAPE = [2, 3, 16, 112, 112];
const input = randomFloats(
  SHAPE.reduce((a, b) => a * b, 1),
  21,
);

t.test('bf16 and int8 exports: float32 in and out, equal to PyTorch on the same export', async (t) => {
  for (const [precision, tolerance] of [
    ['bf16', 1e-3],
    // oneDNN's int8 kernels with the same engine and weights: the same quantized arithmetic as PyTorch.
    ['int8', 1e-3],
  ]) {
    const model = await loadModel(file(precision), { threads: 2 });
    t.teardown(() => model.dispose());
    t.equal(model.info.precision, precision, `info.precision ${precision}`);
    t.equal(model.info.arch, 'r3d_18', 'the architecture from the sidecar (a frozen export has no submodules)');
    t.equal(model.info.numClasses, 400);
    const logits = await model.forward(Tensor.from(input, SHAPE));
    t.equal(logits.dtype, 'float32');
    t.same(logits.shape, [2, 400]);
    const reference = pytorchLogits(file(precision), input, SHAPE, { optimize: true });
    const diff = maxAbsDiff(logits.data(), reference);
    t.ok(diff <= tolerance, `${precision}: max abs diff from PyTorch ${diff.toExponential(2)} <= ${tolerance}`);
  }
});

t.test("loadModel(fp32, { precision: 'bf16' }) converts at load and equals PyTorch's bf16 module", async (t) => {
  const model = await loadModel(file('fp32'), { precision: 'bf16', threads: 2 });
  t.teardown(() => model.dispose());
  t.equal(model.info.precision, 'bf16');
  const logits = (await model.forward(Tensor.from(input, SHAPE))).data();
  const reference = pytorchLogits(file('fp32'), input, SHAPE, { optimize: true, bf16: true });
  const diff = maxAbsDiff(logits, reference);
  t.ok(diff <= 1e-3, `max abs diff from PyTorch's bf16 module ${diff.toExponential(2)} <= 1e-3`);
  const fp32 = await loadModel(file('fp32'), { threads: 2 });
  t.teardown(() => fp32.dispose());
  t.equal(fp32.info.precision, 'fp32');
  const apart = maxAbsDiff(logits, (await fp32.forward(Tensor.from(input, SHAPE))).data());
  t.ok(apart > 0, `bf16 is not float32 (max abs diff ${apart.toExponential(2)})`);
});

// How far a video's probabilities are from the reference's, as log-probabilities relative to the
// reference's spread across classes: random weights give near-uniform probabilities, so absolute
// differences would be tiny whatever the pipeline did.
function relativeLogProbDiff(probs, reference) {
  let diff = 0;
  let low = Infinity;
  let high = -Infinity;
  for (let c = 0; c < reference.length; c++) {
    const ref = Math.log(reference[c]);
    low = Math.min(low, ref);
    high = Math.max(high, ref);
    diff = Math.max(diff, Math.abs(Math.log(probs[c]) - ref));
  }
  return diff / (high - low);
}

// bf16 and int8 run the same kernels in PyTorch and torchvideo (1e-7 of the spread measured here); a
// clip resampled one frame off moves the log-probabilities by about 5e-3 of it.
const RELATIVE_TOLERANCE = 1e-4;

t.test("classifyVideo and evaluate with low-precision models equal torchvision's evaluate of the export", async (t) => {
  const data = classFolderSet(path.join(dir, 'set'));
  // The set's videos that decode, one 16-frame clip each (text.mp4 is the broken one).
  const videos = ['abseiling/h264.mp4', 'abseiling/xvid.avi', 'archery/vp9.webm', 'zumba/h264.mkv'];
  for (const precision of ['bf16', 'int8']) {
    const model = await loadModel(file(precision), { threads: 2 });
    t.teardown(() => model.dispose());
    const spec = path.join(dir, `spec-${precision}.json`);
    const labelOf = (video) => model.info.labels.indexOf(path.dirname(video));
    fs.writeFileSync(spec, JSON.stringify({ videos: videos.map((video) => ({ path: path.join(data, video), label: labelOf(video) })) }));
    const { json, bytes } = pythonReference('ref_evaluate.py', [
      '--model',
      file(precision),
      '--spec',
      spec,
      '--clips',
      '1',
      '--batch-size',
      '2',
    ]);
    t.same(json.clipsPerVideo, [1, 1, 1, 1], 'the reference took one clip of each video');
    const referenceProbs = (i) => new Float32Array(bytes.buffer, bytes.byteOffset + i * 400 * 4, 400);

    const result = await classifyVideo(model, path.join(data, videos[0]), { clipsPerVideo: 1, topk: 400 });
    const probs = new Float32Array(400);
    for (const p of result.top) probs[p.index] = p.score;
    const classified = relativeLogProbDiff(probs, referenceProbs(0));
    t.ok(
      classified < RELATIVE_TOLERANCE,
      `${precision}: classifyVideo's log-probabilities within ${classified.toExponential(2)} of the spread`,
    );

    const report = await evaluate({ model, data, clipsPerVideo: 1, batchSize: 2 });
    t.equal(report.videos, 4, `${precision}: evaluate scores every video`);
    t.equal(report.videoAcc1, json.videoAcc1, `${precision}: video acc@1 ${json.videoAcc1}`);
    for (const prediction of report.predictions) {
      const i = videos.indexOf(path.relative(data, prediction.path));
      const diff = relativeLogProbDiff(prediction.probs, referenceProbs(i));
      t.ok(diff < RELATIVE_TOLERANCE, `${precision}: ${videos[i]}: log-probabilities within ${diff.toExponential(2)} of the spread`);
    }
  }
});

// The warning for a CPU without AVX512-BF16: test/model-precision-option.test.js.

t.test('precision mistakes are named', async (t) => {
  await t.rejects(loadModel(file('fp32'), { precision: 'int8' }), {
    name: 'RangeError',
    message:
      /expected an int8 export for options\.precision 'int8': '.*r3d_18\.pt' is exported in fp32; quantize it first with `torchvideo quantize/,
  });
  await t.rejects(loadModel(file('fp32'), { precision: 'fp16' }), {
    name: 'RangeError',
    message: /expected a CUDA device for options\.precision 'fp16'/,
  });
  await t.rejects(loadModel(file('int8'), { precision: 'bf16' }), {
    name: 'RangeError',
    message: /expected options\.precision to be 'int8' or unset: '.*r3d_18-int8\.pt' is exported in int8/,
  });
  for (const device of ['cuda', 'cuda:1']) {
    await t.rejects(loadModel(file('int8'), { device }), {
      name: 'RangeError',
      message: new RegExp(
        `expected options\\.device 'cpu' for '.*r3d_18-int8\\.pt': it is exported in int8, which runs on oneDNN's CPU quantized engine only \\(on ${device}, load its float32 export`,
      ),
    });
  }
  const odd = path.join(dir, 'odd.pt');
  fs.copyFileSync(file('fp32'), odd);
  fs.writeFileSync(path.join(dir, 'odd.json'), JSON.stringify({ arch: 'r3d_18', precision: 'fp8' }));
  await t.rejects(loadModel(odd), { code: 'ERR_MODEL_LOAD', message: /names precision "fp8": expected 'fp32', 'bf16' or 'int8'/ });
  await t.rejects(Trainer.create({ model: file('int8'), numClasses: 3 }), {
    code: 'ERR_MODEL_LOAD',
    message: /cannot train '.*r3d_18-int8\.pt': it is an inference export in int8/,
  });
});
