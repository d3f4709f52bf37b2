#!/usr/bin/env node
// CUDA checks of the distributed engine and of bf16 at load, in plain Node (test/gpu/harness.js). Run on
// a GPU machine after scripts/gpu-check.sh has built the CUDA addon:
//
//   TORCHVIDEO_ADDON=build-cuda/Release/torchvideo.node [PYTHON=python3] node test/gpu/distributed-check.js
//
// On one GPU (ranks are processes of test/fixtures/distributed-trainer.js, r3d_18, 4x32x32 clips):
// - NCCL, where this build has it, in a job of one on cuda:0: the collectives answer, and a Trainer
//   step through the group ends where a step without one does;
// - two ranks sharing cuda:0 over Gloo (NCCL refuses two ranks on one GPU): after 3 steps both hold
//   bit-identical weights, equal to one rank at the whole batch (freezeBackbone: no batch-norm statistics
//   that depend on how the batch is split); every gradient bucket was reduced while backward ran;
// - two ranks asking NCCL on one GPU are both refused at join (ERR_DISTRIBUTED naming them), no hang;
// - loadModel(fp32, { device: 'cuda', precision: 'bf16' }): top-1 agrees with float32 on random clips,
//   logits within bf16's tolerance; ms per clip beside float32 and float16 (options.half).
// Ends with `distributed-gpu-check: N passed, N failed`; without CUDA it prints `no CUDA device: skipped`.
'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const { loadModel, Tensor, cuda } = require(ROOT);
const { ProcessGroup } = require(path.join(ROOT, 'dist', 'internal.js'));
const { tempDir } = require(path.join(ROOT, 'test', 'helpers', 'paths'));
const { randomFloats, maxAbsDiff } = require(path.join(ROOT, 'test', 'helpers', 'numbers'));
const { compareExports } = require(path.join(ROOT, 'test', 'helpers', 'training'));
const { freePort, startRanks } = require(path.join(ROOT, 'test', 'helpers', 'distributed'));
const { gpuChecks } = require('./harness');

const MODELS = process.env.TORCHVIDEO_MODELS ? path.resolve(process.env.TORCHVIDEO_MODELS) : path.join(ROOT, 'models');
const MODEL = path.join(MODELS, 'r3d_18.pt');
const PYTHON = process.env.PYTHON || 'python3';
const compare = (a, b) => compareExports(a, b, PYTHON);
const WORKER = path.join(ROOT, 'test', 'fixtures', 'distributed-trainer.js');
// Same weights within float32 rounding of sums taken in another order (TF32 convolutions on top).
const TOL_SAME_JOB = 1e-3;
const TOL_ONE_STEP = 1e-4;
const TOL_BF16_LOGITS = 0.1; // relative to the largest |logit|
const { check, run } = gpuChecks('distributed-gpu-check');

/** Runs `world` fixture ranks on the GPU; resolves with each rank's JSON result, or rejects with its stderr. */
async function ranks(dir, tag, spec, world, { killAfterMs = 120000 } = {}) {
  const out = path.join(dir, tag);
  fs.mkdirSync(out, { recursive: true });
  const started = await startRanks([WORKER, JSON.stringify({ model: MODEL, out, device: 'cuda', ...spec })], world);
  const timer = setTimeout(() => started.forEach((r) => r.child.kill('SIGKILL')), killAfterMs);
  const exits = await Promise.all(started.map((r) => r.exit));
  clearTimeout(timer);
  return { out, exits };
}

function results({ exits }) {
  return exits.map((exit, rank) => {
    if (exit.code !== 0) throw new Error(`rank ${rank} exited ${exit.code ?? exit.signal}: ${exit.stderr.trim()}`);
    return JSON.parse(exit.stdout.trim().split('\n').pop());
  });
}

async function timeForward(model, clips, iterations) {
  (await model.forward(clips)).dispose();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) (await model.forward(clips)).dispose();
  return Number(process.hrtime.bigint() - start) / 1e6 / iterations / clips.shape[0];
}

async function main() {
  if (!cuda.isAvailable()) {
    console.log('no CUDA device: skipped');
    return;
  }
  if (!fs.existsSync(MODEL)) throw new Error(`${MODEL} is missing: run scripts/export_models.py --arch all`);
  const { backends } = ProcessGroup;
  const nccl = backends.includes('nccl');
  const gloo = backends.includes('gloo');
  console.log(`distributed engines in this build: ${backends.join(', ') || 'none'}; ${cuda.deviceCount()} GPU(s)`);
  const dir = tempDir('torchvideo-distributed-gpu-');
  try {
    await check('NCCL in a job of one on cuda:0: allreduce, allgather and barrier answer', async () => {
      if (!nccl) return 'skipped: this build has no NCCL (no nccl.h or ProcessGroupNCCL.hpp at build time)';
      const where = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort() };
      const group = await ProcessGroup.join(where, { device: 'cuda', timeoutMs: 60000 });
      const { backend } = group;
      try {
        assert.equal(group.backend, 'nccl');
        assert.deepEqual(await group.allreduceSum([1.5, -2, 3]), [1.5, -2, 3]);
        assert.deepEqual(await group.allgather({ rank: 0 }), [{ rank: 0 }]);
        await group.barrier();
      } finally {
        group.dispose();
      }
      return `backend ${backend}`;
    });

    await check('a Trainer step through NCCL (world 1) ends where a step without a group does', async () => {
      if (!nccl) return 'skipped: no NCCL in this build';
      // One step: the weights are then w - lr * g, so a gradient the reduction got wrong shows at once,
      // while cuDNN's run-to-run differences (benchmark mode, TF32) stay near float32 rounding.
      const [through] = results(await ranks(dir, 'nccl-1', { steps: 1, globalBatch: 4, backend: 'nccl' }, 1));
      results(await ranks(dir, 'alone-1', { steps: 1, globalBatch: 4 }, 1)); // throws when the rank failed
      assert.equal(through.backend, 'nccl');
      const diff = compare(path.join(dir, 'nccl-1', 'rank-0.pt'), path.join(dir, 'alone-1', 'rank-0.pt')).maxAbsDiff;
      assert.ok(diff <= TOL_ONE_STEP, `one step: max abs weight diff ${diff}`);
      // Three steps, for scale: how far two runs without any group drift apart beside the NCCL run.
      const spec = { steps: 3, globalBatch: 4 };
      results(await ranks(dir, 'nccl-3', { ...spec, backend: 'nccl' }, 1));
      results(await ranks(dir, 'alone-3', spec, 1));
      results(await ranks(dir, 'alone-3b', spec, 1));
      const drift = compare(path.join(dir, 'nccl-3', 'rank-0.pt'), path.join(dir, 'alone-3', 'rank-0.pt')).maxAbsDiff;
      const noise = compare(path.join(dir, 'alone-3b', 'rank-0.pt'), path.join(dir, 'alone-3', 'rank-0.pt')).maxAbsDiff;
      const { allreduce } = through.results[0];
      return (
        `one step: max abs weight diff ${diff}; ${allreduce.buckets} buckets, ${allreduce.duringBackward} during backward, ` +
        `${allreduce.exposedMs.toFixed(2)} ms exposed; three steps: NCCL vs alone ${drift}, alone vs alone again ${noise}`
      );
    });

    await check('2 ranks sharing cuda:0 over Gloo: bit-identical weights, equal to 1 rank at the whole batch', async () => {
      if (!gloo) return 'skipped: this build has no Gloo (no gloo headers at build time)';
      const spec = { steps: 3, globalBatch: 8, freezeBackbone: true, lr: 0.5, backend: 'gloo' };
      const two = results(await ranks(dir, 'gloo-2', spec, 2));
      results(await ranks(dir, 'gloo-1', { ...spec, backend: undefined }, 1));
      assert.deepEqual(
        two.map((r) => r.backend),
        ['gloo', 'gloo'],
      );
      const same = compare(path.join(dir, 'gloo-2', 'rank-0.pt'), path.join(dir, 'gloo-2', 'rank-1.pt'));
      assert.ok(Object.values(same.parameters).every(Boolean), 'every parameter bit-identical across ranks');
      const diff = compare(path.join(dir, 'gloo-2', 'rank-0.pt'), path.join(dir, 'gloo-1', 'rank-0.pt')).maxAbsDiff;
      assert.ok(diff <= TOL_SAME_JOB, `2 ranks vs 1: max abs weight diff ${diff}`);
      const { allreduce } = two[0].results[2];
      assert.equal(allreduce.duringBackward, allreduce.buckets, 'every bucket reduced during backward');
      const losses = two.map((r) => r.results.map((s) => s.loss.toFixed(4)).join(' '));
      return `2 ranks vs 1: max abs weight diff ${diff}; ${allreduce.buckets} buckets; losses rank 0 ${losses[0]}, rank 1 ${losses[1]}`;
    });

    await check('a build without Gloo names what CPU ranks need', async () => {
      if (gloo) return 'skipped: this build has Gloo';
      const where = { rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: await freePort() };
      await assert.rejects(ProcessGroup.join(where), {
        code: 'ERR_DISTRIBUTED',
        message: /has NCCL only, for CUDA devices: it was built without Gloo's headers, which CPU ranks need/,
      });
      return 'ERR_DISTRIBUTED, naming libgloo-dev and GLOO_INCLUDE_DIR';
    });

    await check('2 ranks asking NCCL on one GPU: both refused at join, naming the ranks', async () => {
      if (!nccl) return 'skipped: no NCCL in this build';
      const started = Date.now();
      const spec = { steps: 2, globalBatch: 4, backend: 'nccl', timeoutMs: 20000 };
      const job = await ranks(dir, 'nccl-2', spec, 2, { killAfterMs: 60000 });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      const stderr = job.exits.map((e) => e.stderr.trim()).join(' | ');
      assert.deepEqual(
        job.exits.map((e) => e.code ?? e.signal),
        [1, 1],
        stderr,
      );
      for (const exit of job.exits) {
        assert.match(exit.stderr, /ranks 0 and 1 share one GPU on .* \(GPU [0-9a-f]{32}\): NCCL needs a GPU of its own for each rank/);
        assert.match(exit.stderr, /ERR_DISTRIBUTED/);
      }
      return `both exit 1 after ${seconds} s: ${job.exits[1].stderr.trim().split('\n').pop().slice(0, 240)}`;
    });

    await check("loadModel(fp32, { device: 'cuda', precision: 'bf16' }) agrees with float32; ms/clip beside fp32 and fp16", async () => {
      const shape = [8, 3, 16, 112, 112];
      const clips = Tensor.from(
        randomFloats(
          shape.reduce((a, b) => a * b, 1),
          7,
        ),
        shape,
      );
      const fp32 = await loadModel(MODEL, { device: 'cuda' });
      const bf16 = await loadModel(MODEL, { device: 'cuda', precision: 'bf16' });
      const fp16 = await loadModel(MODEL, { device: 'cuda', half: true });
      try {
        assert.equal(bf16.info.precision, 'bf16');
        const [a, b] = [await fp32.forward(clips), await bf16.forward(clips)];
        assert.equal(b.dtype, 'float32', 'bf16 returns float32 logits');
        const [x, y] = [(await a.to('cpu')).data(), (await b.to('cpu')).data()];
        const scale = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
        const diff = maxAbsDiff(x, y);
        const classes = x.length / shape[0];
        const top = (data, i) => {
          const row = data.subarray(i * classes, (i + 1) * classes);
          return row.indexOf(Math.max(...row));
        };
        const agree = [...Array(shape[0]).keys()].filter((i) => top(x, i) === top(y, i)).length;
        assert.ok(diff <= TOL_BF16_LOGITS * scale, `max |logit diff| ${diff} vs largest |logit| ${scale}`);
        const ms = {};
        for (const [name, model] of [
          ['fp32', fp32],
          ['bf16', bf16],
          ['fp16', fp16],
        ])
          ms[name] = await timeForward(model, clips, 10);
        return (
          `top-1 agrees on ${agree}/${shape[0]}; max |logit diff| ${diff.toExponential(2)} (largest |logit| ${scale.toFixed(3)}); ` +
          `ms/clip at batch 8: fp32 ${ms.fp32.toFixed(3)}, bf16 ${ms.bf16.toFixed(3)}, fp16 ${ms.fp16.toFixed(3)}`
        );
      } finally {
        for (const m of [fp32, bf16, fp16]) m.dispose();
        clips.dispose();
      }
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

run(main);
