'use strict';
// `torchvideo evaluate --distributed` over 2 ranks on 127.0.0.1: each rank scores its shard, the ranks
// gather every video's probabilities over c10d, and rank 0 writes and prints the single report, equal to
// a one-process run's (the same metrics, the same probabilities bit for bit, the same failures).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { ProcessGroup } = require('../dist/internal.js');
const { classFolderSet } = require('./helpers/fixtures');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { startRanks } = require('./helpers/distributed');
const { sameReportFields } = require('./helpers/reports');
const { requirePrerequisite } = require('./helpers/prerequisites');

const glooBuilt = ProcessGroup.backends.includes('gloo');
if (!requirePrerequisite(t, glooBuilt, 'this build has no c10d Gloo (libgloo-dev was missing when it was built)')) process.exit(0);

const CLI = path.join(ROOT, 'dist', 'cli.js');
const root = tempDir('torchvideo-distributed-eval-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
const data = classFolderSet(path.join(root, 'set'));
const common = ['--model', modelPath('mc3_18'), '--data', data, '--clips', '2', '--batch', '3', '--json'];

t.test('2 ranks give the one-process report; rank 0 writes it, each rank journals its share', async (t) => {
  const single = spawnSync(process.execPath, [CLI, 'evaluate', ...common], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  t.equal(single.status, 0, single.stderr);
  const expected = JSON.parse(single.stdout);

  const out = path.join(root, 'distributed');
  const ranks = await startRanks([CLI, 'evaluate', ...common, '--out', out, '--distributed'], 2);
  const exits = await Promise.all(ranks.map((r) => r.exit));
  exits.forEach((exit, rank) => t.equal(exit.code, 0, `rank ${rank}: ${exit.stderr}`));
  t.equal(exits[1].stdout, '', 'rank 1 prints nothing');
  const report = JSON.parse(exits[0].stdout);
  sameReportFields(t, report, expected, ['skipped', 'shard']);
  t.same(report.predictions, expected.predictions, 'every video, every probability, bit for bit');
  t.equal(report.videos, 4, 'the whole set: 4 videos (and one that fails to open)');
  t.same(JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')).predictions, expected.predictions, 'report.json');
  t.ok(fs.existsSync(path.join(out, 'report.html')), 'report.html');
  const journalled = [0, 1].map(
    (rank) =>
      fs
        .readFileSync(path.join(out, `rank-${rank}-of-2`, 'predictions.jsonl'), 'utf8')
        .split('\n')
        .filter(Boolean).length - 1,
  );
  t.same(journalled, [3, 2], 'rank 0 journals 3 of the 5 files (one failed), rank 1 the other 2');

  // --resume: each rank finds its share journalled and scores nothing again; the report is the same.
  const resumed = await startRanks([CLI, 'evaluate', ...common, '--out', out, '--distributed', '--resume'], 2);
  const again = await Promise.all(resumed.map((r) => r.exit));
  again.forEach((exit, rank) => t.equal(exit.code, 0, `resumed rank ${rank}: ${exit.stderr}`));
  t.same(JSON.parse(again[0].stdout).predictions, expected.predictions, 'the resumed job reports the same predictions');
  t.same(
    [0, 1].map(
      (rank) =>
        fs
          .readFileSync(path.join(out, `rank-${rank}-of-2`, 'predictions.jsonl'), 'utf8')
          .split('\n')
          .filter(Boolean).length - 1,
    ),
    journalled,
    'nothing was scored twice',
  );
});

t.test('a folder another job holds refuses the distributed job on every rank, at once', async (t) => {
  const out = path.join(root, 'held');
  fs.mkdirSync(out);
  // A live holder: this test process.
  const holder = { pid: process.pid, host: os.hostname(), started: '2026-01-01T00:00:00.000Z', job: 'evaluate of x', token: 'held' };
  fs.writeFileSync(path.join(out, '.torchvideo.lock'), JSON.stringify(holder));
  const ranks = await startRanks([CLI, 'evaluate', ...common, '--out', out, '--distributed'], 2);
  const exits = await Promise.all(ranks.map((r) => r.exit));
  t.equal(exits[0].code, 1, 'rank 0 fails');
  t.match(exits[0].stderr, `is in use by another job: evaluate of x (pid ${process.pid} on host '${os.hostname()}'`, 'naming the holder');
  t.match(exits[0].stderr, '(ERR_CHECKPOINT)');
  t.equal(exits[1].code, 1, 'rank 1 fails too');
  t.match(exits[1].stderr, /rank 0 could not take the output folder: .*in use by another job.*\(ERR_CHECKPOINT\) \(ERR_DISTRIBUTED\)/);
  t.same(fs.readdirSync(out), ['.torchvideo.lock'], 'nothing was written into the folder');
});

t.test('torchvideo launch --nproc 2 runs the distributed evaluation end to end', async (t) => {
  const single = spawnSync(process.execPath, [CLI, 'evaluate', ...common], { encoding: 'utf8', maxBuffer: 256 * 2 ** 20 });
  const expected = JSON.parse(single.stdout);
  const env = { ...process.env };
  for (const name of ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT']) delete env[name];
  const launched = spawnSync(process.execPath, [CLI, 'launch', '--nproc', '2', '--', 'evaluate', ...common, '--distributed'], {
    encoding: 'utf8',
    env,
    maxBuffer: 256 * 2 ** 20,
  });
  t.equal(launched.status, 0, launched.stderr);
  // Each rank's lines arrive prefixed with it; rank 0's are the report.
  const rank0 = launched.stdout
    .split('\n')
    .filter((line) => line.startsWith('[rank 0] '))
    .map((line) => line.slice('[rank 0] '.length))
    .join('\n');
  const report = JSON.parse(rank0);
  t.same(report.predictions, expected.predictions, 'the one-process predictions');
  t.equal(report.videoAcc1, expected.videoAcc1);
  t.notOk(/^\[rank 1\] /m.test(launched.stdout), 'rank 1 prints nothing');
});

t.test('--shard and --distributed exclude each other', async (t) => {
  const result = spawnSync(process.execPath, [CLI, 'evaluate', ...common, '--distributed', '--shard', '0/2'], {
    encoding: 'utf8',
    env: { ...process.env, RANK: '0', WORLD_SIZE: '1', MASTER_ADDR: '127.0.0.1' },
  });
  t.equal(result.status, 2);
  t.match(result.stderr, /--shard and --distributed exclude each other/);
});
