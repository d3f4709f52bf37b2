'use strict';
// evaluate(): torchvision's clip/video accuracy over a labelled set, in batches that span videos; its
// per-video probabilities equal torchvision's evaluate on the same export (test/py/ref_evaluate.py: PyAV
// decoding, VideoClips, UniformClipSampler, VideoClassification); shards merge into exactly one run's
// report; a job killed with SIGKILL resumes to the same report.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { loadModel, evaluate, mergeEvaluations, loadDataset } = require('..');
const { fixture } = require('./helpers/fixtures');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { maxAbsDiff } = require('./helpers/numbers');
const { pythonReference } = require('./helpers/python-reference');
const { sameReportFields } = require('./helpers/reports');

const CLIPS = { clipsPerVideo: 2, clipLength: 8 };
const VIDEOS = ['h264.mp4', 'xvid.avi', 'vp9.webm', 'h264.mkv', 'portrait.mp4'];

let model;
let truth; // path name -> torchvision's full probability vector for the video
const root = tempDir('torchvideo-eval-');
t.teardown(() => {
  model?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

// A dataset whose answer is known: each video filed under the class torchvision's evaluate ranks first
// for it, except the last, filed under its second-ranked class, and a text file posing as a video.
t.before(async () => {
  model = await loadModel(modelPath('mc3_18'));
  const spec = path.join(root, 'spec.json');
  const ranks = VIDEOS.map((_, i) => (i === VIDEOS.length - 1 ? 1 : 0));
  fs.writeFileSync(spec, JSON.stringify({ videos: VIDEOS.map((name, i) => ({ path: fixture(name), rank: ranks[i] })) }));
  const { json, bytes } = pythonReference('ref_evaluate.py', [
    ...['--model', modelPath('mc3_18'), '--spec', spec, '--clips', String(CLIPS.clipsPerVideo)],
    ...['--clip-len', String(CLIPS.clipLength), '--frame-rate', '15', '--batch-size', '3'],
  ]);
  const probsOf = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const numClasses = model.info.labels.length;
  truth = {};
  const data = path.join(root, 'set');
  for (const [i, name] of VIDEOS.entries()) {
    const label = model.info.labels[json.labels[i]];
    fs.mkdirSync(path.join(data, label), { recursive: true });
    const file = path.join(data, label, `${i}-${name}`);
    fs.copyFileSync(fixture(name), file);
    truth[file] = { probs: probsOf.slice(i * numClasses, (i + 1) * numClasses) };
  }
  fs.copyFileSync(fixture('text.mp4'), path.join(data, fs.readdirSync(data).sort()[0], 'broken.mp4'));
});

const dataDir = () => path.join(root, 'set');

t.test("a folder dataset: known accuracies, probabilities equal torchvision's, the broken file in failed", async (t) => {
  const report = await evaluate({ model, data: dataDir(), ...CLIPS, batchSize: 3 });
  t.equal(report.videos, VIDEOS.length);
  t.equal(report.clips, VIDEOS.length * CLIPS.clipsPerVideo);
  t.equal(report.videoAcc1, (VIDEOS.length - 1) / VIDEOS.length, 'all but the misfiled video are right at top-1');
  t.equal(report.videoAcc5, 1, 'the misfiled one is second: right at top-5');
  t.equal(report.failed.length, 1);
  t.match(report.failed[0], { path: /broken\.mp4$/, error: /ERR_VIDEO_OPEN/ });
  for (const prediction of report.predictions) {
    const diff = maxAbsDiff(prediction.probs, truth[prediction.path].probs);
    t.ok(diff <= 1e-6, `${path.basename(prediction.path)}: probabilities equal torchvision's (max diff ${diff.toExponential(1)})`);
    t.equal(prediction.label, path.basename(path.dirname(prediction.path)), 'labelled by its folder');
  }
  t.ok(report.clipsPerSec > 0);
  t.same(report.options, { ...CLIPS, frameRate: 15, crops: 1, batchSize: 3, shortVideos: 'pad' });
});

t.test('three shards merged give exactly the report of one run', async (t) => {
  const whole = await evaluate({ model, data: dataDir(), ...CLIPS, batchSize: 4 });
  const parts = [];
  for (let index = 0; index < 3; index++)
    parts.push(await evaluate({ model, data: dataDir(), ...CLIPS, batchSize: 4, shard: { index, count: 3 } }));
  t.same(
    parts.map((p) => p.videos + p.failed.length),
    [2, 2, 2],
    'shards split the 6 files 2/2/2',
  );
  const merged = mergeEvaluations(parts);
  sameReportFields(t, merged, whole, ['perClass', 'skipped', 'shard']);
  t.same(
    merged.predictions.map((p) => [p.path, Array.from(p.probs)]),
    whole.predictions.map((p) => [p.path, Array.from(p.probs)]),
    'every probability identical',
  );
  t.throws(() => mergeEvaluations([parts[0], parts[0]]), { name: 'RangeError', message: /shard 0\/3 is given twice/ });
  t.throws(() => mergeEvaluations([]), { name: 'RangeError' });
});

t.test('a job killed with SIGKILL resumes to the report of an uninterrupted run', async (t) => {
  const out = path.join(root, 'killed');
  const options = { data: dataDir(), ...CLIPS, batchSize: 1, out };
  const script = `
    const { evaluate } = require(${JSON.stringify(ROOT)});
    evaluate({ model: ${JSON.stringify(modelPath('mc3_18'))}, ...${JSON.stringify(options)} }).then(() => process.exit(0));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
  const log = path.join(out, 'predictions.jsonl');
  // Kill it once two videos are on disk (and the third is somewhere in flight).
  await new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean).length : 0;
      if (lines >= 4) {
        clearInterval(timer);
        child.kill('SIGKILL');
        resolve();
      }
    }, 20);
    child.on('exit', (code) => {
      clearInterval(timer);
      if (code === 0) reject(new Error('the job finished before it could be killed'));
    });
  });
  await new Promise((resolve) => child.on('exit', resolve).exitCode !== null && resolve());
  const before = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  t.ok(before.length >= 4 && before.length < 8, `killed with ${before.length - 1} of 6 files logged`);
  const resumed = await evaluate({ model, ...options, resume: true });
  const uninterrupted = await evaluate({ model, ...options, out: path.join(root, 'whole') });
  for (const key of ['clipAcc1', 'clipAcc5', 'videoAcc1', 'videoAcc5', 'meanClassAcc1', 'clips', 'videos', 'confusion', 'failed']) {
    t.same(resumed[key], uninterrupted[key], `${key} identical`);
  }
  t.same(
    resumed.predictions.map((p) => Array.from(p.probs)),
    uninterrupted.predictions.map((p) => Array.from(p.probs)),
    'every probability identical',
  );
  const after = fs.readFileSync(log, 'utf8').split('\n').filter(Boolean);
  t.equal(after.length, 7, 'the log holds the job line and each of the 6 files once');
  t.same(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).videoAcc1, uninterrupted.videoAcc1, 'report.json written');
  await t.rejects(evaluate({ model, ...options, clipsPerVideo: 3, resume: true }), {
    name: 'RangeError',
    message: /cannot resume into '.*predictions\.jsonl': it holds another job/,
  });
});

t.test('CSV and MMAction2 list datasets, label mapping and its errors', async (t) => {
  const files = Object.keys(truth);
  const labels = files.map((f) => path.basename(path.dirname(f)));
  const csv = path.join(root, 'set.csv');
  fs.writeFileSync(csv, `path,label\n${files.map((f, i) => `${path.relative(root, f)},"${labels[i]}"`).join('\n')}\n`);
  const fromCsv = await evaluate({ model, data: csv, ...CLIPS });
  t.equal(fromCsv.videoAcc1, (VIDEOS.length - 1) / VIDEOS.length, 'the CSV gives the same answer');
  const list = path.join(root, 'set.txt');
  fs.writeFileSync(list, files.map((f, i) => `${path.relative(root, f)} ${model.info.labels.indexOf(labels[i])}`).join('\n'));
  const dataset = await loadDataset(list);
  t.same(
    dataset.videos.map((v) => typeof v.label),
    files.map(() => 'number'),
    'list labels are class indices',
  );
  const fromList = await evaluate({ model, data: dataset, ...CLIPS });
  t.equal(fromList.videoAcc1, fromCsv.videoAcc1, 'the list file gives the same answer');

  fs.writeFileSync(csv, `path,label\n${path.relative(root, files[0])},no such class\n`);
  await t.rejects(evaluate({ model, data: csv, ...CLIPS }), {
    name: 'TorchVideoError',
    code: 'ERR_DATASET',
    message: /set\.csv:2: label 'no such class' is not a class of the model/,
  });
  fs.writeFileSync(list, `${path.relative(root, files[0])} 400\n`);
  await t.rejects(evaluate({ model, data: list, ...CLIPS }), {
    code: 'ERR_DATASET',
    message: /set\.txt:1: label 400 is not a class of the model \(it has 400/,
  });
  fs.writeFileSync(list, `${path.relative(root, files[0])}\n`);
  await t.rejects(loadDataset(list), { code: 'ERR_DATASET', message: /set\.txt:1: expected 'path label' with an integer label/ });
  fs.writeFileSync(csv, `file,class\nx.mp4,a\n`);
  await t.rejects(loadDataset(csv), { code: 'ERR_DATASET', message: /needs a header with the columns path and label, got file, class/ });
  await t.rejects(loadDataset(path.join(root, 'missing')), { code: 'ERR_FILE_NOT_FOUND' });
});

t.test('the metadata index is reused, and redone for a changed file', async (t) => {
  const first = await loadDataset(dataDir());
  const indexed = fs.statSync(first.indexPath).mtimeMs;
  const again = await loadDataset(dataDir());
  t.equal(fs.statSync(again.indexPath).mtimeMs, indexed, 'unchanged files: the index is not rewritten');
  const target = again.videos[0].path;
  const original = fs.readFileSync(target);
  fs.copyFileSync(fixture('five-frames.mp4'), target);
  const changed = await loadDataset(dataDir());
  t.equal(changed.videos.find((v) => v.path === target).info.frameCount, 5, 'the changed file was indexed again');
  fs.writeFileSync(target, original);
  fs.utimesSync(target, new Date(), new Date(Date.now() + 5000));
});

t.test('the index caches each frame index; evaluation opens with it, and falls back when it is inconsistent', async (t) => {
  const dataset = await loadDataset(dataDir());
  const cached = JSON.parse(fs.readFileSync(dataset.indexPath, 'utf8'));
  const h264 = Object.entries(cached.videos).find(([file]) => file.endsWith('h264.mp4'))[1];
  t.equal(h264.frameIndex.frameCount, h264.frameCount, 'the frame index is cached beside the metadata');
  t.equal(h264.frameIndex.pts.length, 1, 'constant-rate timestamps pack into one run [first, step, count]');
  t.equal(h264.frameIndex.pts[0][2], h264.frameCount, 'one timestamp per frame');

  const plain = {
    ...dataset,
    videos: dataset.videos.map((video) => ({ ...video, info: { ...video.info, frameIndex: undefined } })),
  };
  const broken = {
    ...dataset,
    videos: dataset.videos.map((video) => ({
      ...video,
      info: { ...video.info, frameIndex: { ...video.info.frameIndex, pts: [[0, 1, 3]] } },
    })),
  };
  const withIndex = await evaluate({ model, data: dataset, ...CLIPS });
  const withoutIndex = await evaluate({ model, data: plain, ...CLIPS });
  const withBrokenIndex = await evaluate({ model, data: broken, ...CLIPS });
  for (const other of [withoutIndex, withBrokenIndex]) {
    t.equal(other.predictions.length, withIndex.predictions.length);
    for (const [i, prediction] of other.predictions.entries()) {
      t.equal(maxAbsDiff(prediction.probs, withIndex.predictions[i].probs), 0, `${path.basename(prediction.path)}: the same frames`);
    }
  }
});

t.test('pipeline sizes follow the cores and the device', async (t) => {
  const { pipelineSizes } = require(path.join(ROOT, 'dist', 'internal.js'));
  t.same(pipelineSizes({ device: 'cuda:0', batchSize: 32, clipsPerVideo: 5, cores: 16 }), {
    decodeThreads: 15,
    threadsPerVideo: 1,
    prefetch: 4,
  });
  t.same(pipelineSizes({ device: 'cpu', batchSize: 8, clipsPerVideo: 5, cores: 16 }), {
    decodeThreads: 8,
    threadsPerVideo: 2,
    prefetch: 6,
  });
  t.same(pipelineSizes({ device: 'cpu', batchSize: 8, clipsPerVideo: 5, cores: 2 }), { decodeThreads: 2, threadsPerVideo: 1, prefetch: 2 });
  t.same(
    pipelineSizes({
      device: 'cuda:0',
      batchSize: 32,
      clipsPerVideo: 5,
      cores: 16,
      decodeThreadsAsked: 4,
      threadsPerVideoAsked: 0,
      prefetchAsked: 1,
    }),
    { decodeThreads: 4, threadsPerVideo: 0, prefetch: 1 },
    'options override',
  );
});

t.test('abort, progress and bad options', async (t) => {
  const controller = new AbortController();
  const progress = [];
  const run = evaluate({
    model,
    data: dataDir(),
    ...CLIPS,
    batchSize: 1,
    signal: controller.signal,
    onProgress: (p) => {
      progress.push(p);
      if (progress.length === 2) controller.abort();
    },
  });
  await t.rejects(run, { name: 'AbortError' });
  t.equal(progress.length, 2, 'stopped within one batch of the abort');
  t.match(progress[1], { clipsDone: 2, clipsTotal: VIDEOS.length * CLIPS.clipsPerVideo });
  await t.rejects(evaluate({ model: 3, data: dataDir() }), {
    name: 'TypeError',
    message: /expected options.model to be a Model, a Batcher or the path of an export/,
  });
  await t.rejects(evaluate({ model, data: dataDir(), batchSize: 0 }), { name: 'RangeError', message: /options.batchSize/ });
  await t.rejects(evaluate({ model, data: dataDir(), crops: 2 }), {
    name: 'RangeError',
    message: /expected options.crops to be 1 or 3, got number 2/,
  });
  await t.rejects(evaluate({ model, data: dataDir(), crops: 4 }), { name: 'RangeError', message: /options.crops/ });
  await t.rejects(evaluate({ model, data: dataDir(), preprocessOn: 'gpu' }), {
    name: 'RangeError',
    message: /expected options.preprocessOn to be 'host' or 'device'/,
  });
  await t.rejects(evaluate({ model, data: dataDir(), decodeThreads: 0 }), { name: 'RangeError', message: /options.decodeThreads/ });
  await t.rejects(evaluate({ model, data: dataDir(), threadsPerVideo: -1 }), { name: 'RangeError', message: /options.threadsPerVideo/ });
  await t.rejects(evaluate({ model, data: dataDir(), shortVideos: 'drop' }), { name: 'RangeError', message: /options.shortVideos/ });
  await t.rejects(evaluate({ model, data: dataDir(), shard: { index: 3, count: 3 } }), {
    name: 'RangeError',
    message: /options.shard index/,
  });
  await t.rejects(evaluate({ model, data: dataDir(), resume: true }), {
    name: 'RangeError',
    message: /expected options.outDir with options.resume/,
  });
  await t.rejects(evaluate({ model, data: dataDir(), shard: 'env' }), {
    name: 'RangeError',
    message: /shard 'env' needs SLURM_ARRAY_TASK_ID/,
  });
});
