'use strict';
// The CPU inference rows of `npm run bench` (scripts/bench.js): for each network and batch, ms/clip through
// torchvideo beside PyTorch on the same export (scripts/bench_python.py: frozen+optimized and plain
// scripted) and onnxruntime-node on an ONNX export of the same weights; ratios; the p99 event-loop delay
// while torchvideo computes; RSS growth. Then the cost of forward()'s input finite check and of the input
// copy at the forward() call.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const {
  ROOT,
  MODELS,
  CLIP,
  THREADS,
  clipElements,
  median,
  randomInput,
  timeIt,
  runBenchPython,
  fmt,
  ratio,
  printTable,
} = require('./bench-common');

const { loadModel, Tensor, versions } = require(ROOT);

async function benchTorchvideo(config, arch) {
  const rows = [];
  const model = await loadModel(path.join(MODELS, `${arch}.pt`));
  for (const batch of config.batches) {
    const input = Tensor.from(randomInput(batch), [batch, ...CLIP]);
    const forward = async () => (await model.forward(input)).dispose();
    const rssBefore = process.memoryUsage().rss;
    const msPerClip = await timeIt(config, forward, batch);
    // The event-loop delay is measured in a pass of its own: the monitor wakes the loop every
    // millisecond, which would steal CPU from the timed forwards on a small machine.
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    for (let i = 0; i < 3; i++) await forward();
    delay.disable();
    rows.push({
      arch,
      batch,
      msPerClip,
      loopDelayP99Ms: delay.percentile(99) / 1e6,
      rssGrowthMb: (process.memoryUsage().rss - rssBefore) / 2 ** 20,
    });
    input.dispose();
  }
  model.dispose();
  return rows;
}

function benchPython(config) {
  return runBenchPython(config, ['--modes', config.args['no-scripted'] ? 'optimized' : 'optimized,scripted']);
}

function ensureOnnx(config, arch) {
  const file = path.join(MODELS, `${arch}.onnx`);
  if (!fs.existsSync(file)) {
    execFileSync(config.python, [path.join(ROOT, 'scripts', 'export_models.py'), '--arch', arch, '--out', MODELS, '--onnx'], {
      stdio: 'inherit',
    });
  }
  return file;
}

async function benchOnnx(config, arch) {
  let ort;
  try {
    ort = require('onnxruntime-node');
  } catch (error) {
    return { skipped: `onnxruntime-node cannot load: ${error.message.split('\n')[0]}` };
  }
  const session = await ort.InferenceSession.create(ensureOnnx(config, arch), {
    intraOpNumThreads: THREADS,
    graphOptimizationLevel: 'all',
  });
  const rows = [];
  for (const batch of config.batches) {
    const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', randomInput(batch), [batch, ...CLIP]) };
    rows.push({ arch, batch, msPerClip: await timeIt(config, () => session.run(feeds), batch) });
  }
  await session.release?.();
  return { rows };
}

// forward() refuses CPU inputs holding NaN/Inf with one sum over the input (cpp/model.cpp,
// checkFiniteInputs). The same op in LibTorch, same threads, against the forward it guards.
function benchFiniteCheck(config, results) {
  const script = `
import json, sys, time, torch
torch.set_num_threads(${THREADS})
out = {}
for batch in (1, 8):
    x = torch.full((batch, ${CLIP.join(', ')}), 0.5)
    for _ in range(3): float(x.sum())
    start = time.perf_counter()
    for _ in range(50): float(x.sum())
    out[batch] = (time.perf_counter() - start) / 50 * 1000
print(json.dumps(out))`;
  let times;
  try {
    times = JSON.parse(execFileSync(config.python, ['-c', script], { encoding: 'utf8' }));
  } catch (error) {
    console.log(`\ninput finite check: not measured (${error.message.split('\n')[0]})`);
    return undefined;
  }
  console.log('\ninput finite check (one sum over the input, per forward call):');
  const rows = [];
  for (const [batch, ms] of Object.entries(times)) {
    const forwards = results.filter((r) => r.batch === Number(batch)).map((r) => r.msPerClip * r.batch);
    const share = forwards.length ? (ms / Math.min(...forwards)) * 100 : undefined;
    rows.push({ batch: Number(batch), ms, percentOfFastestForward: share });
    console.log(`  batch ${batch}: ${ms.toFixed(2)} ms${share === undefined ? '' : ` = ${share.toFixed(2)}% of the fastest forward`}`);
  }
  return rows;
}

// A job reads a copy of memory JS can still write (binding/tensor.cc, snapshot): what that costs on the
// JS thread at the forward() call, for a Tensor.from input (copied) against the same input taken over
// with { transfer: true } (not copied), beside the forward it feeds.
async function benchInputCopy(results) {
  const model = await loadModel(path.join(MODELS, 'r3d_18.pt'));
  const rows = [];
  for (const batch of [1, 8]) {
    const callMs = async (transfer) => {
      const times = [];
      for (let i = 0; i < 20; i++) {
        const input = Tensor.from(randomInput(batch), [batch, ...CLIP], { transfer });
        const start = performance.now();
        const pending = model.forward(input);
        times.push(performance.now() - start);
        // The forward itself is not what is measured: it is dropped once queued (run to the end).
        (await pending).dispose();
        input.dispose();
        if (i === 4) times.length = 0; // the first calls warm the allocator
      }
      return median(times);
    };
    const copied = await callMs(false);
    const taken = await callMs(true);
    const forward = results.find((r) => r.arch === 'r3d_18' && r.batch === batch);
    const forwardMs = forward ? forward.msPerClip * batch : undefined;
    const copyMs = copied - taken;
    rows.push({
      batch,
      megabytes: (batch * clipElements * 4) / 2 ** 20,
      copiedCallMs: copied,
      transferredCallMs: taken,
      copyMs,
      forwardMs,
    });
    console.log(
      `  batch ${batch} (${((batch * clipElements * 4) / 2 ** 20).toFixed(1)} MB): forward() call ${copied.toFixed(2)} ms copied vs ` +
        `${taken.toFixed(2)} ms taken over = ${copyMs.toFixed(2)} ms of copy` +
        (forwardMs ? ` (${((copyMs / forwardMs) * 100).toFixed(2)}% of r3d_18's ${forwardMs.toFixed(0)} ms forward)` : ''),
    );
  }
  model.dispose();
  return rows;
}

/** The CPU inference rows, printed; returns { python, results, finite, inputCopy } for the JSON. */
async function benchCpu(config) {
  const { args } = config;
  console.log(`torchvideo ${versions.torchvideo} | LibTorch ${versions.libtorch} | ${THREADS} threads | ${os.cpus()[0].model}`);
  console.log(`median of ${config.iters} runs after 2 warm-up runs; input (B, ${CLIP.join(', ')}) float32\n`);
  const results = [];
  const onnxNotes = new Set();
  for (const arch of config.archs) {
    const tv = await benchTorchvideo(config, arch);
    const onnx = args['no-onnx'] ? { skipped: 'skipped (--no-onnx)' } : await benchOnnx(config, arch);
    if (onnx.skipped) onnxNotes.add(onnx.skipped);
    for (const row of tv) {
      results.push({ ...row, onnxMsPerClip: onnx.rows?.find((r) => r.batch === row.batch)?.msPerClip });
    }
  }
  let python = { rows: [] };
  if (!args['no-python']) python = benchPython(config);
  for (const row of results) {
    const py = (mode) => python.rows.find((r) => r.arch === row.arch && r.batch === row.batch && r.mode === mode)?.msPerClip;
    row.pytorchOptimizedMsPerClip = py('optimized');
    row.pytorchScriptedMsPerClip = py('scripted');
  }

  const header = [
    'network',
    'batch',
    'torchvideo',
    'PyTorch optimized',
    'PyTorch scripted',
    'onnxruntime-node',
    'tv / PyTorch best',
    'tv / ORT',
    'loop p99',
    'RSS +',
  ];
  const lines = results.map((r) => {
    const best = [r.pytorchOptimizedMsPerClip, r.pytorchScriptedMsPerClip].filter((x) => x !== undefined);
    return [
      r.arch,
      String(r.batch),
      fmt(r.msPerClip),
      fmt(r.pytorchOptimizedMsPerClip),
      fmt(r.pytorchScriptedMsPerClip),
      fmt(r.onnxMsPerClip),
      ratio(r.msPerClip, best.length ? Math.min(...best) : undefined),
      ratio(r.msPerClip, r.onnxMsPerClip),
      `${r.loopDelayP99Ms.toFixed(1)} ms`,
      `${r.rssGrowthMb.toFixed(0)} MB`,
    ];
  });
  console.log('ms per clip (lower is better)');
  printTable(header, lines);
  for (const note of onnxNotes) console.log(`\nonnxruntime-node: ${note}`);
  const finite = args['no-python'] ? undefined : benchFiniteCheck(config, results);
  console.log('\ninput copy at the forward() call (Tensor.from memory the caller can still write):');
  const inputCopy = await benchInputCopy(results);
  return { python, results, finite, inputCopy };
}

module.exports = { benchCpu };
