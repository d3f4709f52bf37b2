'use strict';
// npx torchvideo launch --nproc N -- COMMAND: torchrun's environment for each rank, output prefixed with the
// rank, a failing rank stops the others (SIGTERM, then SIGKILL after 10 s) and names itself, signals to the
// launcher reach every rank, ranks stop when the launcher is killed outright, bad flags say why. The ranks
// are test/fixtures/launch-child.js: the launcher runs from test/fixtures/launch-entry.js, which passes the
// test-only hook; the published CLI has none (checked below with the old TORCHVIDEO_LAUNCH_SCRIPT variable).
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const t = require('tap');
const { ROOT, tempDir } = require('./helpers/paths');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const ENTRY = path.join(__dirname, 'fixtures', 'launch-entry.js');
const childEnv = (extra = {}) => {
  const env = { ...process.env, ...extra };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete env[key];
  return env;
};
// OMP_NUM_THREADS unset unless a test sets it: the launcher's split is what is checked.
const launch = (args, extra = { OMP_NUM_THREADS: undefined }, entry = ENTRY) =>
  spawnSync(process.execPath, [entry, 'launch', ...args], { encoding: 'utf8', env: childEnv(extra), timeout: 60_000 });

/** The launcher as a running process, with its output so far and a promise of how it ended. */
function start(args) {
  const child = spawn(process.execPath, [ENTRY, 'launch', ...args], { env: childEnv() });
  const seen = { stdout: '', stderr: '' };
  child.stdout.on('data', (chunk) => (seen.stdout += chunk));
  child.stderr.on('data', (chunk) => (seen.stderr += chunk));
  const ended = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, ...seen })));
  const until = async (predicate, ms = 20_000) => {
    for (const deadline = Date.now() + ms; !predicate(seen);) {
      if (Date.now() > deadline) throw new Error(`timed out; output so far:\n${seen.stdout}${seen.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { child, seen, ended, until };
}

const rankLines = (text) =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => /^\[rank (\d+)\] (.*)$/.exec(line))
    .filter(Boolean)
    .map(([, rank, rest]) => ({ rank: Number(rank), rest }));

t.test("each rank gets torchrun's environment, one free port and its share of the cores", async (t) => {
  const result = launch(['--nproc', '3', '--', 'env']);
  t.equal(result.status, 0, result.stderr);
  const ranks = rankLines(result.stdout).map(({ rank, rest }) => ({ rank, env: JSON.parse(rest) }));
  t.same(ranks.map((r) => r.rank).sort(), [0, 1, 2], 'one line per rank');
  const port = Number(ranks[0].env.MASTER_PORT);
  t.ok(Number.isInteger(port) && port >= 1 && port <= 65535, `MASTER_PORT ${port} is a TCP port`);
  const runId = ranks[0].env.TORCHELASTIC_RUN_ID;
  t.match(runId, /^[0-9a-f]{16}$/, 'a random run id');
  const threads = String(Math.max(1, Math.floor(os.availableParallelism() / 3)));
  for (const { rank, env } of ranks) {
    t.same(
      env,
      {
        RANK: String(rank),
        LOCAL_RANK: String(rank),
        WORLD_SIZE: '3',
        LOCAL_WORLD_SIZE: '3',
        GROUP_RANK: '0',
        ROLE_RANK: String(rank),
        ROLE_WORLD_SIZE: '3',
        MASTER_ADDR: '127.0.0.1',
        MASTER_PORT: String(port),
        TORCHELASTIC_RESTART_COUNT: '0',
        TORCHELASTIC_RUN_ID: runId,
        TORCHELASTIC_USE_AGENT_STORE: 'False',
        OMP_NUM_THREADS: threads,
      },
      `rank ${rank}`,
    );
  }
  t.equal(result.stderr, '', 'nothing on stderr');

  // The same flags again: another free port, another run id.
  const again = rankLines(launch(['--nproc', '1', '--', 'env']).stdout).map(({ rest }) => JSON.parse(rest));
  t.not(again[0].TORCHELASTIC_RUN_ID, runId, 'each launch its own run id');
});

t.test('--master-addr, --master-port and a set OMP_NUM_THREADS are passed on as given', async (t) => {
  const result = launch(['--nproc', '2', '--master-addr', 'head-node', '--master-port', '29999', '--', 'env'], { OMP_NUM_THREADS: '7' });
  t.equal(result.status, 0, result.stderr);
  const envs = rankLines(result.stdout).map(({ rest }) => JSON.parse(rest));
  t.equal(envs.length, 2);
  for (const env of envs) t.match(env, { MASTER_ADDR: 'head-node', MASTER_PORT: '29999', OMP_NUM_THREADS: '7', WORLD_SIZE: '2' });
  // More ranks than cores: one thread each, never zero.
  const many = launch(['--nproc', String(os.availableParallelism() + 1), '--', 'env']);
  t.equal(many.status, 0, many.stderr);
  t.ok(
    rankLines(many.stdout).every(({ rest }) => JSON.parse(rest).OMP_NUM_THREADS === '1'),
    'OMP_NUM_THREADS=1 with more ranks than cores',
  );
});

t.test("every line of a rank's stdout and stderr carries its rank, an unfinished last line too", async (t) => {
  const result = launch(['--nproc', '2', '--', 'lines']);
  t.equal(result.status, 0, result.stderr);
  for (const rank of [0, 1]) {
    t.match(result.stdout, new RegExp(`^\\[rank ${rank}\\] one\\n`, 'm'));
    t.match(result.stdout, new RegExp(`^\\[rank ${rank}\\] two\\n`, 'm'));
    t.match(result.stderr, new RegExp(`^\\[rank ${rank}\\] unfinished\\n`, 'm'), 'completed with a newline');
  }
  t.equal(result.stdout.split('\n').filter(Boolean).length, 4, 'two lines per rank, none split or merged');
});

t.test('a failing rank stops the others at once and the launcher exits with its code', async (t) => {
  const started = Date.now();
  const result = launch(['--nproc', '3', '--', 'fail', '1', '3']);
  const took = Date.now() - started;
  t.equal(result.status, 3, "the failing rank's code");
  t.match(result.stderr, /^torchvideo launch: rank 1 exited with code 3$/m);
  t.notMatch(result.stderr, /rank [02] exited/, 'the ranks it stopped are not reported as failures');
  t.ok(took < 8000, `the sleeping ranks were stopped by SIGTERM, not waited for (${took} ms)`);
  t.same(
    rankLines(result.stdout)
      .filter(({ rest }) => rest === 'got SIGTERM')
      .map(({ rank }) => rank)
      .sort(),
    [0, 2],
    'SIGTERM reached the sleeping ranks',
  );
});

t.test('a rank killed by a signal: 128 + its number, and the signal named', async (t) => {
  const result = launch(['--nproc', '2', '--', 'kill-self', '0']);
  t.equal(result.status, 137, '128 + SIGKILL');
  t.match(result.stderr, /^torchvideo launch: rank 0 was killed by SIGKILL$/m);
});

t.test('a rank that ignores SIGTERM is killed after the 10 s grace', async (t) => {
  const started = Date.now();
  const result = launch(['--nproc', '2', '--', 'fail', '0', '5', '--ignore-term']);
  const took = Date.now() - started;
  t.equal(result.status, 5, "the first failure's code, not the SIGKILL's");
  t.match(result.stderr, /^torchvideo launch: rank 0 exited with code 5$/m);
  t.notMatch(result.stderr, /rank 1 was killed/, 'the rank the launcher killed is not the cause');
  t.match(result.stdout, /^\[rank 1\] got SIGTERM$/m, 'SIGTERM first');
  t.ok(took >= 9500 && took < 30_000, `SIGKILL after the grace (${took} ms)`);
});

for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
]) {
  t.test(`${signal} to the launcher reaches every rank; it exits ${code} once they have stopped`, async (t) => {
    const job = start(['--nproc', '2', '--', 'sleep']);
    await job.until(({ stdout }) => rankLines(stdout).filter(({ rest }) => rest === 'ready').length === 2);
    job.child.kill(signal);
    const { code: status, stdout, stderr } = await job.ended;
    t.equal(status, code, stderr);
    for (const rank of [0, 1]) t.match(stdout, new RegExp(`^\\[rank ${rank}\\] got ${signal}$`, 'm'), `rank ${rank} got it`);
    t.notMatch(stderr, /torchvideo launch: rank/, 'ranks stopping on request are not failures');
  });
}

t.test('bad command lines exit 2 and say why', async (t) => {
  for (const [args, message] of [
    [['--', 'env'], /expected --nproc N/],
    [['--nproc', 'x', '--', 'env'], /expected --nproc to be an integer in \[1, 1024\], got 'x'/],
    [['--nproc', '0', '--', 'env'], /expected --nproc to be an integer in \[1, 1024\], got '0'/],
    [['--nproc', '1.5', '--', 'env'], /expected --nproc to be an integer in \[1, 1024\], got '1\.5'/],
    [['--nproc', '2000', '--', 'env'], /expected --nproc to be an integer in \[1, 1024\], got '2000'/],
    [['--nproc', '2', '--master-port', '0', '--', 'env'], /expected --master-port to be a TCP port \(1-65535\), got '0'/],
    [['--nproc', '2', '--master-port', '70000', '--', 'env'], /expected --master-port to be a TCP port \(1-65535\), got '70000'/],
    [['--nproc', '2', '--master-addr', '', '--', 'env'], /expected --master-addr to be a host name or address/],
    [['--nproc', '2', 'finetune'], /unexpected argument 'finetune' \(the command to run goes after --/],
    [['--nproc', '2'], /expected -- and the torchvideo command each rank runs/],
    [['--nproc', '2', '--'], /expected the torchvideo command each rank runs after --/],
    [['--nproc', '2', '--nodes', '2', '--', 'env'], /Unknown option '--nodes'/],
  ]) {
    const result = launch(args);
    t.equal(result.status, 2, `${message}: exit 2`);
    t.match(result.stderr, message);
    t.equal(result.stdout, '', 'no rank started');
  }
  // A usage error shows the usage.
  t.match(launch(['--nproc', '2']).stderr, /Usage: torchvideo launch --nproc N/);
  const help = launch(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /^Usage: torchvideo launch --nproc N/);
});

t.test('the published CLI ignores TORCHVIDEO_LAUNCH_SCRIPT: every rank runs torchvideo', async (t) => {
  const dir = tempDir('torchvideo-launch-hook-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const marker = path.join(dir, 'ran');
  const evil = path.join(dir, 'evil.js');
  fs.writeFileSync(evil, `require('node:fs').writeFileSync(${JSON.stringify(marker)}, 'ran'); console.log('evil');\n`);
  const result = launch(['--nproc', '2', '--', '--version'], { TORCHVIDEO_LAUNCH_SCRIPT: evil }, CLI);
  t.equal(result.status, 0, result.stderr);
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  t.same(
    rankLines(result.stdout)
      .map(({ rank, rest }) => `${rank} ${rest}`)
      .sort(),
    [`0 ${version}`, `1 ${version}`],
    "each rank printed torchvideo's version",
  );
  t.notOk(fs.existsSync(marker), 'the script named in the environment never ran');
});

t.test('SIGKILL to the launcher: its ranks see their watch pipe close and stop', async (t) => {
  const job = start(['--nproc', '2', '--', 'sleep']);
  await job.until(({ stdout }) => rankLines(stdout).filter(({ rest }) => rest === 'ready').length === 2);
  const pids = rankLines(job.seen.stdout)
    .map(({ rest }) => /^pid (\d+)$/.exec(rest))
    .filter(Boolean)
    .map(([, pid]) => Number(pid));
  t.equal(pids.length, 2, 'both ranks said their pid');
  job.child.kill('SIGKILL');
  t.equal((await job.ended).signal, 'SIGKILL', 'the launcher is gone');
  // A rank is gone once its pid is free or a zombie waiting for its new parent to reap it. The sleepers
  // would stay for a minute: 20 s of polling tells a rank that stopped from one that did not.
  const alive = (pid) => {
    try {
      return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return false;
    }
  };
  let left = pids;
  for (let poll = 0; poll < 200 && left.length > 0; poll++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    left = left.filter(alive);
  }
  t.same(left, [], 'no rank outlived the launcher');
  for (const pid of left) process.kill(pid, 'SIGKILL');
});
