#!/usr/bin/env node
// Serving, side by side (issue 16): concurrent single-clip callers of r3d_18 (16x112x112) on this machine.
//
// In-process: at 1 / 4 / 16 concurrent callers, clips/s and p50 / p99 latency through a batcher
// (model.batcher(), maxDelayMs 0) and through plain model.forward, beside the network alone at its best
// batch (the ceiling: forward of B stacked clips, best ms/clip over B in 1, 4, 8, 16).
// Over HTTP (`torchvideo serve`'s server on 127.0.0.1, loaded with autocannon): KServe v2 binary infer at
// the same concurrencies against the in-process batcher, JSON infer beside it, the video classify route
// beside classifyVideo in-process, and an overload run at 4x the sustainable rate: share of 503s, p99 of
// the accepted requests, time to answer a 503, RSS before / after.
//
//   node scripts/bench-serve.js [--arch r3d_18] [--device cpu] [--precision fp32] [--callers 1,4,16]
//                               [--rounds 3] [--no-http] [--json FILE]
// (npm run bench runs it too; --no-serve skips it there, --serve runs only it.)
// Each caller sends `rounds` requests per batch-size's worth of callers (at least 8 in all per row).
'use strict';
if (require.main === module) {
  require('./bench-alone').usageIfAsked(
    'node scripts/bench-serve.js [--arch r3d_18] [--device cpu] [--precision fp32] [--callers 1,4,16] [--rounds 3] [--no-http] [--json FILE]',
  );
}
const fs = require('node:fs');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const { loadModel, Tensor } = require(ROOT);
const CLIP = [3, 16, 112, 112];

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function randomClip(seed) {
  const values = new Float32Array(CLIP.reduce((a, b) => a * b, 1));
  let state = seed >>> 0;
  for (let i = 0; i < values.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2 ** 32 - 0.5;
  }
  return values;
}

// `callers` concurrent loops, `total` calls in all, each `call(i)` one request: clips/s and latency.
async function load(callers, total, call) {
  const latencies = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: callers }, async () => {
      while (next < total) {
        const i = next++;
        const t0 = performance.now();
        await call(i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { clipsPerSec: total / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), requests: total };
}

async function networkAlone(model, clip, batches, iters) {
  let best = { batch: 0, msPerClip: Infinity };
  const rows = [];
  for (const batch of batches) {
    const input = Tensor.from(
      new Float32Array(batch * clip.length).map((_, i) => clip[i % clip.length]),
      [batch, ...CLIP],
    );
    (await model.forward(input)).dispose();
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) (await model.forward(input)).dispose();
    const msPerClip = (performance.now() - t0) / iters / batch;
    rows.push({ batch, msPerClip });
    if (msPerClip < best.msPerClip) best = { batch, msPerClip };
    input.dispose();
  }
  return { best, rows };
}

/**
 * The in-process rows; returns what it printed, as numbers.
 * @param {{ arch?: string, device?: string, precision?: string, callers?: number[], rounds?: number }} options
 */
async function benchInProcess({ arch = 'r3d_18', device = 'cpu', precision, callers = [1, 4, 16], rounds = 3 } = {}) {
  const model = await loadModel(path.join(ROOT, 'models', `${arch}.pt`), { device, ...(precision ? { precision } : {}) });
  const clip = randomClip(1);
  const maxBatch = Math.max(...callers);
  const alone = await networkAlone(
    model,
    clip,
    [1, 4, 8, maxBatch].filter((b, i, all) => all.indexOf(b) === i),
    2,
  );
  const ceiling = 1000 / alone.best.msPerClip;
  console.log(
    `${arch} 16x112x112 on ${device}, network alone: ` +
      alone.rows.map((r) => `batch ${r.batch} ${r.msPerClip.toFixed(1)} ms/clip`).join(', ') +
      ` -> best ${ceiling.toFixed(2)} clips/s at batch ${alone.best.batch}`,
  );
  const rows = [];
  // Each batcher row runs one untimed round first: the optimized graph specializes on each new batch size
  // (its first run at a size is ~1.5x slower), which a long-running service pays once per size.
  const batcherRow = async (c, total, inputs, maxDelayMs) => {
    const batcher = model.batcher({ maxBatchSize: maxBatch, maxQueueClips: 4 * maxBatch, maxDelayMs });
    await load(c, total, async (i) => (await batcher.forward(inputs[i])).dispose());
    const before = batcher.stats().batchSizes;
    const timed = await load(c, total, async (i) => (await batcher.forward(inputs[i])).dispose());
    const sizes = batcher.stats().batchSizes;
    for (const size of Object.keys(sizes)) sizes[size] -= before[size] ?? 0;
    await batcher.close();
    return { ...timed, batchSizes: Object.fromEntries(Object.entries(sizes).filter(([, n]) => n > 0)) };
  };
  const text = (r) => `${r.clipsPerSec.toFixed(2).padStart(6)} ${r.p50.toFixed(0)}/${r.p99.toFixed(0)}`;
  console.log(
    'callers | plain forward clips/s p50/p99 ms | batcher (maxDelayMs 0) clips/s p50/p99 ms, batch sizes | / plain | / network alone | batcher (maxDelayMs 20) | / network alone',
  );
  for (const c of callers) {
    const total = Math.max(8, rounds * c);
    // Each call sends its own copy (as separate callers would); the copy is made before the clock.
    const inputs = Array.from({ length: total }, () => Tensor.from(clip.slice(), CLIP));
    const plain = await load(c, total, async (i) => (await model.forward([inputs[i]])).dispose());
    const batched = await batcherRow(c, total, inputs, 0);
    const delayed = await batcherRow(c, total, inputs, 20);
    inputs.forEach((t) => t.dispose());
    rows.push({ callers: c, plain, batcher: batched, delayed, ceiling });
    console.log(
      `${String(c).padStart(7)} | ${text(plain)} | ${text(batched)} ${JSON.stringify(batched.batchSizes)} | ` +
        `${(batched.clipsPerSec / plain.clipsPerSec).toFixed(2)}x | ${(batched.clipsPerSec / ceiling).toFixed(2)}x | ` +
        `${text(delayed)} ${JSON.stringify(delayed.batchSizes)} | ${(delayed.clipsPerSec / ceiling).toFixed(2)}x` +
        (c === maxBatch ? ' (target >= 0.95x, never below plain)' : ''),
    );
  }
  model.dispose();
  return { arch, device, networkAlone: alone, rows };
}

async function benchServe(options = {}) {
  const inProcess = await benchInProcess(options);
  let http;
  if (options.http !== false) http = await require('./bench-serve-http').benchHttp({ ...options, inProcess });
  return { inProcess, http };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string' },
      device: { type: 'string' },
      precision: { type: 'string' },
      callers: { type: 'string' },
      rounds: { type: 'string' },
      'no-http': { type: 'boolean', default: false },
      json: { type: 'string' },
    },
  });
  benchServe({
    arch: values.arch,
    device: values.device,
    precision: values.precision,
    callers: values.callers?.split(',').map(Number),
    rounds: values.rounds === undefined ? undefined : Number(values.rounds),
    http: !values['no-http'],
  }).then(
    (result) => values.json && fs.writeFileSync(values.json, JSON.stringify(result, null, 2)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

module.exports = { benchServe, benchInProcess, load, percentile, randomClip, CLIP };
