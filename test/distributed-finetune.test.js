'use strict';
// `torchvideo finetune --distributed` over 2 ranks on 127.0.0.1 (Gloo): with a frozen backbone it trains
// what 1 process does at twice the batch; rank 0 writes the run's files; a rank killed with SIGKILL ends
// the other with ERR_DISTRIBUTED naming it, and a relaunch as torchrun restarts it
// (TORCHELASTIC_RESTART_COUNT=1) resumes from the checkpoint and ends bit-identical to a run never
// stopped; torchrun itself (its agent hosting the store) launches the job.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { ProcessGroup } = require('../dist/internal.js');
const { ROOT, tempDir } = require('./helpers/paths');
const { compareExports, movingShapesJob } = require('./helpers/training');
const { freePort, startRanks } = require('./helpers/distributed');
const { requirePrerequisite } = require('./helpers/prerequisites');

const glooBuilt = ProcessGroup.backends.includes('gloo');
if (!requirePrerequisite(t, glooBuilt, 'this build has no c10d Gloo (libgloo-dev was missing when it was built)')) process.exit(0);

const CLI = path.join(ROOT, 'dist', 'cli.js');
const root = tempDir('torchvideo-distributed-finetune-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
// mc3_18's export, unchanged (its sha256 still holds), with a sidecar for small clips.
const { train, val, model } = movingShapesJob(root);

// 12 videos x 2 clips = 24 clips an epoch: 6 steps of 4 clips, or 6 steps of 2 clips on each of 2 ranks.
const job = ['--model', model, '--train', train, '--val', val, '--epochs', '1', '--clip-length', '8', '--clips', '2'];
job.push('--warmup-epochs', '0', '--seed', '1', '--hflip-prob', '0', '--freeze-backbone', '--lr', '0.5', '--json');
const historyOf = (out) => fs.readFileSync(path.join(out, 'history.jsonl'), 'utf8').split('\n').filter(Boolean).map(JSON.parse);

async function launch(out, { world = 2, env = {}, extra = [], port } = {}) {
  const args = [CLI, 'finetune', ...job, '--batch', String(4 / world), '--out', out, '--checkpoint-every', '1', ...extra];
  if (world > 1) args.push('--distributed');
  return startRanks(args, world, { env, port });
}

async function finished(ranks) {
  const exits = await Promise.all(ranks.map((r) => r.exit));
  exits.forEach((exit, rank) => {
    if (exit.code !== 0) throw new Error(`rank ${rank} failed (${exit.code ?? exit.signal}): ${exit.stderr}`);
  });
  return exits;
}

const whole = path.join(root, 'whole');

t.test('2 ranks at batch 2 train what 1 process does at batch 4; rank 0 writes the files and speaks', async (t) => {
  const exits = await finished(await launch(whole));
  const summary = JSON.parse(exits[0].stdout);
  t.equal(exits[1].stdout.trim(), '', 'rank 1 prints nothing');
  t.equal(summary.history.length, 1);
  for (const name of ['model.pt', 'model.json', 'best.pt', 'history.jsonl', 'curves.svg', 'checkpoint.json']) {
    t.ok(fs.existsSync(path.join(whole, name)), `${name} in --out`);
  }
  const state = JSON.parse(fs.readFileSync(path.join(whole, 'checkpoint.json'), 'utf8'));
  t.equal(state.iteration, 6, '6 steps: 24 clips shared by 2 ranks at 2 clips');

  const single = path.join(root, 'single');
  await finished(await launch(single, { world: 1 }));
  const diff = compareExports(path.join(whole, 'model.pt'), path.join(single, 'model.pt')).maxAbsDiff;
  t.ok(diff <= 1e-5, `final weights: max abs diff ${diff} <= 1e-5`);
  const [a] = historyOf(whole);
  const [b] = historyOf(single);
  t.ok(Math.abs(a.trainLoss - b.trainLoss) < 1e-5, `train loss ${a.trainLoss} vs ${b.trainLoss}: the job's, not a rank's`);
  t.equal(a.trainAcc1, b.trainAcc1, 'train acc@1 over all 24 clips');
  t.equal(a.valVideoAcc1, b.valVideoAcc1, 'validation shared by the ranks scores the whole set');

  // A position in an epoch belongs to its world size: resuming with another one is refused, naming it.
  const alone = spawnSync(process.execPath, [CLI, 'finetune', ...job, '--batch', '2', '--out', whole, '--resume'], { encoding: 'utf8' });
  t.equal(alone.status, 2);
  t.match(alone.stderr, /cannot resume the run in '.*whole' with other options: worldSize was 2, now 1/);
});

t.test('SIGKILL of rank 1: rank 0 fails naming it; a torchrun-style restart resumes and ends as the run never stopped', async (t) => {
  const out = path.join(root, 'killed');
  const ranks = await launch(out);
  await new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      try {
        if (JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8')).iteration >= 2) {
          clearInterval(timer);
          ranks[1].child.kill('SIGKILL');
          resolve();
        }
      } catch {
        // not written yet, or being replaced
      }
    }, 20);
    ranks[0].exit.then(() => {
      clearInterval(timer);
      reject(new Error(`rank 0 ended first: ${ranks[0].stderr}`));
    });
  });
  const killedAt = Date.now();
  const exit = await ranks[0].exit;
  t.equal(exit.code, 1, 'rank 0 exits with an error');
  t.match(exit.stderr, /rank 1 has stopped/, `named: ${exit.stderr.trim().split('\n').pop()}`);
  t.match(exit.stderr, /ERR_DISTRIBUTED/);
  t.ok(Date.now() - killedAt < 60000, `within ${((Date.now() - killedAt) / 1000).toFixed(1)} s`);
  const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint.json'), 'utf8'));
  t.ok(state.iteration >= 2 && state.iteration < 6, `a checkpoint mid-epoch (after step ${state.iteration})`);

  // torchrun restarts every rank with TORCHELASTIC_RESTART_COUNT raised: the run resumes by itself.
  const exits = await finished(await launch(out, { env: { TORCHELASTIC_RESTART_COUNT: '1' } }));
  t.same(JSON.parse(exits[0].stdout).history, historyOf(whole), 'the history of the run never stopped');
  const same = compareExports(path.join(out, 'model.pt'), path.join(whole, 'model.pt'));
  t.ok(Object.values(same.parameters).every(Boolean), 'final weights bit-identical to the run never stopped');
});

t.test('torchrun --no_python --nproc_per_node 2 launches it (its agent hosts the store)', async (t) => {
  const torchrun = spawnSync('sh', ['-c', 'command -v torchrun'], { encoding: 'utf8' }).stdout.trim();
  if (!requirePrerequisite(t, torchrun, 'torchrun is not installed (Debian: python3-torch)')) return;
  const out = path.join(root, 'torchrun');
  const port = await freePort();
  const result = spawnSync(
    torchrun,
    [
      // Debian 12's torchrun (1.13 on Python 3.11) cannot parse its own default '--redirects 0 --tee 0'
      // (Std.from_str finds no member for 0): ask for stdout to be teed to its log folder, which it can.
      ...['--redirects', '1', '--tee', '1', '--log_dir', path.join(root, 'torchrun-logs')],
      ...['--no_python', '--nproc_per_node', '2', '--master_port', String(port), process.execPath, CLI, 'finetune'],
      ...[...job, '--batch', '2', '--out', out, '--distributed'],
    ],
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' }, timeout: 300000 },
  );
  t.equal(result.status, 0, result.stderr);
  t.same(historyOf(out), historyOf(whole), 'the same run as the one the test launched itself');
});

t.test("rank 0's failure to read the run state fails every rank, naming it", async (t) => {
  const out = path.join(root, 'torn');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(path.join(out, 'checkpoint.json'), '{"format": "torchvideo-fine');
  const exits = await Promise.all((await launch(out, { extra: ['--resume'] })).map((r) => r.exit));
  t.equal(exits[0].code, 1);
  t.match(exits[0].stderr, /cannot resume from '.*checkpoint\.json': it is not a readable fine-tuning state .*ERR_CHECKPOINT/);
  t.equal(exits[1].code, 1);
  t.match(exits[1].stderr, /rank 0 could not establish the run state: cannot resume from .*ERR_CHECKPOINT.*ERR_DISTRIBUTED/);
});

t.test('a folder another job holds fails every rank at once, naming the holder', async (t) => {
  const out = path.join(root, 'held');
  fs.mkdirSync(out, { recursive: true });
  // A live holder: this test process.
  const holder = { pid: process.pid, host: os.hostname(), started: '2026-01-01T00:00:00.000Z', job: 'fineTune of x', token: 'held' };
  fs.writeFileSync(path.join(out, '.torchvideo.lock'), JSON.stringify(holder));
  const exits = await Promise.all((await launch(out)).map((r) => r.exit));
  t.equal(exits[0].code, 1);
  t.match(exits[0].stderr, `is in use by another job: fineTune of x (pid ${process.pid} on host '${os.hostname()}'`);
  t.equal(exits[1].code, 1);
  t.match(exits[1].stderr, /rank 0 could not establish the output folder: .*in use by another job.*ERR_CHECKPOINT.*ERR_DISTRIBUTED/);
  t.same(fs.readdirSync(out), ['.torchvideo.lock'], 'nothing was written into the folder');
});

t.test('bad distributed flags fail before any work, naming the flag', async (t) => {
  const run = (args, env = {}) =>
    spawnSync(process.execPath, [CLI, 'finetune', ...job, '--out', path.join(root, 'never'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, RANK: undefined, WORLD_SIZE: undefined, SLURM_PROCID: undefined, JOB_COMPLETION_INDEX: undefined, ...env },
    });
  for (const [args, env, message] of [
    [['--master-port', '29500'], {}, /--master-port needs --distributed/],
    [['--distributed'], {}, /distributed 'env' found no launcher/],
    [
      ['--distributed', '--master-port', '99999'],
      { RANK: '0', WORLD_SIZE: '1' },
      /expected --master-port to be a TCP port \(1-65535\), got '99999'/,
    ],
    [
      ['--distributed', '--distributed-timeout', '0'],
      { RANK: '0', WORLD_SIZE: '1' },
      /expected --distributed-timeout to be a positive number of seconds, got '0'/,
    ],
    [['--distributed'], { JOB_COMPLETION_INDEX: '1' }, /a Kubernetes Indexed Job gives only JOB_COMPLETION_INDEX/],
    [['--distributed'], { RANK: '2', WORLD_SIZE: '2', MASTER_ADDR: '127.0.0.1' }, /rank 2 is not below the world size 2 \(torchrun\)/],
  ]) {
    const result = run(args, env);
    t.equal(result.status, 2, `${args.join(' ')}: exit 2`);
    t.match(result.stderr, message);
  }
  t.notOk(fs.existsSync(path.join(root, 'never')), 'nothing was written');
});
