'use strict';
// The CLI under a launcher: a process started as one of several (torchrun's or `torchvideo launch`'s
// WORLD_SIZE > 1, srun's SLURM_NTASKS > 1) without --distributed refuses at once, naming the flag, instead of
// running the whole job N times into one --out; and a flag wins over the launcher's variable for the same
// thing (--master-addr over MASTER_ADDR, --master-port over MASTER_PORT, --world-size over WORLD_SIZE).
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { ROOT, tempDir } = require('./helpers/paths');
const { movingShapesJob } = require('./helpers/training');
const { resolveRendezvous } = require(path.join(ROOT, 'dist', 'internal.js'));

const CLI = path.join(ROOT, 'dist', 'cli.js');
const LAUNCHER_VARIABLES = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT', 'SLURM_PROCID', 'SLURM_NTASKS'];
const run = (args, env = {}) => {
  const base = { ...process.env };
  for (const name of [...LAUNCHER_VARIABLES, 'SLURM_STEP_NUM_TASKS', 'JOB_COMPLETION_INDEX']) delete base[name];
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...base, ...env }, timeout: 120_000 });
};

const root = tempDir('torchvideo-cli-launcher-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
// Paths that do not exist: a command that gets past its flags stops at the first file it checks.
const missing = path.join(root, 'missing');
const evaluateArgs = ['evaluate', '--model', path.join(missing, 'm.pt'), '--data', missing];
const finetuneArgs = [
  'finetune',
  '--model',
  path.join(missing, 'm.pt'),
  '--train',
  missing,
  '--val',
  missing,
  '--out',
  path.join(root, 'out'),
];

t.test('one of several processes without --distributed is refused with exit 2, naming the flag', async (t) => {
  for (const [args, env, launcher] of [
    [evaluateArgs, { RANK: '1', WORLD_SIZE: '2' }, /rank 1 of 2 \(WORLD_SIZE=2: torchrun or torchvideo launch\)/],
    [finetuneArgs, { RANK: '0', WORLD_SIZE: '4', LOCAL_RANK: '0' }, /rank 0 of 4 \(WORLD_SIZE=4/],
    [finetuneArgs, { SLURM_PROCID: '1', SLURM_NTASKS: '2' }, /task 1 of 2 \(Slurm, SLURM_NTASKS=2\)/],
    [evaluateArgs, { SLURM_PROCID: '0', SLURM_NTASKS: '8', SLURM_STEP_NUM_TASKS: '3' }, /task 0 of 3 \(Slurm/],
  ]) {
    const result = run(args, env);
    const what = `${args[0]} with ${JSON.stringify(env)}`;
    t.equal(result.status, 2, `${what}: exit 2`);
    t.match(result.stderr, /but --distributed was not given: add --distributed to run the ranks as one job/, `${what}: names the flag`);
    t.match(result.stderr, launcher, `${what}: says which launcher`);
  }
  // One process is a job of one: it runs (here up to the missing model).
  for (const env of [{ RANK: '0', WORLD_SIZE: '1' }, { SLURM_PROCID: '0', SLURM_NTASKS: '1' }, {}]) {
    const result = run(evaluateArgs, env);
    t.equal(result.status, 1, `evaluate with ${JSON.stringify(env)}: not refused (${result.stderr.trim()})`);
    t.match(result.stderr, /ERR_FILE_NOT_FOUND/);
  }
  t.notOk(fs.existsSync(path.join(root, 'out')), 'nothing was written');
});

t.test('torchvideo launch --nproc 2 -- finetune without --distributed: every rank refuses, no checkpoint', async (t) => {
  const job = movingShapesJob(path.join(root, 'job'));
  const out = path.join(root, 'launched');
  const args = ['--model', job.model, '--train', job.train, '--val', job.val, '--epochs', '1', '--batch', '4', '--clip-length', '8'];
  const result = run(['launch', '--nproc', '2', '--', 'finetune', ...args, '--out', out]);
  t.equal(result.status, 2, "the first rank's exit code");
  t.match(result.stderr, /^\[rank [01]\] torchvideo: this process is rank [01] of 2 .*but --distributed was not given/m);
  t.match(result.stderr, /^torchvideo launch: rank [01] exited with code 2$/m);
  t.notOk(fs.existsSync(out), 'no --out folder, no checkpoint');
});

t.test('a flag wins over the environment variable for the same thing', async (t) => {
  const env = { RANK: '1', WORLD_SIZE: '2', MASTER_ADDR: 'from-env', MASTER_PORT: '29400' };
  t.match(resolveRendezvous('env', { masterAddr: 'from-flag', masterPort: 29999, worldSize: 4 }, env), {
    rank: 1,
    worldSize: 4,
    masterAddr: 'from-flag',
    masterPort: 29999,
    launcher: 'torchrun',
  });
  t.match(resolveRendezvous('env', {}, env), { worldSize: 2, masterAddr: 'from-env', masterPort: 29400 }, 'the environment without flags');
  const slurm = { SLURM_PROCID: '0', SLURM_NTASKS: '2', SLURM_JOB_NODELIST: 'node[01-02]', MASTER_ADDR: 'from-env', MASTER_PORT: '29400' };
  t.match(resolveRendezvous('env', { masterAddr: 'from-flag', masterPort: 29999 }, slurm), {
    masterAddr: 'from-flag',
    masterPort: 29999,
    launcher: 'slurm',
  });
  t.throws(() => resolveRendezvous('env', { masterPort: 70000 }, env), {
    name: 'RangeError',
    message: /expected masterPort to be a TCP port/,
  });

  // From the command line: the flag is used and the variable it replaces is never read. A job of one with
  // a MASTER_PORT that is no port, and a world size the rank does not fit, gets past them to the first file.
  const flags = ['--distributed', '--master-port', '29999', '--master-addr', '127.0.0.1', '--world-size', '4'];
  const result = run([...finetuneArgs, ...flags], { RANK: '2', WORLD_SIZE: '2', MASTER_PORT: 'not-a-port', MASTER_ADDR: '' });
  t.equal(result.status, 1, result.stderr);
  t.match(result.stderr, /--model: no such file or folder .*ERR_FILE_NOT_FOUND/, 'the flags were taken, the variables not read');
  const without = run([...finetuneArgs, '--distributed'], { RANK: '0', WORLD_SIZE: '1', MASTER_PORT: 'not-a-port' });
  t.equal(without.status, 2, 'without the flag the variable is read');
  t.match(without.stderr, /expected MASTER_PORT to be an integer >= 1, got "not-a-port"/);
});
