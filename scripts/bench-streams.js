#!/usr/bin/env node
// Streams held in real time: how many live 320x240 sources at 25 fps one process classifies without
// falling behind. N copies of a 20 s H.264 file are read with classifyStream's `realtime: true` (paced at
// their timestamps, like ffmpeg -re), hop 1 s, 16 frames at 15 fps, all through one model.batcher() so
// windows of different streams share forward passes. For r3d_18 fp32 and int8, N goes 1, 2, 3, 4, 6, 8,
// 10, 12, ... and stops at the first N that fails; each N runs on fresh streams, started a hop / N apart
// (cameras are not in step), and is measured for --span seconds after a warm-up window.
//
// Per N: windows dropped in the span, p50 / p99 latencyMs, mean decodeMs and inferenceMs per window (the
// result fields; — on a build without them), the mean forward pass in ms (the batcher's onBatch) and clips
// per forward pass (batcher stats), the process's
// CPU share of all cores, and lag: how much further the newest decoded frame fell behind wall-clock time
// over the span. A file read with `realtime` never loses input when its decode thread falls behind (a
// network source would: the socket's buffer overflows), it only lags, and latencyMs (counted from the
// decode) does not show it; so N holds when nothing was dropped, p99 latency < hop, and lag grew < hop.
//
//   node scripts/bench-streams.js [--models fp32,int8] [--streams 1,2,3,4,6,8,10,12,16] [--span 15]
//                                 [--quick] [--json FILE]
// (npm run bench runs it too; --no-streams skips it there, --streams runs only it, --streams-quick or
// TORCHVIDEO_BENCH_STREAMS_QUICK=1 shortens it to a smoke run: a 4 s span, N up to 4.)
'use strict';
if (require.main === module) {
  require('./bench-alone').usageIfAsked(
    'node scripts/bench-streams.js [--models fp32,int8] [--streams 1,2,3,4,6,8,10,12,16] [--span 15] [--quick] [--json FILE]',
  );
}
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { parseArgs } = require('node:util');

const ROOT = path.resolve(__dirname, '..');
const { loadModel, classifyStream, Tensor } = require(ROOT);
const { percentile } = require('./bench-serve');
const PYTHON = process.env.PYTHON || '/usr/bin/python3';
// bench-precision.js makes its exports there with these arguments: the same call reuses its int8 file.
const { PRECISION_OUT, INT8_EXPORT_ARGS } = require('./bench-precision');

const HOP_SEC = 1;
const STREAM_OPTIONS = { clipLength: 16, frameRate: 15, hopSec: HOP_SEC, topk: 1, realtime: true, stallTimeoutMs: 30_000 };
const SOURCE_SECONDS = 20;
const DEFAULT_STREAM_COUNTS = [1, 2, 3, 4, 6, 8, 10, 12, 16];
const QUICK_STREAM_COUNTS = [1, 2, 4];
// The first window ends 16 / 15 s into a stream; one more hop lets the batch sizes settle.
const WARMUP_SEC = 16 / 15 + HOP_SEC + 0.5;

// A 320x240, 25 fps H.264 file of SOURCE_SECONDS, GOP of 2 s as a camera sends it.
function makeSource(dir) {
  const file = path.join(dir, 'live-320x240-25fps.mp4');
  execFileSync('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=size=320x240:rate=25:duration=${SOURCE_SECONDS}`],
    ...['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-g', '50', file],
  ]);
  return file;
}

// The fp32 export from scripts/setup.sh; the int8 one from models/ when there, else bench-precision's.
function modelFile(precision) {
  if (precision === 'fp32') return path.join(ROOT, 'models', 'r3d_18.pt');
  for (const dir of [path.join(ROOT, 'models'), PRECISION_OUT]) {
    const file = path.join(dir, `r3d_18-${precision}.pt`);
    if (fs.existsSync(file)) return file;
  }
  if (precision !== 'int8') throw new Error(`no r3d_18-${precision}.pt in models/ or ${PRECISION_OUT}`);
  fs.mkdirSync(PRECISION_OUT, { recursive: true });
  execFileSync(PYTHON, [path.join(ROOT, 'scripts', 'export_models.py'), '--arch', 'r3d_18', '--out', PRECISION_OUT, ...INT8_EXPORT_ARGS], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return path.join(PRECISION_OUT, 'r3d_18-int8.pt');
}

// Runs each batch size up to `upTo` twice through the batcher (one request of that many clips is one
// forward pass of that size, on the batcher's thread): the optimized graph specializes on each new batch
// size (its first runs at a size are slower), which a long-running service pays once.
async function warmBatchSizes(batcher, model, warmed, upTo) {
  const [height, width] = model.info.preprocessing.cropSize;
  const clip = [3, STREAM_OPTIONS.clipLength, height, width];
  for (let batch = warmed + 1; batch <= upTo; batch++) {
    const input = Tensor.from(new Float32Array(batch * clip.reduce((a, b) => a * b, 1)).fill(0.1), [batch, ...clip]);
    for (let i = 0; i < 2; i++) (await batcher.forward(input)).dispose();
    input.dispose();
  }
  return Math.max(warmed, upTo);
}

const mean = (xs) => (xs.length === 0 ? NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

// N streams through `batcher` for warm-up + span seconds; what was measured in the span.
async function holdStreams(batcher, passes, source, streamCount, spanSec) {
  // A signal per stream, as separate sources have: one shared by all would carry a listener per stream and
  // per queued forward pass, and Node warns past 10 (MaxListenersExceededWarning).
  const streams = Array.from({ length: streamCount }, () => ({ results: [], controller: new AbortController() }));
  const started = performance.now();
  const loops = streams.map(async (stream, i) => {
    // Started a hop / N apart: unsynchronized cameras, whose windows are not all due at once.
    await new Promise((resolve) => setTimeout(resolve, (i * HOP_SEC * 1000) / streamCount));
    try {
      for await (const r of classifyStream(batcher, source, { ...STREAM_OPTIONS, signal: stream.controller.signal })) {
        stream.results.push({ ...r, at: performance.now() });
      }
    } catch (error) {
      if (error.name !== 'AbortError') throw error;
    }
  });
  const spanStart = started + (HOP_SEC + WARMUP_SEC) * 1000;
  const spanEnd = spanStart + spanSec * 1000;
  await new Promise((resolve) => setTimeout(resolve, spanStart - performance.now()));
  const statsBefore = batcher.stats();
  const cpuBefore = process.cpuUsage();
  await new Promise((resolve) => setTimeout(resolve, spanEnd - performance.now()));
  const cpu = process.cpuUsage(cpuBefore);
  const statsAfter = batcher.stats();
  for (const stream of streams) stream.controller.abort();
  await Promise.all(loops);

  const inSpan = [];
  let dropped = 0;
  let lagGrowthMs = 0;
  let starved = 0; // streams that gave no result in the span at all
  for (const { results } of streams) {
    const before = results.filter((r) => r.at < spanStart).at(-1);
    const during = results.filter((r) => r.at >= spanStart && r.at < spanEnd);
    if (during.length === 0) {
      starved++;
      continue;
    }
    inSpan.push(...during);
    dropped += during.at(-1).dropped - (before?.dropped ?? 0);
    // When the window's last frame was decoded, against where it sits in the stream.
    const lag = (r) => r.at - r.latencyMs - r.endSec * 1000;
    lagGrowthMs = Math.max(lagGrowthMs, lag(during.at(-1)) - lag(before ?? during[0]));
  }
  const latencies = inSpan.map((r) => r.latencyMs).sort((a, b) => a - b);
  const batches = statsAfter.batches - statsBefore.batches;
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  return {
    streams: streamCount,
    windows: inSpan.length,
    // Every stream should give one window per hop of the span.
    expectedWindows: Math.floor(spanSec / HOP_SEC) * streamCount,
    starved,
    dropped,
    p50LatencyMs: percentile(latencies, 50),
    p99LatencyMs: percentile(latencies, 99),
    decodeMs: mean(inSpan.map((r) => r.decodeMs ?? NaN)),
    inferenceMs: mean(inSpan.map((r) => r.inferenceMs ?? NaN)),
    // Forward passes that ended in the span: ms each (windows of several streams in one pass).
    forwardMs: mean(passes.filter((p) => p.at >= spanStart && p.at < spanEnd).map((p) => p.computeMs)),
    meanBatch: batches > 0 ? (statsAfter.clips - statsBefore.clips) / batches : NaN,
    cpuShare: cpuSec / spanSec / os.availableParallelism(),
    lagGrowthMs,
  };
}

function holds(row) {
  return row.starved === 0 && row.dropped === 0 && row.p99LatencyMs < HOP_SEC * 1000 && row.lagGrowthMs < HOP_SEC * 1000;
}

/**
 * The table; returns its rows and, per precision, the largest N held.
 * @param {{ precisions?: string[], streamCounts?: number[], spanSec?: number }} options
 */
async function benchStreams({ precisions = ['fp32', 'int8'], streamCounts, spanSec, quick = false } = {}) {
  streamCounts ??= quick ? QUICK_STREAM_COUNTS : DEFAULT_STREAM_COUNTS;
  spanSec ??= quick ? 4 : 15;
  if (spanSec + HOP_SEC + WARMUP_SEC + HOP_SEC > SOURCE_SECONDS)
    throw new RangeError(`--span ${spanSec} s outlasts the ${SOURCE_SECONDS} s source`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchvideo-bench-streams-'));
  const rows = [];
  const held = {};
  try {
    const source = makeSource(dir);
    console.log(
      `streams held in real time: r3d_18, 320x240 H.264 at 25 fps read with realtime, hop ${HOP_SEC} s, ` +
        `${STREAM_OPTIONS.clipLength} frames at ${STREAM_OPTIONS.frameRate} fps, one batcher, ${os.availableParallelism()} cores, ` +
        `${spanSec} s measured per N after ${(HOP_SEC + WARMUP_SEC).toFixed(1)} s of warm-up` +
        `; holds = no drops, p99 latency < hop, lag growth < hop` +
        (quick ? ' (quick: a smoke run, not a measurement)' : ''),
    );
    console.log('');
    console.log(
      '| model | streams | windows | dropped | p50 ms | p99 ms | decode ms | inference ms | forward ms | clips/batch | CPU | lag + ms | holds |',
    );
    console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const precision of precisions) {
      const model = await loadModel(modelFile(precision));
      const passes = [];
      const batcher = model.batcher({
        maxBatchSize: Math.max(...streamCounts),
        maxQueueClips: 4 * Math.max(...streamCounts),
        onBatch: ({ computeMs }) => passes.push({ at: performance.now(), computeMs }),
      });
      let warmed = 0;
      held[precision] = 0;
      for (const streamCount of streamCounts) {
        warmed = await warmBatchSizes(batcher, model, warmed, streamCount);
        passes.length = 0;
        const row = { model: `r3d_18 ${precision}`, precision, ...(await holdStreams(batcher, passes, source, streamCount, spanSec)) };
        row.holds = holds(row);
        rows.push(row);
        const f = (x, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '—');
        console.log(
          `| ${row.model} | ${streamCount} | ${row.windows}/${row.expectedWindows} | ${row.dropped} | ${f(row.p50LatencyMs)} | ` +
            `${f(row.p99LatencyMs)} | ${f(row.decodeMs, 1)} | ${f(row.inferenceMs)} | ${f(row.forwardMs)} | ${f(row.meanBatch, 2)} | ` +
            `${f(row.cpuShare * 100)}% | ${f(row.lagGrowthMs)} | ${row.holds ? 'yes' : 'no'} |`,
        );
        if (!row.holds) break;
        held[precision] = streamCount;
      }
      await batcher.close();
      model.dispose();
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    `\nstreams held (targets on 2 cores: int8 >= 8, fp32 >= 3): ` +
      Object.entries(held)
        .map(([precision, n]) => `${precision} ${n}`)
        .join(', '),
  );
  return { hopSec: HOP_SEC, spanSec, quick, rows, held };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      models: { type: 'string' },
      streams: { type: 'string' },
      span: { type: 'string' },
      quick: { type: 'boolean', default: process.env.TORCHVIDEO_BENCH_STREAMS_QUICK === '1' },
      json: { type: 'string' },
    },
  });
  benchStreams({
    precisions: values.models?.split(','),
    streamCounts: values.streams?.split(',').map(Number),
    spanSec: values.span === undefined ? undefined : Number(values.span),
    quick: values.quick,
  }).then(
    (result) => values.json && fs.writeFileSync(values.json, JSON.stringify(result, null, 2)),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}

module.exports = { benchStreams };
