'use strict';
// Data-parallel Trainer steps over c10d's Gloo on 127.0.0.1: ranks end every step with bit-identical
// weights; with a frozen backbone (no batch-statistics effects) 2 ranks at batch 4 reach the weights of
// 1 rank at batch 8; a rank killed mid-job ends the others with ERR_DISTRIBUTED naming it, within
// seconds, never a hang. Each job is r3d_18 on 4x32x32 clips: a step takes well under a second.
const fs = require('node:fs');
const path = require('node:path');
const t = require('tap');
const { Trainer } = require('..');
const { ProcessGroup } = require('../dist/internal.js');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { compareExports, runPython } = require('./helpers/training');
const { freePort, startRanks, waitForLine } = require('./helpers/distributed');
const { requirePrerequisite } = require('./helpers/prerequisites');

const WORKER = path.join(ROOT, 'test', 'fixtures', 'distributed-trainer.js');
const dir = tempDir('torchvideo-distributed-');
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const glooBuilt = ProcessGroup.backends.includes('gloo');
if (!requirePrerequisite(t, glooBuilt, 'this build has no c10d Gloo (libgloo-dev was missing when it was built)')) process.exit(0);

async function job(name, spec, world) {
  const out = path.join(dir, name);
  fs.mkdirSync(out, { recursive: true });
  const ranks = await startRanks([WORKER, JSON.stringify({ model: modelPath('r3d_18'), out, ...spec })], world);
  const exits = await Promise.all(ranks.map((r) => r.exit));
  exits.forEach((exit, rank) => {
    if (exit.code !== 0) throw new Error(`rank ${rank} of ${name} failed (${exit.code ?? exit.signal}): ${exit.stderr}`);
  });
  return { out, results: exits.map((exit) => JSON.parse(exit.stdout.trim().split('\n').pop())) };
}

const allTrue = (map) => Object.values(map).every(Boolean);

t.test('2 ranks on Gloo: after 3 steps both hold bit-identical weights and statistics', async (t) => {
  const { out, results } = await job('identical', { steps: 3, globalBatch: 4 }, 2);
  t.equal(results[0].backend, 'gloo');
  t.not(results[0].results[0].loss, results[1].results[0].loss, 'the ranks trained on different clips');
  const same = compareExports(path.join(out, 'rank-0.pt'), path.join(out, 'rank-1.pt'));
  t.ok(allTrue(same.parameters), 'every parameter bit-identical');
  t.ok(allTrue(same.buffers), 'every buffer bit-identical (rank 0 statistics, as DDP broadcasts them)');
  const { allreduce } = results[0].results[2];
  t.ok(allreduce.buckets >= 2, `gradients in ${allreduce.buckets} buckets`);
  t.equal(allreduce.duringBackward, allreduce.buckets, 'every bucket allreduced while backward ran');

  // No overlap (every bucket after backward) reduces the same sums: the same weights, bit for bit.
  const late = await job('no-overlap', { steps: 3, globalBatch: 4, overlap: false }, 2);
  t.equal(late.results[0].results[0].allreduce.duringBackward, 0, 'overlap off: no bucket during backward');
  const lateSame = compareExports(path.join(out, 'rank-0.pt'), path.join(late.out, 'rank-0.pt'));
  t.ok(allTrue(lateSame.parameters), 'overlap on and off end with the same weights');
});

// DDP broadcasts rank 0's buffers at the start of every step, so after step k rank 1's statistics are rank
// 0's after step k - 1, moved by rank 1's own batch k. Checked on exports taken before any syncBuffers (the
// end-of-job equality above is made by that sync), against PyTorch's forward of that batch from rank 0's state.
t.test("every step starts from rank 0's batch-norm statistics (checked before any syncBuffers)", async (t) => {
  const { out } = await job('per-step-buffers', { steps: 3, globalBatch: 4, eachStep: true, sync: false }, 2);
  const file = (rank, step, ext) => path.join(out, `rank-${rank}-step-${step}.${ext}`);
  const forwardFrom = (start, step) =>
    runPython('ref_bn_update.py', [
      '--start',
      start,
      '--clips',
      file(1, step, 'bin'),
      '--shape',
      '2,3,4,32,32',
      '--compare',
      file(1, step, 'pt'),
    ]);
  for (const step of [1, 2]) {
    const broadcast = forwardFrom(file(0, step - 1, 'pt'), step);
    t.ok(broadcast.buffers > 10, `${broadcast.buffers} buffers compared`);
    t.ok(broadcast.countsEqual, `step ${step}: batch counts equal`);
    t.ok(
      broadcast.maxAbsDiff <= 1e-5,
      `step ${step}: rank 1's statistics are rank 0's moved by rank 1's batch (max abs diff ${broadcast.maxAbsDiff})`,
    );
    // The comparison can fail: rank 1 going on from its own statistics (no broadcast) ends elsewhere.
    const own = forwardFrom(file(1, step - 1, 'pt'), step);
    t.ok(own.maxAbsDiff > 1e-3, `step ${step}: from rank 1's own statistics instead: max abs diff ${own.maxAbsDiff}`);
  }
  // Without the sync the ranks end with different statistics (each moved by its own last batch).
  const last = compareExports(path.join(out, 'rank-0.pt'), path.join(out, 'rank-1.pt'));
  t.ok(allTrue(last.parameters), 'weights bit-identical');
  t.notOk(allTrue(last.buffers), 'buffers differ without the final syncBuffers');
});

t.test('freezeBackbone: 2 ranks at batch 4 reach the weights of 1 rank at batch 8 (within 1e-5)', async (t) => {
  const spec = { steps: 3, globalBatch: 8, freezeBackbone: true, lr: 0.5 };
  const two = await job('two-ranks', spec, 2);
  const one = await job('one-rank', spec, 1);
  t.same(
    two.results.map((r) => r.results.length),
    [3, 3],
  );
  const diff = compareExports(path.join(two.out, 'rank-0.pt'), path.join(one.out, 'rank-0.pt')).maxAbsDiff;
  t.ok(diff <= 1e-5, `max abs diff ${diff} <= 1e-5`);
  // The comparison can fail: 1 rank on half of each batch ends elsewhere.
  const half = await job('half-batch', { ...spec, globalBatch: 4 }, 1);
  const apart = compareExports(path.join(half.out, 'rank-0.pt'), path.join(one.out, 'rank-0.pt')).maxAbsDiff;
  t.ok(apart > 1e-3, `half the batch trains other weights (max abs diff ${apart})`);
});

t.test('a rank killed mid-job ends the other with ERR_DISTRIBUTED naming it', async (t) => {
  for (const [victim, survivor, expected] of [
    [1, 0, /rank 1 has stopped/],
    // A local job's store is a file, not rank 0's process: rank 0 is named by its heartbeat like any rank.
    [0, 1, /rank 0 has stopped \(no heartbeat for 2\.5 s\)/],
  ]) {
    const out = path.join(dir, `killed-${victim}`);
    fs.mkdirSync(out, { recursive: true });
    const spec = { model: modelPath('r3d_18'), out, steps: 1000, globalBatch: 4, announce: true, timeoutMs: 120000 };
    const ranks = await startRanks([WORKER, JSON.stringify(spec)], 2);
    await waitForLine(ranks[victim], /"step":0/);
    const killedAt = Date.now();
    ranks[victim].child.kill('SIGKILL');
    const exit = await ranks[survivor].exit;
    const seconds = (Date.now() - killedAt) / 1000;
    t.equal(exit.code, 1, `rank ${survivor} exits with an error`);
    t.match(exit.stderr, /ERR_DISTRIBUTED/);
    t.match(exit.stderr, expected, `rank ${survivor}'s error names rank ${victim}: ${exit.stderr.trim()}`);
    t.ok(seconds < 30, `it ended ${seconds.toFixed(1)} s after the kill (the timeout was 120 s)`);
  }
});

t.test('a rank that hangs (SIGSTOP) fails the other at the timeout, named: no hang', async (t) => {
  const out = path.join(dir, 'hung');
  fs.mkdirSync(out, { recursive: true });
  const spec = { model: modelPath('r3d_18'), out, steps: 1000, globalBatch: 4, announce: true, timeoutMs: 4000 };
  const ranks = await startRanks([WORKER, JSON.stringify(spec)], 2);
  t.teardown(() => ranks[1].child.kill('SIGKILL'));
  await waitForLine(ranks[1], /"step":0/);
  const stoppedAt = Date.now();
  ranks[1].child.kill('SIGSTOP');
  const exit = await ranks[0].exit;
  const seconds = (Date.now() - stoppedAt) / 1000;
  t.equal(exit.code, 1);
  t.match(exit.stderr, /failed on rank 0 of 2: rank 1 has stopped \(no heartbeat for 2\.5 s\)/, exit.stderr.trim());
  t.ok(seconds < 30, `ended ${seconds.toFixed(1)} s after rank 1 stopped (timeout 4 s)`);
});

t.test('a rank alone cannot join: ERR_DISTRIBUTED once the timeout passes', async (t) => {
  const out = path.join(dir, 'alone');
  fs.mkdirSync(out, { recursive: true });
  const spec = { model: modelPath('r3d_18'), out, steps: 1, globalBatch: 4, timeoutMs: 2000 };
  const [rank0] = await startRanks([WORKER, JSON.stringify(spec)], 2, { ranks: [0] });
  const exit = await rank0.exit;
  t.equal(exit.code, 1);
  t.match(
    exit.stderr,
    /rank 0 of 2 cannot join the job: could not host the job's local store at 127\.0\.0\.1:\d+ and meet every rank within 2 s/,
  );
  t.match(exit.stderr, /ERR_DISTRIBUTED/);
});

t.test('bad arguments say what is wrong', async (t) => {
  await t.rejects(ProcessGroup.join('env', {}, {}), { name: 'RangeError', message: /distributed 'env' found no launcher/ });
  await t.rejects(ProcessGroup.join({ rank: 2, worldSize: 2, masterAddr: '127.0.0.1' }), {
    name: 'RangeError',
    message: 'rank 2 is not below the world size 2 (explicit)',
  });
  await t.rejects(ProcessGroup.join({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1' }, { timeoutMs: 0 }), {
    name: 'RangeError',
    message: /options\.timeoutMs/,
  });
  await t.rejects(ProcessGroup.join({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: 70000 }), {
    name: 'RangeError',
    message: /expected distributed\.masterPort to be a TCP port \(1-65535\), got 70000/,
  });
  const one = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1' };
  await t.rejects(ProcessGroup.join(one, { backend: 'mpi' }), {
    name: 'RangeError',
    message: `expected options.backend to be 'gloo' or 'nccl', got "mpi"`,
  });
  await t.rejects(ProcessGroup.join(one, { backend: 'nccl' }), {
    name: 'RangeError',
    message: "options.backend 'nccl' carries CUDA tensors only: the device is 'cpu'",
  });
  const trainer = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 3, seed: 1, threads: 1 });
  t.teardown(() => trainer.dispose());
  await t.rejects(trainer.setDistributed({}), { name: 'TypeError', message: /expected group to be a ProcessGroup/ });
});

t.test('a job of one: a group of world size 1 trains like no group at all', async (t) => {
  const where = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort() };
  const group = await ProcessGroup.join(where, { backend: 'gloo' });
  t.teardown(() => group.dispose());
  t.equal(group.backend, 'gloo', 'the backend asked for');
  t.equal(group.rank, 0);
  t.equal(group.worldSize, 1);
  t.same(await group.allreduceSum([1.5, 2]), [1.5, 2]);
  t.same(await group.allgather({ a: 1 }), [{ a: 1 }]);
  const trainer = await Trainer.create({ model: modelPath('r3d_18'), numClasses: 3, seed: 1, threads: 1 });
  t.teardown(() => trainer.dispose());
  await trainer.setDistributed(group);
  await t.rejects(trainer.setDistributed(group, { bucketBytes: 0 }), { name: 'RangeError', message: /options\.bucketBytes/ });
});
