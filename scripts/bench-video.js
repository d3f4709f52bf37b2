'use strict';
// The video rows of `npm run bench` (scripts/bench.js; --no-video skips them): decode + preprocess
// throughput on 320x240 and 1280x720 H.264, classifyVideo's end-to-end time against the network alone,
// and an evaluation job against the network alone on the same clips (and the decode ceiling).
const path = require('node:path');
const { ROOT, MODELS, BENCH_DIR, CLIP, median, randomInput, timeIt, benchVideoFile, evaluationSet } = require('./bench-common');

// Internal: the decode row times the same native job (decode + preprocess of a clip) classifyVideo runs.
const { nativePreprocessOptions, readClipBatch } = require(path.join(ROOT, 'dist', 'internal.js'));
const { loadModel, Tensor, openVideo, sampleClips, classifyVideo, evaluate } = require(ROOT);

// Decode + preprocess throughput (5 uniform clips of 16 frames at 15 fps, one native job per clip as
// classifyVideo does at batch 1), and classifyVideo's end-to-end time against the network alone.
async function benchVideoPipeline(config) {
  const rows = [];
  for (const [width, height] of [
    [320, 240],
    [1280, 720],
  ]) {
    const file = benchVideoFile(width, height);
    const times = [];
    let clipCount = 0;
    for (let run = 0; run < config.iters; run++) {
      const start = performance.now();
      const reader = await openVideo(file);
      const clips = sampleClips(reader.info, { clipsPerVideo: 5 });
      clipCount = clips.length;
      for (const clip of clips) (await readClipBatch(reader, [clip], nativePreprocessOptions())).dispose();
      reader.close();
      times.push(performance.now() - start);
    }
    rows.push({ video: `${width}x${height} H.264`, clipsPerSecond: (clipCount / median(times)) * 1000 });
  }
  const model = await loadModel(path.join(MODELS, 'r2plus1d_18.pt'));
  const file = benchVideoFile(320, 240);
  const clip = Tensor.from(randomInput(1), [1, ...CLIP]);
  const modelOnly = await timeIt(
    config,
    async () => {
      for (let i = 0; i < 5; i++) (await model.forward(clip)).dispose();
    },
    1,
  );
  const endToEnd = await timeIt(config, () => classifyVideo(model, file, { clipsPerVideo: 5 }), 1);
  model.dispose();
  return { decode: rows, classify: { modelOnlyMs: modelOnly, endToEndMs: endToEnd } };
}

// An evaluation job against the network alone on the same clips at the same batch (target >= 0.9),
// and the decode ceiling: every video's clips decoded at once, all decode threads busy.
async function benchEvaluation() {
  const BATCH = 8;
  const data = evaluationSet();
  const model = await loadModel(path.join(MODELS, 'r2plus1d_18.pt'));
  const options = { model, data, clipsPerVideo: 5, batchSize: BATCH, indexPath: path.join(BENCH_DIR, 'eval-index.json') };
  await evaluate(options); // index the set, warm the caches
  const start = performance.now();
  const report = await evaluate(options);
  const evalClipsPerSec = report.clips / ((performance.now() - start) / 1000);
  // The same clips, decoded once, through the network alone at the same batch.
  const readers = await Promise.all(report.predictions.map((p) => openVideo(p.path)));
  const decodeStart = performance.now();
  // One tensor per clip, so the network alone runs exactly `BATCH` clips per call as evaluate does.
  const clips = (
    await Promise.all(
      readers.map(async (reader) => {
        const out = [];
        for (const clip of sampleClips(reader.info, { clipsPerVideo: 5 }))
          out.push(await readClipBatch(reader, [clip], nativePreprocessOptions()));
        return out;
      }),
    )
  ).flat();
  const decodeClipsPerSec = clips.length / ((performance.now() - decodeStart) / 1000);
  readers.forEach((reader) => reader.close());
  const netStart = performance.now();
  for (let begin = 0; begin < clips.length; begin += BATCH) (await model.forward(clips.slice(begin, begin + BATCH))).dispose();
  const networkClipsPerSec = clips.length / ((performance.now() - netStart) / 1000);
  clips.forEach((clip) => clip.dispose());
  model.dispose();
  return { clips: report.clips, evalClipsPerSec, networkClipsPerSec, decodeClipsPerSec };
}

/** The video rows, printed; returns { decode, classify, evaluation } for the JSON. */
async function benchVideoRows(config) {
  const video = await benchVideoPipeline(config);
  console.log('\nvideo pipeline (decode + resample + VideoClassification preprocessing, 5 clips x 16 frames)');
  for (const row of video.decode) console.log(`  ${row.video.padEnd(18)} ${row.clipsPerSecond.toFixed(1)} clips/s`);
  const { modelOnlyMs, endToEndMs } = video.classify;
  console.log(
    `  classifyVideo r2plus1d_18, 320x240, 5 clips: ${endToEndMs.toFixed(0)} ms end to end vs ` +
      `${modelOnlyMs.toFixed(0)} ms for the network alone = ${(endToEndMs / modelOnlyMs).toFixed(2)}x`,
  );
  const evaluation = await benchEvaluation();
  video.evaluation = evaluation;
  console.log(
    `  evaluate r2plus1d_18, batch 8, ${evaluation.clips} clips of 320x240 H.264: ${evaluation.evalClipsPerSec.toFixed(2)} clips/s ` +
      `vs ${evaluation.networkClipsPerSec.toFixed(2)} clips/s for the network alone = ` +
      `${(evaluation.evalClipsPerSec / evaluation.networkClipsPerSec).toFixed(2)} (target >= 0.9); ` +
      `decode ceiling ${evaluation.decodeClipsPerSec.toFixed(1)} clips/s`,
  );
  return video;
}

module.exports = { benchVideoRows };
