'use strict';
// Collectives keep their JS call order across the threads that issue them, a failed distributed step
// leaves its trainer refusing further use, and tearing a broken job down never blocks the event loop.
const path = require('node:path');
const t = require('tap');
const { requirePrerequisite } = require('./helpers/prerequisites');
const { ProcessGroup } = require('../dist/internal.js');
const { startRanks, waitForLine } = require('./helpers/distributed');
const { modelPath } = require('./helpers/paths');

if (
  !requirePrerequisite(t, ProcessGroup.backends.includes('gloo'), 'this build has no c10d Gloo (libgloo-dev was missing when it was built)')
)
  process.exit(0);

const RANK = path.join(__dirname, 'fixtures', 'collective-rank.js');
const lastLine = (text) => JSON.parse(text.trim().split('\n').pop());

async function runJob(spec) {
  const ranks = await startRanks([RANK, JSON.stringify(spec)], 2);
  const exits = await Promise.all(ranks.map((r) => r.exit));
  return exits;
}

t.test('un-awaited steps and group calls on 2 ranks give the results of the awaited sequence', async (t) => {
  const base = { model: modelPath('mc3_18'), timeoutMs: 20000 };
  const awaited = await runJob({ ...base, mode: 'awaited' });
  t.same(
    awaited.map((e) => e.code),
    [0, 0],
    `the awaited job ran (${awaited.map((e) => e.stderr).join('')})`,
  );
  const interleaved = await runJob({ ...base, mode: 'interleaved' });
  t.same(
    interleaved.map((e) => e.code),
    [0, 0],
    `the interleaved job ran, no hang or mismatched collective (${interleaved.map((e) => e.stderr).join('')})`,
  );
  if (awaited.some((e) => e.code !== 0) || interleaved.some((e) => e.code !== 0)) return;
  for (const rank of [0, 1]) {
    const expected = lastLine(awaited[rank].stdout);
    const got = lastLine(interleaved[rank].stdout);
    t.same(got.sums, [3, 10], `rank ${rank}: the allreduce summed the two ranks' own values`);
    t.same(got.sums, expected.sums);
    t.same(got.gathered, expected.gathered, `rank ${rank}: the allgather`);
    for (const k of [0, 1]) {
      t.ok(Math.abs(got.losses[k] - expected.losses[k]) <= 1e-6, `rank ${rank}: step ${k}'s loss ${got.losses[k]} = ${expected.losses[k]}`);
    }
    const worst = Math.max(...got.probe.map((v, i) => Math.abs(v - expected.probe[i])));
    t.ok(worst <= 1e-5, `rank ${rank}: the weights after both steps are the awaited ones (max |diff| ${worst})`);
  }
});

t.test('a failed distributed step leaves the trainer refusing further use, naming the first failure', async (t) => {
  const spec = { model: modelPath('mc3_18'), timeoutMs: 20000, mode: 'torn' };
  const ranks = await startRanks([RANK, JSON.stringify(spec)], 2);
  await waitForLine(ranks[0], /"step":0/);
  ranks[1].child.kill('SIGKILL');
  const exit = await ranks[0].exit;
  const report = lastLine(exit.stdout);
  t.equal(report.first.code, 'ERR_DISTRIBUTED', `the failing step: ${report.first.message}`);
  t.match(report.first.message, /rank 1 has stopped/);
  t.equal(report.second?.code, 'ERR_DISTRIBUTED', 'the next step is refused');
  t.match(report.second?.message, /this trainer cannot be used after a failed distributed step/);
  t.ok(report.second?.message.includes(report.first.message.slice(0, 60)), 'naming the first failure');
});

t.test('disposing a job whose peer stopped answering never blocks the event loop', async (t) => {
  // Rank 1 stops taking part after rank 0's step has queued its gradient allreduces: each waits for the
  // collective timeout, and Gloo drains them all before a group can be torn down. That wait belongs on
  // the executors, not on the JS thread (dispose(), or the last job's settling).
  const spec = { model: modelPath('mc3_18'), timeoutMs: 3000, mode: 'teardown' };
  const ranks = await startRanks([RANK, JSON.stringify(spec)], 2);
  t.teardown(() => ranks[1].child.kill('SIGKILL'));
  const exit = await ranks[0].exit;
  const report = lastLine(exit.stdout);
  t.equal(report.first.code, 'ERR_DISTRIBUTED', report.first.message);
  const { p99, max } = report.delayMs;
  t.ok(p99 < 50, `event-loop delay p99 ${p99.toFixed(1)} ms < 50 ms (max ${max.toFixed(1)} ms)`);
  t.ok(max < 1500, `event-loop delay max ${max.toFixed(1)} ms: no teardown ran on the JS thread`);
});

t.test('process.exit() while a collective waits on a silent peer ends the process with its code, in bounded time', async (t) => {
  // The collective's timeout is a minute; exit waits for running native work 3 s at most, then ends the
  // process without the static destructors that would run under the stuck collective.
  const spec = { model: modelPath('mc3_18'), timeoutMs: 60000, mode: 'exit' };
  const ranks = await startRanks([RANK, JSON.stringify(spec)], 2);
  t.teardown(() => ranks[1].child.kill('SIGKILL'));
  const exit = await ranks[0].exit;
  const { exiting } = lastLine(exit.stdout);
  const seconds = (Date.now() - exiting) / 1000;
  t.equal(exit.code, 3, 'the exit code process.exit() was given');
  t.equal(exit.signal, null, 'no crash');
  t.ok(seconds < 20, `it ended ${seconds.toFixed(1)} s after process.exit() (the collective's timeout is 60 s)`);
});
