// Model.batcher(): concurrent callers' clips share forward passes, and each gets exactly its own rows.
// Logic runs on a small classifier made at test time (test/py/make_picky_classifier.py) and small clips;
// one case runs the real r3d_18 export.
'use strict';
const t0 = require('tap');
const { test } = t0;
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { loadModel, Tensor, Batcher } = require('../dist/index.js');
const { PYTHON } = require('./helpers/python-reference');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { checkRssGrowth } = require('./helpers/rss');

const dir = tempDir('torchvideo-batcher-');
const PICKY = path.join(dir, 'picky.pt');
execFileSync(PYTHON, [path.join(ROOT, 'test', 'py', 'make_picky_classifier.py'), '--out', PICKY]);

let seed = 100;
function clips(batch, t = 4, size = 8) {
  const shape = batch === undefined ? [3, t, size, size] : [batch, 3, t, size, size];
  return Tensor.from(
    randomFloats(
      shape.reduce((a, b) => a * b, 1),
      seed++,
    ),
    shape,
  );
}

async function solo(model, input) {
  const logits = await model.forward(input.shape.length === 4 ? [input] : input);
  const values = Float32Array.from(logits.data());
  logits.dispose();
  return values;
}

t0.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

test('every caller gets exactly its own rows: 40 concurrent callers of mixed sizes and two clip shapes', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 8, maxQueueClips: 256 });
  t.ok(batcher instanceof Batcher);
  const inputs = Array.from({ length: 40 }, (_, i) => clips(1 + (i % 4), i % 3 === 0 ? 5 : 4));
  // Random order, with a few single clips (3, T, H, W) among them.
  const order = inputs.map((_, i) => i).sort(() => Math.random() - 0.5);
  const single = clips(undefined);
  const pending = order.map((i) => batcher.forward(inputs[i]).then((logits) => [i, logits]));
  const singleLogits = batcher.forward(single);
  const results = await Promise.all(pending);
  for (const [i, logits] of results) {
    t.same(logits.shape, [inputs[i].shape[0], 7]);
    const diff = maxAbsDiff(Float32Array.from(logits.data()), await solo(model, inputs[i]));
    if (diff > 1e-5) t.fail(`caller ${i}: max difference ${diff} from its own forward`);
    logits.dispose();
  }
  const one = await singleLogits;
  t.same(one.shape, [1, 7], 'one clip (3, T, H, W) is a batch of one');
  t.ok(maxAbsDiff(Float32Array.from(one.data()), await solo(model, single)) <= 1e-5);
  const stats = batcher.stats();
  t.equal(stats.requests, 41);
  t.equal(
    stats.clips,
    inputs.reduce((n, x) => n + x.shape[0], 1),
  );
  t.ok(stats.batches < stats.requests, `requests shared forward passes (${stats.batches} batches for ${stats.requests} requests)`);
  const sizes = Object.entries(stats.batchSizes);
  t.ok(
    sizes.every(([size]) => Number(size) <= 8),
    'no batch holds more than maxBatchSize clips',
  );
  t.equal(
    sizes.reduce((n, [size, count]) => n + Number(size) * count, 0),
    stats.clips,
    'the histogram counts every clip once',
  );
  t.equal(stats.queuedClips, 0);
  t.ok(stats.queueMs.p50 <= stats.queueMs.p99 && stats.computeMs.p50 > 0);
  await batcher.close();
  model.dispose();
});

test('the real r3d_18 export: batched rows equal each caller own forward', async (t) => {
  const model = await loadModel(modelPath('r3d_18'), { warmup: false, threads: 2 });
  const batcher = model.batcher({ maxBatchSize: 4 });
  const inputs = [clips(1, 16, 112), clips(2, 16, 112), clips(undefined, 16, 112)];
  const results = await Promise.all(inputs.map((x) => batcher.forward(x)));
  for (let i = 0; i < inputs.length; i++) {
    t.ok(maxAbsDiff(Float32Array.from(results[i].data()), await solo(model, inputs[i])) <= 1e-5, `caller ${i}`);
  }
  await batcher.close();
  model.dispose();
});

test('a full queue refuses at once with ERR_QUEUE_FULL, without running anything', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  // A long maxDelayMs keeps non-full batches waiting, so the queue's content is known.
  const batcher = model.batcher({ maxBatchSize: 4, maxQueueClips: 4, maxDelayMs: 60000 });
  const first = batcher.forward(clips(1));
  const second = batcher.forward(clips(2));
  await t.rejects(batcher.forward(clips(2)), {
    code: 'ERR_QUEUE_FULL',
    message: "the batcher's queue is full: 3 clips queued, 2 more would pass maxQueueClips 4",
  });
  const stats = batcher.stats();
  t.equal(stats.rejected, 1);
  t.equal(stats.batches, 0, 'the refusal ran nothing');
  t.equal(stats.queuedClips, 3);
  t.equal(stats.queuedRequests, 2);
  // close() runs what waits for company now.
  await batcher.close();
  t.same((await first).shape, [1, 7]);
  t.same((await second).shape, [2, 7]);
  model.dispose();
});

test('a request still queued when its timeoutMs passes rejects with ERR_TIMEOUT and never runs', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 4, maxDelayMs: 60000 });
  await t.rejects(batcher.forward(clips(1), { timeoutMs: 30 }), { code: 'ERR_TIMEOUT' });
  await t.rejects(batcher.forward(clips(1), { timeoutMs: 20 }), /still queued when its timeoutMs passed .*it never ran/);
  const stats = batcher.stats();
  t.equal(stats.timedOut, 2);
  t.equal(stats.batches, 0);
  t.equal(stats.queuedClips, 0);
  // defaultTimeoutMs applies to calls that give none.
  const timed = model.batcher({ maxBatchSize: 4, maxDelayMs: 60000, defaultTimeoutMs: 10 });
  await t.rejects(timed.forward(clips(1)), { code: 'ERR_TIMEOUT' });
  await Promise.all([batcher.close(), timed.close()]);
  model.dispose();
});

test('an abort takes a queued request out of the queue; an aborted signal queues nothing', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 4, maxDelayMs: 60000 });
  const controller = new AbortController();
  const queued = batcher.forward(clips(2), { signal: controller.signal });
  t.equal(batcher.stats().queuedClips, 2);
  controller.abort();
  await t.rejects(queued, { name: 'AbortError' });
  t.equal(batcher.stats().queuedClips, 0, 'the clips left the queue at the abort');
  t.equal(batcher.stats().aborted, 1);
  const reason = new Error('caller went away');
  await t.rejects(batcher.forward(clips(1), { signal: AbortSignal.abort(reason) }), reason);
  t.equal(batcher.stats().requests, 1, 'an already aborted call queued nothing');
  await batcher.close();
  t.equal(batcher.stats().batches, 0, 'the aborted request never ran');
  model.dispose();
});

test('an abort during a running batch rejects at once; the batch finishes and the batcher goes on', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 4 });
  const controller = new AbortController();
  // Large enough clips that the forward is still running when the abort comes.
  const running = batcher.forward(clips(2, 8, 96), { signal: controller.signal });
  while (batcher.stats().queuedRequests > 0) await new Promise((resolve) => setImmediate(resolve));
  controller.abort();
  await t.rejects(running, { name: 'AbortError' });
  const next = await batcher.forward(clips(1));
  t.same(next.shape, [1, 7]);
  await batcher.close();
  t.equal(batcher.stats().batches, 2);
  model.dispose();
});

test('a failing batch fails only its own requests, with the reason; the next batch runs', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 4, maxDelayMs: 60000 });
  // The picky classifier refuses 3-frame clips: those two share a batch that fails as a whole.
  const refused = [batcher.forward(clips(1, 3)), batcher.forward(clips(1, 3))];
  // A NaN request fails alone; the good ones beside it in the same batch succeed.
  const nan = randomFloats(3 * 4 * 8 * 8, 7);
  nan[5] = NaN;
  const good = [clips(1), clips(2)];
  const mixed = [batcher.forward(good[0]), batcher.forward(Tensor.from(nan, [1, 3, 4, 8, 8])), batcher.forward(good[1])];
  const checks = [
    ...refused.map((failed) => t.rejects(failed, { code: 'ERR_FORWARD', message: /clips of 3 frames are refused/ })),
    t.rejects(mixed[1], { name: 'RangeError', message: /expected input to hold finite numbers, got element \[0, 0, 0, 0, 5\] is NaN/ }),
  ];
  await batcher.close();
  await Promise.all(checks);
  for (const [i, pending] of [mixed[0], mixed[2]].entries()) {
    const logits = await pending;
    t.ok(maxAbsDiff(Float32Array.from(logits.data()), await solo(model, good[i])) <= 1e-5, 'the good requests beside the NaN one');
  }
  t.equal(batcher.stats().failed, 3);
  model.dispose();
});

test('high priority requests go into batches before normal ones', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 1 });
  const settled = [];
  const track = (name, promise) => promise.then(() => settled.push(name));
  await Promise.all([
    track('first', batcher.forward(clips(1, 8, 64))),
    track('normal-1', batcher.forward(clips(1))),
    track('normal-2', batcher.forward(clips(1))),
    track('high', batcher.forward(clips(1), { priority: 'high' })),
  ]);
  t.ok(settled.indexOf('high') < settled.indexOf('normal-1'), `order ${settled.join(', ')}`);
  t.ok(settled.indexOf('normal-1') < settled.indexOf('normal-2'), 'normal ones in arrival order');
  await batcher.close();
  model.dispose();
});

test('maxDelayMs lets a batch that is not full wait for company', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batches = [];
  const batcher = model.batcher({ maxBatchSize: 8, maxDelayMs: 300, onBatch: (batch) => batches.push(batch) });
  const results = await Promise.all([batcher.forward(clips(1)), batcher.forward(clips(2))]);
  t.same(
    results.map((r) => r.shape[0]),
    [1, 2],
  );
  t.same(batcher.stats().batchSizes, { 3: 1 }, 'one forward of 3 clips');
  t.equal(batches.length, 1);
  t.equal(batches[0].clips, 3);
  t.equal(batches[0].requests, 2);
  t.equal(batches[0].queueMs.length, 2);
  t.ok(batches[0].queueMs[0] >= 250, `the first waited for the delay (${batches[0].queueMs[0]} ms)`);
  // A full batch does not wait.
  const full = await Promise.all([batcher.forward(clips(4)), batcher.forward(clips(4))]);
  t.same(
    full.map((r) => r.shape[0]),
    [4, 4],
  );
  t.equal(batcher.stats().batchSizes[8], 1);
  await batcher.close();
  model.dispose();
});

test('close() finishes what is queued, then refuses; it is idempotent', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 4, maxDelayMs: 60000 });
  const queued = [batcher.forward(clips(1)), batcher.forward(clips(1))];
  const closing = batcher.close();
  t.equal(batcher.closed, true);
  t.equal(batcher.close(), closing, 'the same promise');
  await t.rejects(batcher.forward(clips(1)), { code: 'ERR_DISPOSED', message: 'the batcher is closed' });
  await closing;
  for (const q of queued) t.same((await q).shape, [1, 7]);
  model.dispose();
});

test("the model's dispose(): the batcher refuses new calls, what is queued still runs", async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 4, maxDelayMs: 60000 });
  const queued = batcher.forward(clips(2));
  model.dispose();
  await t.rejects(batcher.forward(clips(1)), { code: 'ERR_DISPOSED', message: 'model is disposed' });
  t.throws(() => model.batcher(), { code: 'ERR_DISPOSED' });
  await batcher.close();
  t.same((await queued).shape, [2, 7]);
});

test('bad arguments name what is wrong', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const bad = [
    [{ maxBatchSize: 0 }, RangeError, /expected options.maxBatchSize to be an integer between 1 and 4096, got number 0/],
    [{ maxBatchSize: '8' }, TypeError, /expected options.maxBatchSize to be a number/],
    [{ maxDelayMs: -1 }, RangeError, /expected options.maxDelayMs to be a finite number >= 0, got number -1/],
    [{ maxDelayMs: 61000 }, RangeError, /expected options.maxDelayMs to be at most 60000 ms/],
    [{ maxBatchSize: 8, maxQueueClips: 4 }, RangeError, /expected options.maxQueueClips to be an integer between 8 and/],
    [{ defaultTimeoutMs: NaN }, RangeError, /expected options.defaultTimeoutMs to be a finite number >= 0, got number NaN/],
    [{ onBatch: 'log' }, TypeError, /expected options.onBatch to be a function/],
    ['fast', TypeError, /expected options to be an object/],
  ];
  for (const [options, type, message] of bad) t.throws(() => model.batcher(options), { name: type.name, message });
  const batcher = model.batcher({ maxBatchSize: 2 });
  const calls = [
    [[new Float32Array(3)], TypeError, /expected clips to be a Tensor, got a Float32Array/],
    [[Tensor.from(new Int32Array(3 * 4 * 8 * 8), [1, 3, 4, 8, 8])], TypeError, 'expected clips to be a float32 tensor, got int32'],
    [
      [Tensor.from(new Float32Array(3 * 8 * 8), [3, 8, 8])],
      RangeError,
      'expected clips to have shape (B, 3, T, H, W) or (3, T, H, W), got [3, 8, 8]',
    ],
    [
      [Tensor.from(new Float32Array(4 * 4 * 8 * 8), [1, 4, 4, 8, 8])],
      RangeError,
      'expected clips to have 3 colour channels, got shape [1, 4, 4, 8, 8]',
    ],
    [[clips(3)], RangeError, 'expected at most maxBatchSize 2 clips in one call, got 3 (shape [3, 3, 4, 8, 8])'],
    [[Tensor.from(new Float32Array(0), [0, 3, 4, 8, 8])], RangeError, /expected clips to hold at least one clip/],
    [[clips(1), { priority: 'urgent' }], RangeError, /expected options.priority to be 'high' or 'normal', got 'urgent'/],
    [[clips(1), { timeoutMs: -5 }], RangeError, /expected options.timeoutMs to be a finite number >= 0, got number -5/],
    [[clips(1), { signal: 'stop' }], TypeError, /expected options.signal to be an AbortSignal/],
    [[clips(1), 7], TypeError, /expected options to be an object/],
  ];
  for (const [args, type, message] of calls) await t.rejects(batcher.forward(...args), { name: type.name, message });
  t.equal(batcher.stats().requests, 0, 'no bad call was queued');
  await batcher.close();
  model.dispose();
});

test('an idle batcher does not hold the process open', async (t) => {
  const script = `
    const { loadModel, Tensor } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))});
    (async () => {
      const model = await loadModel(${JSON.stringify(PICKY)}, { threads: 1 });
      const batcher = model.batcher();
      const logits = await batcher.forward(Tensor.from(new Float32Array(3 * 4 * 8 * 8), [3, 4, 8, 8]));
      console.log('answered', logits.shape.join('x'));
    })();`;
  const output = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60000 });
  t.match(output, /answered 1x7/, 'the process ended on its own after the answer, batcher left open');
});

test('2,000 requests with random sizes, aborts and timeouts: every answer is its own, memory stays bounded', async (t) => {
  const model = await loadModel(PICKY, { threads: 1 });
  const batcher = model.batcher({ maxBatchSize: 8, maxQueueClips: 24 });
  // A pool of inputs whose solo logits are known; requests draw from it.
  const pool = Array.from({ length: 16 }, (_, i) => clips(1 + (i % 4)));
  const expected = [];
  for (const input of pool) expected.push(await solo(model, input));
  const counts = { done: 0, aborted: 0, timedOut: 0, full: 0, wrong: 0 };
  // RSS once the allocator has warmed up (after 500 requests) against the end: flat when nothing piles up.
  let rssWarm;
  let next = 0;
  const worker = async () => {
    while (next < 2000) {
      const n = next++;
      if (n === 500) rssWarm = process.memoryUsage().rss;
      const pick = (n * 7919) % pool.length;
      const controller = new AbortController();
      const options = n % 11 === 0 ? { signal: controller.signal } : n % 13 === 0 ? { timeoutMs: 0 } : {};
      const pending = batcher.forward(pool[pick], options);
      if (n % 11 === 0) setImmediate(() => controller.abort());
      try {
        const logits = await pending;
        if (maxAbsDiff(Float32Array.from(logits.data()), expected[pick]) > 1e-5) counts.wrong++;
        logits.dispose();
        counts.done++;
      } catch (error) {
        if (error.name === 'AbortError') counts.aborted++;
        else if (error.code === 'ERR_TIMEOUT') counts.timedOut++;
        else if (error.code === 'ERR_QUEUE_FULL') counts.full++;
        else throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: 24 }, worker));
  t.equal(counts.wrong, 0, 'every completed answer equals its solo forward');
  t.equal(counts.done + counts.aborted + counts.timedOut + counts.full, 2000, `every request settled: ${JSON.stringify(counts)}`);
  t.ok(counts.done > 500, 'most requests were answered');
  const stats = batcher.stats();
  t.equal(stats.queuedClips, 0);
  t.equal(stats.timedOut, counts.timedOut);
  const growthMb = (process.memoryUsage().rss - rssWarm) / 2 ** 20;
  t.comment(
    `2,000 requests: ${JSON.stringify(counts)}; RSS ${(rssWarm / 2 ** 20).toFixed(0)} MB after 500, then grew ${growthMb.toFixed(1)} MB`,
  );
  checkRssGrowth(t, growthMb, 40, 'RSS from request 500 to 2,000');
  await batcher.close();
  model.dispose();
});
