'use strict';
// 1,000 forwards do not grow memory, whether tensors are disposed or left to the garbage collector:
// the native bytes of live tensors come back to exactly where they were, and RSS grows by less than
// the inputs would add up to if each call leaked its input; native tensor memory is reported to V8 so
// the collector knows to run.
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const t = require('tap');
const { modelPath } = require('./helpers/paths');
const { checkRssGrowth } = require('./helpers/rss');

const FORWARDS = 1000;
const SHAPE = [1, 3, 4, 32, 32];
const INPUT_BYTES = SHAPE.reduce((a, b) => a * b, 4);
// Below what a leak of every input adds (1,000 x 48 KiB = 47 MB; 38 MB of RSS measured here with each
// input kept alive), above what the allocators' pools and V8's heap grow by (10-14 MB measured here).
const RSS_GROWTH_LIMIT_MB = 24;

const script = `
const { loadModel, Tensor, memory } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
const dispose = process.argv[2] === 'dispose';
(async () => {
  const model = await loadModel(${JSON.stringify(modelPath('mc3_18'))}, { warmup: false });
  const shape = ${JSON.stringify(SHAPE)};
  const step = async () => {
    const input = Tensor.from(new Float32Array(${INPUT_BYTES / 4}).fill(0.5), shape);
    const logits = await model.forward(input);
    logits.data();
    if (dispose) { logits.dispose(); input.dispose(); }
  };
  // Warm up allocator pools and the JIT before the baseline.
  for (let i = 0; i < 100; i++) await step();
  // Collected twice with a turn between: finalizers run after the collection that finds the object.
  const collect = async () => {
    global.gc();
    await new Promise((r) => setTimeout(r, 50));
    global.gc();
  };
  await collect();
  const before = process.memoryUsage().rss;
  const tensorsBefore = memory.tensorBytes();
  for (let i = 0; i < ${FORWARDS}; i++) await step();
  await collect();
  const after = process.memoryUsage().rss;
  console.log(JSON.stringify({ before, after, tensorsBefore, tensorsAfter: memory.tensorBytes() }));
})();
`;

for (const mode of ['dispose', 'gc']) {
  t.test(`${FORWARDS} forwards, tensors freed by ${mode === 'dispose' ? 'dispose()' : 'GC only'}`, async (t) => {
    const out = execFileSync(process.execPath, ['--expose-gc', '-e', script, mode], { encoding: 'utf8' });
    const { before, after, tensorsBefore, tensorsAfter } = JSON.parse(out.trim().split('\n').pop());
    t.equal(tensorsAfter, tensorsBefore, `native tensor bytes back to ${tensorsBefore} after ${FORWARDS} forwards`);
    const growthMb = (after - before) / 2 ** 20;
    checkRssGrowth(
      t,
      growthMb,
      RSS_GROWTH_LIMIT_MB,
      `over ${FORWARDS} forwards (a leaked input each: ${((FORWARDS * INPUT_BYTES) / 2 ** 20).toFixed(0)} MB)`,
    );
  });
}

t.test('native tensor memory is reported to V8 and released on dispose', async (t) => {
  const { Tensor, memory } = require('..');
  const external = () => memory.tensorBytes();
  const bytes = 64 * 2 ** 20;
  const source = Tensor.from(new Float32Array(bytes / 4), [bytes / 4]);
  const baseline = external();
  const copy = await source.to('cpu');
  const held = external();
  t.ok(held - baseline >= bytes * 0.9, `external memory rose by ${((held - baseline) / 2 ** 20).toFixed(0)} MB`);
  copy.dispose();
  const released = external();
  t.ok(held - released >= bytes * 0.9, `and fell by ${((held - released) / 2 ** 20).toFixed(0)} MB on dispose()`);
});

// The block cache keeps LibTorch's large freed buffers for the next forward, within its cap.
const cacheScript = `
const { loadModel, Tensor, memory } = require(${JSON.stringify(path.resolve(__dirname, '..'))});
(async () => {
  const model = await loadModel(${JSON.stringify(modelPath('r3d_18'))}, { warmup: false });
  const input = Tensor.from(new Float32Array(2 * 3 * 16 * 112 * 112), [2, 3, 16, 112, 112]);
  for (let i = 0; i < 2; i++) (await model.forward(input)).dispose();
  console.log(JSON.stringify({ cached: memory.cpuCacheBytes() }));
})();
`;

for (const [capMb, expectation] of [
  [undefined, 'holds blocks'],
  ['64', 'stays under a 64 MB cap'],
  ['0', 'is off with 0'],
]) {
  t.test(`the CPU block cache ${expectation}`, async (t) => {
    const env = { ...process.env };
    if (capMb === undefined) delete env.TORCHVIDEO_CPU_CACHE_MB;
    else env.TORCHVIDEO_CPU_CACHE_MB = capMb;
    const out = execFileSync(process.execPath, ['-e', cacheScript], { encoding: 'utf8', env });
    const { cached } = JSON.parse(out.trim().split('\n').pop());
    const cachedMb = cached / 2 ** 20;
    if (capMb === undefined) t.ok(cachedMb > 64, `${cachedMb.toFixed(0)} MB cached after two batch-2 forwards`);
    else t.ok(cachedMb <= Number(capMb) && (capMb !== '0' || cached === 0), `${cachedMb.toFixed(0)} MB cached`);
  });
}
