#!/usr/bin/env node
// Drives every native path once (model load/forward/dispose, tensor copies and data(), video open/
// decode/preprocess/clip batches, failed opens and forwards, batchers) and exits, so that LeakSanitizer's
// report at exit lists anything the addon allocated and never freed. Run by scripts/asan.sh.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const tv = require('..');

const root = path.resolve(__dirname, '..');
const videos = path.resolve(root, '..', 'shared', 'videos');

async function main() {
  const model = await tv.loadModel(path.join(root, 'models', 'mc3_18.pt'), { warmup: false });
  const x = tv.Tensor.from(new Float32Array(3 * 4 * 32 * 32).fill(0.5), [1, 3, 4, 32, 32]);
  for (let i = 0; i < 3; i++) (await model.forward(x)).dispose();
  await model.forward(tv.Tensor.from(new Float32Array(4), [4])).catch(() => {});
  // A batcher: batches, a timeout, an abort of a queued request, close. (Every batcher is closed and
  // every model disposed before exit: a model's executor thread still parked at exit makes LeakSanitizer's
  // tracer crash reading its dynamic TLS, with or without a batcher.)
  const batcher = model.batcher({ maxBatchSize: 2, maxQueueClips: 2, maxDelayMs: 50 });
  const controller = new AbortController();
  const calls = [batcher.forward(x), batcher.forward(x, { signal: controller.signal }), batcher.forward(x, { timeoutMs: 0 })].map((call) =>
    call.then((t) => t.dispose()).catch(() => {}),
  );
  controller.abort();
  await Promise.all(calls);
  await batcher.close();
  const copy = await x.to('cpu');
  copy.data();
  copy.dispose();
  x.dispose();

  const clips = fs.existsSync(videos) ? fs.readdirSync(videos).filter((f) => /\.(mp4|mkv|avi)$/.test(f)) : [];
  for (const clip of clips.slice(0, 2)) {
    const reader = await tv.openVideo(path.join(videos, clip));
    const frames = await reader.readFrames([0, 1, 2, 3, 0]);
    (await tv.preprocess(frames, { train: true, seed: 1 })).dispose();
    frames.dispose();
    reader.close();
    const result = await tv.classifyVideo(model, path.join(videos, clip), { clipsPerVideo: 2, clipLength: 4 });
    console.log(`${clip}: ${result.top[0].label}`);
  }
  for (const bad of [path.join(root, 'package.json'), root, path.join(root, 'missing.mp4')]) {
    await tv.openVideo(bad).catch(() => {});
  }
  model.dispose();
}

main().then(
  () => console.log('asan-leak-check: done'),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
