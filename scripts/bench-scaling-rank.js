// One rank of scripts/bench-scaling.js: joins the job ('env') when WORLD_SIZE > 1, then times
// Trainer.step on random 16x112x112 clips at its batch size. Prints one JSON line.
'use strict';
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const { Tensor, Trainer } = require(ROOT);
const { ProcessGroup, rankThreads } = require(path.join(ROOT, 'dist', 'internal.js'));

const CLIP = [3, 16, 112, 112];

async function main() {
  const { model, batch, iters, overlap } = JSON.parse(process.argv[2]);
  const world = Number(process.env.WORLD_SIZE);
  const group = world > 1 ? await ProcessGroup.join('env') : undefined;
  const trainer = await Trainer.create({ model, numClasses: 400, seed: 0, threads: rankThreads() });
  if (group) await trainer.setDistributed(group, { overlap });
  const elements = batch * CLIP.reduce((a, b) => a * b, 1);
  const data = new Float32Array(elements);
  for (let i = 0; i < elements; i++) data[i] = Math.sin(i * 0.37 + (group?.rank ?? 0));
  const clips = Tensor.from(data, [batch, ...CLIP]);
  const labels = Tensor.from(
    BigInt64Array.from({ length: batch }, (_, i) => BigInt((i * 53) % 400)),
    [batch],
  );
  await trainer.step(clips, labels);
  const stepMs = [];
  const exposedMs = [];
  let buckets = 0;
  for (let i = 0; i < iters; i++) {
    const start = performance.now();
    const result = await trainer.step(clips, labels);
    stepMs.push(performance.now() - start);
    if (result.allreduce) {
      exposedMs.push(result.allreduce.exposedMs);
      buckets = result.allreduce.buckets;
    }
  }
  const gradientBytes = trainer.info.trainedParameters * 4;
  trainer.dispose();
  if (group) {
    await group.barrier('the end of the benchmark');
    group.dispose();
  }
  console.log(JSON.stringify({ stepMs, exposedMs, buckets, gradientBytes }));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
