#!/usr/bin/env node
// Data-parallel scaling on this machine, the distributed issue's measure: Trainer.step clips/s for
// 2 ranks x 1 intra-op thread (c10d Gloo over loopback, per-rank batch B) against 1 rank x 2 threads
// (batch 2B, the same global batch), and the gradient allreduce: its time per step (every bucket
// allreduced after backward, nothing to hide behind) and what is left exposed when buckets go out as
// backward fills them (DDP's overlap), so the share hidden behind backward.
//
//   node scripts/bench-scaling.js [--arch r3d_18] [--batch 4] [--iters 3] [--json FILE]
// (npm run bench runs it too; --no-scaling skips it there.)
//
// Each configuration is its own set of processes (scripts/bench-scaling-rank.js), started with the
// environment torchrun gives; ranks run one warm-up step, then --iters timed steps.
'use strict';
if (require.main === module) {
  require('./bench-alone').usageIfAsked('node scripts/bench-scaling.js [--arch r3d_18] [--batch 4] [--iters 3] [--json FILE]');
}
const { spawn } = require('node:child_process');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const RANK_SCRIPT = path.join(__dirname, 'bench-scaling-rank.js');
const { freePort } = require(path.join(ROOT, 'dist', 'internal.js'));
const { torchrunEnvironment } = require(path.join(ROOT, 'dist', 'internal.js'));

async function runRanks(world, threads, spec) {
  const port = await freePort();
  const runs = [...Array(world).keys()].map(
    (rank) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [RANK_SCRIPT, JSON.stringify(spec)], {
          env: {
            ...torchrunEnvironment({ rank, worldSize: world, masterAddr: '127.0.0.1', masterPort: port }),
            OMP_NUM_THREADS: String(threads),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        let stdout = '';
        child.stdout.on('data', (chunk) => (stdout += chunk));
        child.on('close', (code) =>
          code === 0 ? resolve(JSON.parse(stdout.trim().split('\n').pop())) : reject(new Error(`rank ${rank} exited with ${code}`)),
        );
      }),
  );
  return Promise.all(runs);
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The three configurations and what they say; prints a block and returns its numbers. */
async function benchScaling({ arch = 'r3d_18', batch = 4, iters = 3 } = {}) {
  const model = path.join(ROOT, 'models', `${arch}.pt`);
  const spec = { model, iters };
  const [single] = await runRanks(1, 2, { ...spec, batch: 2 * batch });
  const overlapped = await runRanks(2, 1, { ...spec, batch, overlap: true });
  const afterBackward = await runRanks(2, 1, { ...spec, batch, overlap: false });
  // The job's rate: the global batch over the slower rank's median step.
  const rate = (ranks, clips) => clips / (Math.max(...ranks.map((r) => median(r.stepMs))) / 1000);
  const oneRank = rate([single], 2 * batch);
  const twoRanks = rate(overlapped, 2 * batch);
  const allreduceMs = median(afterBackward.flatMap((r) => r.exposedMs));
  const exposedMs = median(overlapped.flatMap((r) => r.exposedMs));
  const result = {
    arch,
    globalBatch: 2 * batch,
    clip: [3, 16, 112, 112],
    oneRankTwoThreadsClipsPerSec: oneRank,
    twoRanksOneThreadClipsPerSec: twoRanks,
    twoRanksNoOverlapClipsPerSec: rate(afterBackward, 2 * batch),
    efficiency: twoRanks / oneRank,
    buckets: overlapped[0].buckets,
    gradientMb: overlapped[0].gradientBytes / 2 ** 20,
    allreduceMsPerStep: allreduceMs,
    exposedMsPerStep: exposedMs,
    hiddenShare: allreduceMs > 0 ? Math.max(0, 1 - exposedMs / allreduceMs) : undefined,
  };
  console.log(
    `data-parallel scaling, ${arch} Trainer.step, global batch ${2 * batch} of 16x112x112 (c10d Gloo on loopback):\n` +
      `  1 rank x 2 threads: ${oneRank.toFixed(3)} clips/s | 2 ranks x 1 thread: ${twoRanks.toFixed(3)} clips/s` +
      ` = efficiency ${result.efficiency.toFixed(2)} (target >= 0.9)\n` +
      `  gradient allreduce: ${result.gradientMb.toFixed(1)} MB in ${result.buckets} buckets, ${allreduceMs.toFixed(1)} ms per step ` +
      `after backward; ${exposedMs.toFixed(1)} ms left exposed when launched during backward = ` +
      `${((result.hiddenShare ?? 0) * 100).toFixed(0)}% hidden`,
  );
  return result;
}

module.exports = { benchScaling };

if (require.main === module) {
  const { runAlone } = require('./bench-alone');
  runAlone(benchScaling, (values, number) => ({
    arch: values.arch,
    batch: number(values.batch),
    iters: number(values.iters),
  }));
}
