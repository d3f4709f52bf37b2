'use strict';
// evaluate() as a job: its output folder (`outDir`, `out` its deprecated name) is held by one job at a
// time (a second is refused naming the first; a dead job's lock is taken over); a folder that cannot be
// written is a TorchVideoError; predictions stream through onVideo; a model given by path gets loadModel's
// options; only a video's own errors are per-video failures, anything else on the decode side ends the job.
const { execFileSync, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const t = require('tap');
const { loadModel, loadDataset, evaluate, TorchVideoError } = require('..');
const { fixture } = require('./helpers/fixtures');
const { modelPath, tempDir } = require('./helpers/paths');
const { maxAbsDiff } = require('./helpers/numbers');

// Short clips of three small videos: each evaluation is a few forwards of mc3_18.
const CLIPS = { clipsPerVideo: 1, clipLength: 4, batchSize: 2 };
const LOCK = '.torchvideo.lock';

let model;
let data;
const root = tempDir('torchvideo-eval-job-');
t.teardown(() => {
  model?.dispose();
  fs.rmSync(root, { recursive: true, force: true });
});

t.before(async () => {
  model = await loadModel(modelPath('mc3_18'));
  data = path.join(root, 'set');
  for (const [i, video] of ['h264.mp4', 'xvid.avi', 'vp9.webm'].entries()) {
    const dir = path.join(data, model.info.labels[i % 2]);
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(fixture(video), path.join(dir, video));
  }
});

// DeprecationWarnings emitted while `run` runs (they are emitted on a later tick).
async function warningsDuring(run) {
  const seen = [];
  const listener = (warning) => seen.push(warning);
  process.on('warning', listener);
  try {
    await run();
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.removeListener('warning', listener);
  }
  return seen.filter((w) => w.name === 'DeprecationWarning');
}

t.test('onVideo streams each video once, with the entries the report holds', async (t) => {
  const outDir = path.join(root, 'streamed');
  const streamed = [];
  const report = await evaluate({ model, data, ...CLIPS, outDir, onVideo: (prediction) => streamed.push(prediction) });
  t.equal(streamed.length, 3, 'once per video');
  t.same(
    [...streamed].sort((a, b) => (a.path < b.path ? -1 : 1)),
    report.predictions,
    'the same entries as report.predictions',
  );
  t.ok(fs.existsSync(path.join(outDir, 'report.json')), 'report.json in outDir');
  t.notOk(fs.existsSync(path.join(outDir, LOCK)), 'the folder is given back at the end');
  // A resumed job streams the videos its journal already had, too.
  const resumed = [];
  await evaluate({ model, data, ...CLIPS, outDir, resume: true, onVideo: (prediction) => resumed.push(prediction.path) });
  t.same(resumed.sort(), report.predictions.map((p) => p.path).sort(), 'a resumed job streams every video once');
  await t.rejects(evaluate({ model, data, ...CLIPS, onVideo: 'print' }), { name: 'TypeError', message: /options.onVideo/ });
});

t.test("`out` is outDir's deprecated name; distributedTimeoutMs is timeoutMs'", async (t) => {
  const out = path.join(root, 'old-name');
  const warnings = await warningsDuring(() => evaluate({ model, data, ...CLIPS, out }));
  t.ok(fs.existsSync(path.join(out, 'report.json')), '`out` still names the folder');
  t.same(
    warnings.map((w) => w.code),
    ['TORCHVIDEO_DEP_EVALUATE_OUT'],
    'one DeprecationWarning, with its code',
  );
  t.match(warnings[0].message, 'options.out is deprecated: use options.outDir');
  const again = await warningsDuring(() => evaluate({ model, data, ...CLIPS, out }));
  t.same(again, [], 'warned once per process');
  await t.rejects(evaluate({ model, data, ...CLIPS, out, outDir: path.join(root, 'elsewhere') }), {
    name: 'RangeError',
    message: 'expected options.outDir or its old name options.out, not both with different values',
  });
  const timeouts = await warningsDuring(() =>
    t.rejects(evaluate({ model, data, distributedTimeoutMs: 0 }), { name: 'RangeError', message: /options.timeoutMs/ }),
  );
  t.same(
    timeouts.map((w) => w.code),
    ['TORCHVIDEO_DEP_DISTRIBUTED_TIMEOUT'],
  );
  await t.rejects(evaluate({ model, data, timeoutMs: 0 }), { name: 'RangeError', message: /options.timeoutMs/ });
});

t.test('a second job on the same outDir is refused, naming the first', async (t) => {
  const outDir = path.join(root, 'shared-folder');
  const first = evaluate({ model, data, ...CLIPS, outDir });
  // The folder is taken before evaluate() first yields.
  const holder = JSON.parse(fs.readFileSync(path.join(outDir, LOCK), 'utf8'));
  t.match(holder, { pid: process.pid, host: os.hostname(), started: /^\d{4}-\d\d-\d\dT/ }, 'the lock names its holder');
  await t.rejects(evaluate({ model: modelPath('mc3_18'), data, ...CLIPS, outDir }), {
    name: 'TorchVideoError',
    code: 'ERR_CHECKPOINT',
    message: new RegExp(
      `outDir '.*shared-folder' is in use by another job: evaluate of 'a loaded model' \\(pid ${process.pid} on host '${os.hostname()}', started ${holder.started}\\)`,
    ),
  });
  const report = await first;
  t.equal(report.videos, 3, 'the first job is undisturbed');
  t.notOk(fs.existsSync(path.join(outDir, LOCK)), 'and gives the folder back');
  const next = await evaluate({ model, data, ...CLIPS, outDir });
  t.equal(next.videos, 3, 'the folder is free for the next job');
});

t.test("a dead job's lock is taken over; another host's or an unreadable one is refused", async (t) => {
  const outDir = path.join(root, 'stale');
  fs.mkdirSync(outDir);
  // The pid of a process that has ended.
  const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
  const lock = path.join(outDir, LOCK);
  const stale = { pid: dead, host: os.hostname(), started: '2026-01-01T00:00:00.000Z', job: 'evaluate of x', token: 'abc' };
  fs.writeFileSync(lock, JSON.stringify(stale));
  const report = await evaluate({ model, data, ...CLIPS, outDir });
  t.equal(report.videos, 3, 'the job ran');
  t.notOk(fs.existsSync(lock), 'and removed the lock it took over');

  fs.writeFileSync(lock, JSON.stringify({ ...stale, host: 'node-17.cluster' }));
  await t.rejects(evaluate({ model, data, ...CLIPS, outDir }), {
    code: 'ERR_CHECKPOINT',
    message: new RegExp(
      `in use by another job: evaluate of x \\(pid ${dead} on host 'node-17.cluster'.*remove '.*stale/\\.torchvideo\\.lock'`,
    ),
  });
  t.ok(fs.existsSync(lock), "another host's lock stays (its pid cannot be checked from here)");
  fs.writeFileSync(lock, 'garbage');
  await t.rejects(evaluate({ model, data, ...CLIPS, outDir }), {
    code: 'ERR_CHECKPOINT',
    message: /outDir '.*stale' is locked by '.*\.torchvideo\.lock', which does not name a torchvideo job/,
  });
});

t.test('an outDir that cannot be written is a TorchVideoError', async (t) => {
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, '');
  await t.rejects(evaluate({ model, data, ...CLIPS, outDir: path.join(file, 'out') }), {
    name: 'TorchVideoError',
    code: 'ERR_CHECKPOINT',
    message: /cannot write to outDir '.*a-file\/out': ENOTDIR/,
  });
});

t.test('a model path gets loadModel options: precision bf16 evaluates in bf16', async (t) => {
  const fp32 = await evaluate({ model: modelPath('mc3_18'), data, ...CLIPS });
  t.equal(fp32.model.precision, 'fp32');
  const bf16 = await evaluate({ model: modelPath('mc3_18'), data, ...CLIPS, precision: 'bf16', threads: 1 });
  t.equal(bf16.model.precision, 'bf16', 'the report names the precision it ran in');
  // The same probabilities as the network loaded in bf16 by loadModel itself.
  const loaded = await loadModel(modelPath('mc3_18'), { precision: 'bf16', threads: 1 });
  t.teardown(() => loaded.dispose());
  const reference = await evaluate({ model: loaded, data, ...CLIPS });
  bf16.predictions.forEach((p, i) => {
    t.ok(maxAbsDiff(p.probs, reference.predictions[i].probs) <= 1e-6, `${path.basename(p.path)}: loadModel's bf16 network`);
  });
  const fromFp32 = Math.max(...bf16.predictions.map((p, i) => maxAbsDiff(p.probs, fp32.predictions[i].probs)));
  t.ok(fromFp32 > 0, `not the fp32 network (max diff ${fromFp32.toExponential(1)})`);
  await t.rejects(evaluate({ model, data, precision: 'bf16' }), {
    name: 'RangeError',
    message: 'expected options.precision only with a model given by path: a loaded Model keeps the options it was loaded with',
  });
});

// A Dataset is the caller's object: an entry whose decode fails with something other than a video's
// own error injects a failure on the decode side (evaluate reads `info.frameIndex` when it opens a video).
function withDecodeError(dataset, index, error) {
  const videos = dataset.videos.map((video, i) => {
    if (i !== index) return video;
    const info = { ...video.info };
    Object.defineProperty(info, 'frameIndex', {
      get() {
        throw error;
      },
    });
    return { ...video, info };
  });
  return { ...dataset, videos };
}

t.test("only a video's own errors are per-video failures: anything else on the decode side ends the job", async (t) => {
  const dataset = await loadDataset(data);
  await t.rejects(
    evaluate({ model, data: withDecodeError(dataset, 1, new TorchVideoError('injected native failure', 'ERR_NATIVE')), ...CLIPS }),
    {
      name: 'TorchVideoError',
      code: 'ERR_NATIVE',
      message: 'injected native failure',
    },
  );
  await t.rejects(
    evaluate({ model, data: withDecodeError(dataset, 0, new TorchVideoError('model is disposed', 'ERR_DISPOSED')), ...CLIPS }),
    {
      code: 'ERR_DISPOSED',
    },
  );
  await t.rejects(evaluate({ model, data: withDecodeError(dataset, 2, new TypeError('a bug')), ...CLIPS, batchSize: 1, prefetch: 4 }), {
    name: 'TypeError',
    message: 'a bug',
  });
  // The job can run again at once: nothing of the failed one is left holding the decoders.
  const outDir = path.join(root, 'after-failure');
  await t.rejects(
    evaluate({ model, data: withDecodeError(dataset, 1, new RangeError('Array buffer allocation failed')), ...CLIPS, outDir }),
    {
      message: 'Array buffer allocation failed',
    },
  );
  t.notOk(fs.existsSync(path.join(outDir, LOCK)), 'a failed job gives its folder back');

  // A video's own problem stays that video's failure; the others are scored.
  const own = new TorchVideoError('cannot decode the video: invalid data', 'ERR_VIDEO_DECODE');
  const report = await evaluate({ model, data: withDecodeError(dataset, 1, own), ...CLIPS });
  t.equal(report.videos, 2, 'the other videos are scored');
  t.same(report.failed, [{ path: dataset.videos[1].path, error: 'cannot decode the video: invalid data (ERR_VIDEO_DECODE)' }]);
});

t.test('indexDir is where evaluate keeps the dataset index', async (t) => {
  const indexDir = path.join(root, 'indexes');
  await evaluate({ model, data, ...CLIPS, indexDir });
  t.same(fs.readdirSync(indexDir).filter((name) => name.endsWith('.index.json')).length, 1, "the dataset's index is in indexDir");
});

t.test('--index-dir on the evaluate and finetune commands', async (t) => {
  const cli = path.join(__dirname, '..', 'dist', 'cli.js');
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const forEvaluate = path.join(root, 'cli-indexes');
  const evaluated = run('evaluate', '--model', modelPath('mc3_18'), '--data', data, '--clips', '1', '--index-dir', forEvaluate, '--json');
  t.equal(evaluated.status, 0, evaluated.stderr);
  t.equal(fs.readdirSync(forEvaluate).filter((name) => name.endsWith('.index.json')).length, 1, 'evaluate indexed into --index-dir');

  // finetune indexes both sets before it trains: a training set without one whole clip stops it right after.
  const short = path.join(root, 'short-set');
  for (const label of ['a', 'b']) {
    fs.mkdirSync(path.join(short, label), { recursive: true });
    fs.copyFileSync(fixture('five-frames.mp4'), path.join(short, label, 'five.mp4'));
  }
  const forFinetune = path.join(root, 'cli-finetune-indexes');
  const out = path.join(root, 'cli-finetune-out');
  const tuned = run('finetune', '--model', modelPath('mc3_18'), '--train', short, '--val', data, '--out', out, '--index-dir', forFinetune);
  t.match(tuned.stderr, /the training set has no clip of 16 frames/);
  t.equal(
    fs.readdirSync(forFinetune).filter((name) => name.endsWith('.index.json')).length,
    2,
    'finetune indexed both sets into --index-dir',
  );
  t.notOk(fs.existsSync(path.join(out, '.torchvideo.lock')), 'a failed run gives its folder back');
});

t.test('a job that fails before its first batch still writes what it journaled and releases its folder', async (t) => {
  // The set sorts the short video (skipped) before one whose label the model lacks (ERR_DATASET): the
  // skip is journaled first, then the job fails while it builds its jobs, before any batch runs.
  const set = path.join(root, 'fails-early');
  fs.mkdirSync(path.join(set, model.info.labels[0]), { recursive: true });
  fs.mkdirSync(path.join(set, 'zzz-not-a-class'), { recursive: true });
  fs.copyFileSync(fixture('five-frames.mp4'), path.join(set, model.info.labels[0], 'five.mp4'));
  fs.copyFileSync(fixture('h264.mp4'), path.join(set, 'zzz-not-a-class', 'h264.mp4'));
  const out = path.join(root, 'fails-early-out');
  await t.rejects(
    evaluate({
      model,
      data: set,
      outDir: out,
      clipsPerVideo: 1,
      clipLength: 16,
      batchSize: 2,
      shortVideos: 'skip',
      indexDir: path.join(root, 'idx'),
    }),
    { code: 'ERR_DATASET', message: /label 'zzz-not-a-class' is not a class of the model/ },
  );
  const lines = fs
    .readFileSync(path.join(out, 'predictions.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.same(
    lines.filter((l) => l.skipped),
    [{ path: path.join(set, model.info.labels[0], 'five.mp4'), skipped: true }],
    'the skip journaled before the failure is in predictions.jsonl',
  );
  t.notOk(fs.existsSync(path.join(out, LOCK)), 'the folder is released');
});
