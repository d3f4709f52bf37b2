'use strict';
// npx torchvideo finetune: a tiny run end to end on a moving-shapes set (its outputs in --out), Ctrl-C stops
// it resumably with exit 130 (SIGTERM 143) and --resume ends where the uninterrupted run did, bad flags say why before any
// work. mc3_18 at 8x56x56 trains at a few clips/s on 2 cores: each run is 6 steps of 4 clips.
const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const t = require('tap');
const { ROOT, tempDir } = require('./helpers/paths');
const { movingShapesJob } = require('./helpers/training');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const run = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

const root = tempDir('torchvideo-cli-finetune-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
// mc3_18's export, unchanged (its sha256 still holds), with a sidecar for small clips.
const { train, val, model } = movingShapesJob(root);

// 12 videos x 2 clips = 6 batches of 4.
const job = ['--model', model, '--train', train, '--val', val, '--epochs', '1', '--batch', '4', '--clip-length', '8'];
// No flips: a mirrored clip of a square moving left is one moving right.
job.push('--clips', '2', '--warmup-epochs', '0', '--seed', '1', '--hflip-prob', '0');
const OUTPUTS = ['model.pt', 'model.json', 'best.pt', 'best.json', 'history.jsonl', 'curves.svg', 'checkpoint.json'];
const historyOf = (out) => fs.readFileSync(path.join(out, 'history.jsonl'), 'utf8').split('\n').filter(Boolean);

t.test('a tiny fine-tuning run writes its outputs and reports them', async (t) => {
  const out = path.join(root, 'whole');
  const result = run('finetune', ...job, '--out', out, '--json');
  t.equal(result.status, 0, result.stderr);
  for (const name of OUTPUTS) t.ok(fs.existsSync(path.join(out, name)), `${name} in --out`);
  const history = historyOf(out);
  t.equal(history.length, 1, 'history.jsonl: one line per epoch');
  const entry = JSON.parse(history[0]);
  t.equal(entry.epoch, 0);
  t.ok(Number.isFinite(entry.trainLoss) && entry.trainLoss > 0, 'a training loss');
  t.equal(entry.lr, 0.01, 'no warm-up: the base rate');
  const summary = JSON.parse(result.stdout);
  t.same(summary.history, [entry], 'the same history on stdout');
  t.equal(summary.files.model, path.join(out, 'model.pt'));
  t.equal(summary.files.best, path.join(out, 'best.pt'));
  t.equal(summary.best.epoch, 0);
  const exported = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
  t.same(exported.labels, ['down', 'left', 'right', 'up'], "the export's classes are the training set's");
  t.same(exported.crop_size, [56, 56], 'and its preprocessing the starting sidecar');
  t.match(fs.readFileSync(path.join(out, 'curves.svg'), 'utf8'), /<svg/);
});

// Runs the job in `out` and sends `signal` once checkpoint.json is past `iteration`; checks the exit code
// (128 + the signal's number, as for a process the signal ended) and returns checkpoint.json.
const EXIT_CODES = { SIGINT: 130, SIGTERM: 143 };
async function interruptAfter(t, out, iteration, signal, extra = []) {
  const child = spawn(process.execPath, [CLI, 'finetune', ...job, '--out', out, '--checkpoint-every', '2', ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const timer = setInterval(() => {
    try {
      if (JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).iteration >= iteration) {
        clearInterval(timer);
        child.kill(signal);
      }
    } catch {
      // not written yet, or being replaced
    }
  }, 50);
  const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(timer);
  t.equal(code, EXIT_CODES[signal], `${signal}: exit code ${EXIT_CODES[signal]}`);
  t.match(stderr, `interrupted; continue from the last checkpoint with --resume --out ${out}`, `${signal}: how to continue`);
  return JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8'));
}

t.test('Ctrl-C and SIGTERM stop with exit 130 and 143 after a checkpoint, and --resume ends as the uninterrupted run', async (t) => {
  const out = path.join(root, 'interrupted');
  // The checkpoint after step 2 is named in checkpoint.json: steps 3 to 6 are still to come.
  const first = await interruptAfter(t, out, 2, 'SIGINT');
  t.ok(first.iteration >= 2 && first.iteration < 6, `SIGINT: stopped mid-epoch (after step ${first.iteration})`);
  t.ok(fs.existsSync(path.join(out, first.checkpoint)), 'the checkpoint it names is there');
  t.notOk(fs.existsSync(path.join(out, 'history.jsonl')), 'no epoch finished');
  // Resumed, then stopped again (by a service manager's SIGTERM) two steps later.
  const second = await interruptAfter(t, out, first.iteration + 1, 'SIGTERM', ['--resume']);
  t.ok(second.iteration > first.iteration && second.iteration < 6, `SIGTERM: stopped after step ${second.iteration}`);
  t.equal(fs.readdirSync(out).filter((name) => /^checkpoint-\d+\.pt$/.test(name)).length, 1, 'one checkpoint file kept');

  const resumed = run('finetune', ...job, '--out', out, '--resume');
  t.equal(resumed.status, 0, resumed.stderr);
  t.match(
    resumed.stdout,
    /^epoch 1\/1 {2}train loss \d+\.\d{4} {2}train acc@1 \d+\.\d\d% {2}val clip acc@1 \d+\.\d\d% {2}val video acc@1 \d+\.\d\d% {2}lr 0\.01$/m,
  );
  t.match(
    resumed.stdout,
    new RegExp(`^best +${path.join(out, 'best.pt').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(\\+ best\\.json\\): epoch 1`, 'm'),
  );
  t.match(resumed.stdout, /^history +.*history\.jsonl$/m);
  t.match(resumed.stdout, /^curves +.*curves\.svg$/m);
  for (const name of OUTPUTS) t.ok(fs.existsSync(path.join(out, name)), `${name} in --out`);
  // fineTune resumes bit for bit on the CPU with a seed: the epoch's numbers are the uninterrupted run's.
  t.same(historyOf(out), historyOf(path.join(root, 'whole')), 'history.jsonl identical to the uninterrupted run');
});

t.test('bad command lines fail before any work, naming the flag', async (t) => {
  const out = path.join(root, 'never');
  const without = (flag) => {
    const args = [...job, '--out', out];
    args.splice(args.indexOf(flag), 2);
    return args;
  };
  for (const [args, message] of [
    [without('--model'), /expected --model MODEL\.pt/],
    [without('--train'), /expected --train DIR\|list/],
    [without('--val'), /expected --val DIR\|list/],
    [[...job], /expected --out DIR/],
    [[...job, '--out', out, '--epochs', '0'], /expected --epochs to be a positive integer, got '0'/],
    [[...job, '--out', out, '--lr', '-1'], /expected --lr to be a finite number >= 0, got '-1'/],
    [[...job, '--out', out, '--batch', 'x'], /expected --batch to be a positive integer, got 'x'/],
    [[...job, '--out', out, '--frame-rate', '0'], /expected --frame-rate to be a positive number, got '0'/],
    [[...job, '--out', out, '--warmup-epochs', '1.5'], /expected --warmup-epochs to be an integer >= 0, got '1\.5'/],
    [[...job, '--out', out, '--hflip-prob', '2'], /expected --hflip-prob to be a probability in \[0, 1\], got '2'/],
    [[...job, '--out', out, '--device', 'gpu'], /expected --device to be cpu, cuda or cuda:N, got 'gpu'/],
    [[...job, '--out', out, '--amp'], /expected --amp to be used with --device cuda/],
    [[...job, '--out', out, '--learning-rate', '0.1'], /Unknown option '--learning-rate'/],
    [[...job, '--out', out, 'extra'], /unexpected argument 'extra'/],
  ]) {
    const result = run('finetune', ...args);
    t.equal(result.status, 2, `${message}: exit 2`);
    t.match(result.stderr, message);
  }
  const missing = run('finetune', ...job, '--model', path.join(root, 'nope.pt'), '--out', out);
  t.equal(missing.status, 1, 'a missing file: exit 1');
  t.match(missing.stderr, /--model: no such file or folder .*nope\.pt.*ERR_FILE_NOT_FOUND/);
  t.notOk(fs.existsSync(out), 'nothing was written');
});
