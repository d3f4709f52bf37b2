'use strict';
// fineTune end to end on moving shapes (the class is the direction a square moves, so no single frame
// tells it): from random weights to >= 90% validation video accuracy; a run killed with SIGKILL mid-epoch
// and resumed ends bit-identical (every parameter and buffer, compared by PyTorch) to one never
// interrupted; bad inputs are named.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const t = require('tap');
const { fineTune, loadModel, classifyVideo } = require('..');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { PYTHON } = require('./helpers/python-reference');
const { makeMovingShapes, shapesStartingExport } = require(path.join(ROOT, 'dist', 'internal.js'));

const root = tempDir('torchvideo-finetune-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

// A starting export with the toy set's preprocessing: 8 frames at 15 fps, 64x64 frames cropped to 56.
function toyExport(arch) {
  const file = path.join(root, `${arch}-toy.pt`);
  return fs.existsSync(file) ? file : shapesStartingExport(modelPath(arch), file);
}

function shapes(name, options) {
  const dir = path.join(root, name);
  if (!fs.existsSync(dir)) makeMovingShapes(dir, options);
  return dir;
}

// No flips: a flip turns motion to the right into motion to the left.
const TOY = { clipLength: 8, frameRate: 15, warmupEpochs: 0, milestones: [100], seed: 3, hflipProb: 0 };

t.test('learns the direction of motion from random weights: val video acc@1 >= 0.9', async (t) => {
  const outDir = path.join(root, 'learn');
  const result = await fineTune({
    ...TOY,
    model: toyExport('r3d_18'),
    train: shapes('train', { videosPerClass: 12, seed: 1 }),
    val: shapes('val', { videosPerClass: 6, seed: 2 }),
    outDir,
    epochs: 3,
    batchSize: 8,
    lr: 0.005,
    clipsPerVideo: 2,
  });
  for (const h of result.history) {
    t.comment(
      `epoch ${h.epoch}: loss ${h.trainLoss.toFixed(3)}, train acc ${h.trainAcc1.toFixed(2)}, val clip ${h.valClipAcc1.toFixed(2)}, val video ${h.valVideoAcc1.toFixed(2)}`,
    );
  }
  t.equal(result.history.length, 3, 'one history entry per epoch');
  t.ok(result.best.valVideoAcc1 >= 0.9, `best val video acc@1 ${result.best.valVideoAcc1}`);
  t.ok(result.history.at(-1).trainLoss < result.history[0].trainLoss, 'the training loss fell');
  for (const file of ['model.pt', 'model.json', 'best.pt', 'best.json', 'history.jsonl', 'curves.svg', 'checkpoint.json']) {
    t.ok(fs.existsSync(path.join(outDir, file)), `${file} in outDir`);
  }
  t.equal(fs.readFileSync(path.join(outDir, 'history.jsonl'), 'utf8').trim().split('\n').length, 3, 'history.jsonl: a line per epoch');
  t.match(fs.readFileSync(path.join(outDir, 'curves.svg'), 'utf8'), /<svg[^>]*>[\s\S]*Training loss[\s\S]*Learning rate/, 'curves drawn');
  t.equal(fs.readdirSync(outDir).filter((f) => /^checkpoint-\d+\.pt$/.test(f)).length, 1, 'one trainer checkpoint kept');

  // The best export is a classifier the rest of the library loads, with the training set's classes.
  const model = await loadModel(path.join(outDir, 'best.pt'));
  t.teardown(() => model.dispose());
  t.same(model.info.labels, ['down', 'left', 'right', 'up']);
  const held = shapes('held-out', { videosPerClass: 1, seed: 9 });
  const { top } = await classifyVideo(model, path.join(held, 'right', '000.mp4'), { clipsPerVideo: 2 });
  t.equal(top.length, 4, 'classifyVideo runs on the fine-tuned export');
});

// A small run for the kill test: 12 videos, batch 4, 2 epochs of 6 steps, a checkpoint every 2 steps.
const SMALL = { ...TOY, epochs: 2, batchSize: 4, lr: 0.005, clipsPerVideo: 2, checkpointEvery: 2 };

function runScript(outDir, resume) {
  return `
    const { fineTune } = require(${JSON.stringify(ROOT)});
    fineTune({ ...${JSON.stringify(SMALL)}, model: ${JSON.stringify(toyExport('mc3_18'))}, train: ${JSON.stringify(shapes('small-train', { videosPerClass: 3, seed: 4 }))},
      val: ${JSON.stringify(shapes('small-val', { videosPerClass: 1, seed: 5 }))}, outDir: ${JSON.stringify(outDir)}, resume: ${resume}, threads: 1 })
      .then(() => console.log('done'), (e) => { console.error(e); process.exit(1); });`;
}

t.test('killed with SIGKILL mid-epoch and resumed: bit-identical to an uninterrupted run', async (t) => {
  const straight = path.join(root, 'straight');
  const killed = path.join(root, 'killed');
  execFileSync(process.execPath, ['-e', runScript(straight, false)], { stdio: ['ignore', 'pipe', 'inherit'] });

  const child = spawn(process.execPath, ['-e', runScript(killed, false)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal)));
  // Kill once a mid-epoch checkpoint is complete (epoch 0, batch 2 of 6).
  const state = path.join(killed, 'checkpoint.json');
  let position;
  while (child.exitCode === null) {
    try {
      position = JSON.parse(fs.readFileSync(state, 'utf8'));
      if (position.iteration >= 2) break;
    } catch {
      // not there yet, or being replaced
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  child.kill('SIGKILL');
  t.equal(await exited, 'SIGKILL', 'the run was killed');
  t.ok(
    position && position.epoch === 0 && position.batch >= 2 && position.batch < 6,
    `killed mid-epoch (epoch ${position?.epoch}, batch ${position?.batch})`,
  );

  execFileSync(process.execPath, ['-e', runScript(killed, true)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const compared = JSON.parse(
    execFileSync(
      PYTHON,
      [path.join(ROOT, 'test', 'py', 'compare_exports.py'), path.join(straight, 'model.pt'), path.join(killed, 'model.pt')],
      {
        encoding: 'utf8',
      },
    ),
  );
  const names = [...Object.entries(compared.parameters), ...Object.entries(compared.buffers)];
  t.ok(names.length > 100, `${names.length} parameters and buffers compared`);
  t.same(
    names.filter(([, equal]) => !equal).map(([name]) => name),
    [],
    'every parameter and buffer bit-identical',
  );
  const history = (dir) => fs.readFileSync(path.join(dir, 'history.jsonl'), 'utf8');
  t.equal(history(killed), history(straight), 'the same history (losses, accuracies, rates)');
});

t.test('bad inputs are named', async (t) => {
  const base = { ...SMALL, model: toyExport('mc3_18'), train: shapes('small-train', {}), val: shapes('small-val', {}) };
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, '');
  await t.rejects(fineTune({ ...base, outDir: path.join(file, 'out') }), { message: /cannot write to outDir '.*a-file\/out'/ });
  await t.rejects(fineTune({ ...base, outDir: path.join(root, 'x'), epochs: 0 }), { name: 'RangeError', message: /options.epochs/ });
  await t.rejects(fineTune({ ...base, outDir: path.join(root, 'x'), numClasses: 0 }), {
    name: 'RangeError',
    message: /options.numClasses/,
  });
  await t.rejects(fineTune({ ...base, outDir: path.join(root, 'x'), lr: -1 }), { name: 'RangeError', message: /options.lr/ });
  await t.rejects(fineTune({ ...base, outDir: undefined }), { name: 'TypeError', message: /options.outDir/ });
  await t.rejects(fineTune({ ...base, outDir: path.join(root, 'x'), numClasses: 2 }), {
    code: 'ERR_DATASET',
    message: /label '\w+' is not one of the 2 classes trained/,
  });

  const foreign = path.join(root, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'checkpoint.json'), '{"hello": 1}');
  await t.rejects(fineTune({ ...base, outDir: foreign, resume: true }), {
    code: 'ERR_CHECKPOINT',
    message: /cannot resume from '.*foreign\/checkpoint.json': it is not a torchvideo fine-tuning state/,
  });
  fs.writeFileSync(path.join(foreign, 'checkpoint.json'), '{"format": "torchvideo-fine');
  await t.rejects(fineTune({ ...base, outDir: foreign, resume: true }), {
    code: 'ERR_CHECKPOINT',
    message: /not a readable fine-tuning state/,
  });

  // A resume must keep the run's options: a one-step run of its own leaves the state to resume.
  const finished = path.join(root, 'one-step');
  const tiny = shapes('resume-set', { videosPerClass: 1, seed: 6 });
  await fineTune({ ...base, train: tiny, val: tiny, outDir: finished, epochs: 1, clipsPerVideo: 1, threads: 1 });
  t.ok(fs.existsSync(path.join(finished, 'checkpoint.json')), 'the one-step run left a state to resume');
  await t.rejects(
    fineTune({ ...base, train: tiny, val: tiny, outDir: finished, epochs: 1, clipsPerVideo: 1, threads: 1, resume: true, batchSize: 2 }),
    {
      name: 'RangeError',
      message: /cannot resume the run in '.*one-step' with other options: batchSize was 4, now 2/,
    },
  );
});

// A run of one epoch on 8 short videos, for the job-folder tests below.
const TINY = { ...TOY, epochs: 1, batchSize: 4, lr: 0.005, clipsPerVideo: 1 };
const tinyJob = () => ({
  ...TINY,
  model: toyExport('mc3_18'),
  train: shapes('tiny-train', { videosPerClass: 2, seed: 11 }),
  val: shapes('tiny-val', { videosPerClass: 1, seed: 12 }),
});

const tinyOut = path.join(root, 'tiny');

t.test("job folder: one job per outDir (a dead job's lock taken over), onEpoch after each checkpointed epoch", async (t) => {
  const outDir = tinyOut;
  const lock = path.join(outDir, '.torchvideo.lock');
  // A lock left by a job that was killed: the pid of a process that has ended, on this host.
  const dead = Number(execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }));
  fs.mkdirSync(outDir);
  fs.writeFileSync(
    lock,
    JSON.stringify({ pid: dead, host: os.hostname(), started: '2026-01-01T00:00:00.000Z', job: 'fineTune', token: 'x' }),
  );
  const epochs = [];
  let second;
  const result = await fineTune({
    ...tinyJob(),
    outDir,
    onProgress: () => {
      // A second job on the folder while the first trains.
      if (second) return;
      second = fineTune({ ...tinyJob(), outDir });
      second.catch(() => {}); // checked below, once the first job has ended
    },
    onEpoch: (entry) => {
      const state = JSON.parse(fs.readFileSync(path.join(outDir, 'checkpoint.json'), 'utf8'));
      epochs.push({ entry, checkpointedEpoch: state.epoch });
    },
  });
  await t.rejects(second, {
    name: 'TorchVideoError',
    code: 'ERR_CHECKPOINT',
    message: new RegExp(
      `outDir '.*tiny' is in use by another job: fineTune of '.*mc3_18-toy.pt' \\(pid ${process.pid} on host '${os.hostname()}'`,
    ),
  });
  t.notOk(fs.existsSync(lock), 'the lock is gone at the end');
  t.same(
    epochs.map((e) => e.entry),
    result.history,
    "onEpoch: once per epoch, with the history's entry",
  );
  t.equal(epochs[0]?.checkpointedEpoch, 1, 'the epoch is checkpointed when onEpoch hears of it');
  await t.rejects(fineTune({ ...tinyJob(), outDir, onEpoch: 1 }), { name: 'TypeError', message: /options.onEpoch/ });
  await t.rejects(fineTune({ ...tinyJob(), outDir, timeoutMs: 0 }), { name: 'RangeError', message: /options.timeoutMs/ });
});

t.test('job folder: an outDir that cannot be written is a TorchVideoError', async (t) => {
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, '');
  await t.rejects(fineTune({ ...tinyJob(), outDir: path.join(file, 'out') }), {
    name: 'TorchVideoError',
    code: 'ERR_CHECKPOINT',
    message: /cannot write to outDir '.*a-file\/out': ENOTDIR/,
  });
});

// checkpoint.json names its checkpoint, which a resume reads and later deletes: only a file of outDir.
t.test('job folder: checkpoint.json naming a file outside outDir is refused', async (t) => {
  const outDir = tinyOut;
  const stateFile = path.join(outDir, 'checkpoint.json');
  const state = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  const other = path.join(root, 'other-run');
  fs.mkdirSync(other);
  fs.renameSync(path.join(outDir, state.checkpoint), path.join(other, state.checkpoint));
  for (const name of [`../other-run/${state.checkpoint}`, path.join(other, state.checkpoint)]) {
    fs.writeFileSync(stateFile, JSON.stringify({ ...state, checkpoint: name }));
    await t.rejects(fineTune({ ...tinyJob(), outDir, resume: true }), {
      name: 'TorchVideoError',
      code: 'ERR_CHECKPOINT',
      message: `cannot resume from '${stateFile}': it names the checkpoint ${JSON.stringify(name)}, which is not a file name inside outDir '${outDir}'`,
    });
    t.ok(fs.existsSync(path.join(other, state.checkpoint)), `${name}: the other run's checkpoint is untouched`);
  }
});
