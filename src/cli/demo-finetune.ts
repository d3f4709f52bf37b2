// The demo's second half, offline end to end: make the moving-shapes set (the class is the direction a
// square moves), fine-tune r3d_18 on it from random weights, evaluate the best epoch on the validation
// set (report.json + report.html), and classify a clip it has never seen.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { classifyVideo } from '../classify';
import { evaluate } from '../eval/evaluate';
import { renderReportHtml } from '../eval/report-html';
import { writeFileAtomic } from '../common/atomic-file';
import { loadModel } from '../model';
import { fineTune } from '../train/fine-tune';
import { makeMovingShapes, shapesStartingExport } from '../train/moving-shapes';

const percent = (x: number) => `${(x * 100).toFixed(1)}%`;

/**
 * Runs the fine-tuning demo in `outRoot`; resolves to the exit code.
 * @throws AbortError (rejects) when `signal` aborts (fineTune writes its checkpoint first).
 */
export async function runFineTuneDemo(modelsDir: string, outRoot: string, device: string, signal?: AbortSignal): Promise<number> {
  const started = performance.now();
  fs.rmSync(outRoot, { recursive: true, force: true });
  const train = path.join(outRoot, 'shapes', 'train');
  const val = path.join(outRoot, 'shapes', 'val');
  const unseen = path.join(outRoot, 'shapes', 'unseen');
  makeMovingShapes(train, { videosPerClass: 12, seed: 1 });
  makeMovingShapes(val, { videosPerClass: 6, seed: 2 });
  makeMovingShapes(unseen, { videosPerClass: 1, seed: 9 });
  const start = shapesStartingExport(path.join(modelsDir, 'r3d_18.pt'), path.join(outRoot, 'r3d_18-start.pt'));
  console.log('fine-tuning r3d_18 (random weights) to tell which way a square moves: down, left, right, up');
  console.log(`  ${train}: 48 videos, ${val}: 24 videos (12 frames of 64x64 each, made with ffmpeg)`);

  const outDir = path.join(outRoot, 'finetune');
  const result = await fineTune({
    model: start,
    train,
    val,
    outDir,
    device,
    epochs: 4,
    batchSize: 8,
    lr: 0.005,
    warmupEpochs: 0,
    milestones: [3],
    clipLength: 8,
    frameRate: 15,
    clipsPerVideo: 2,
    // A flip would turn motion to the right into motion to the left: none for this set.
    hflipProb: 0,
    seed: 3,
    signal,
    onProgress: ({ epoch, batch, batches, loss, clipsPerSec }) => {
      if (batch === batches) console.log(`  epoch ${epoch}: train loss ${loss.toFixed(3)}, ${clipsPerSec.toFixed(1)} clips/s; validating`);
    },
  });
  for (const h of result.history) {
    console.log(
      `  epoch ${h.epoch}: train acc@1 ${percent(h.trainAcc1)}, val clip acc@1 ${percent(h.valClipAcc1)}, val video acc@1 ${percent(h.valVideoAcc1)}, lr ${h.lr}`,
    );
  }
  const best = result.best!;
  console.log(`best: epoch ${best.epoch}, val video acc@1 ${percent(best.valVideoAcc1)} (${best.path})`);

  const evalDir = path.join(outRoot, 'evaluation');
  const report = await evaluate({
    model: best.path,
    device,
    data: val,
    clipsPerVideo: 2,
    clipLength: 8,
    frameRate: 15,
    outDir: evalDir,
    signal,
  });
  writeFileAtomic(path.join(evalDir, 'report.html'), await renderReportHtml(report));
  console.log(`evaluation of best.pt: clip acc@1 ${percent(report.clipAcc1)}, video acc@1 ${percent(report.videoAcc1)}`);

  const model = await loadModel(best.path, { device });
  try {
    let right = 0;
    for (const direction of ['down', 'left', 'right', 'up']) {
      signal?.throwIfAborted();
      const file = path.join(unseen, direction, '000.mp4');
      const { top } = await classifyVideo(model, file, { clipsPerVideo: 2, topk: 1 });
      right += top[0].label === direction ? 1 : 0;
      console.log(`  unseen clip moving ${direction.padEnd(5)} -> ${top[0].label} (${percent(top[0].score)})`);
    }
    console.log(`unseen clips: ${right} of 4 right`);
  } finally {
    model.dispose();
  }
  console.log(`\ncurves:  ${path.join(outDir, 'curves.svg')}`);
  console.log(`report:  ${path.join(evalDir, 'report.html')}`);
  console.log(`model:   ${best.path} (loadModel, classifyVideo and evaluate load it)`);
  console.log(`fine-tuning demo: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return 0;
}
