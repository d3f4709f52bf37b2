'use strict';
// Terminating a worker_thread while it runs a forward or decodes frames frees what that work held:
// the model, the decoder with its file descriptor and FFmpeg threads, the buffers. 20 rounds of each
// leave fds and threads as they were and RSS within +100 MB (before the fix: a model's size per
// round, and an fd and 3 threads per decode).
const fs = require('node:fs');
const { Worker } = require('node:worker_threads');
const t = require('tap');
const { fixture } = require('./helpers/fixtures');
const { ROOT, modelPath } = require('./helpers/paths');
const { checkRssGrowth } = require('./helpers/rss');

const ROUNDS = 20;

const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const threadCount = () => Number(/^Threads:\s+(\d+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1]);
const rssMb = () => process.memoryUsage().rss / 2 ** 20;

const workerSource = `
const { parentPort, workerData } = require('node:worker_threads');
const { loadModel, openVideo, Tensor } = require(${JSON.stringify(ROOT)});
(async () => {
  if (workerData.kind === 'forward') {
    const model = await loadModel(workerData.model, { warmup: false, optimize: false });
    const x = Tensor.from(new Float32Array(2 * 3 * 8 * 64 * 64), [2, 3, 8, 64, 64]);
    for (let i = 0; i < 4; i++) model.forward(x);
  } else {
    const reader = await openVideo(workerData.video);
    const last = Array.from({ length: 24 }, (_, i) => reader.info.frameCount - 1 - i);
    for (let i = 0; i < 3; i++) reader.readFrames(last);
  }
  parentPort.postMessage('running');
})();
`;

async function round(data) {
  const worker = new Worker(workerSource, { eval: true, workerData: data });
  await new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
  // The work is queued and running now: terminate under it.
  await new Promise((resolve) => setTimeout(resolve, 20));
  await worker.terminate();
}

async function settle() {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

for (const [kind, data] of [
  ['a forward', { kind: 'forward', model: modelPath('mc3_18') }],
  ['readFrames', { kind: 'decode', video: fixture('hd-720p.mp4') }],
]) {
  t.test(`terminating workers during ${kind}, ${ROUNDS} rounds`, async (t) => {
    // Two rounds first: the allocator caches and the first-use state of LibTorch and FFmpeg.
    for (let i = 0; i < 2; i++) await round(data);
    await settle();
    const before = { fds: fdCount(), threads: threadCount(), rss: rssMb() };
    for (let i = 0; i < ROUNDS; i++) await round(data);
    await settle();
    const after = { fds: fdCount(), threads: threadCount(), rss: rssMb() };
    t.equal(after.fds, before.fds, `file descriptors ${before.fds} -> ${after.fds}`);
    t.equal(after.threads, before.threads, `threads ${before.threads} -> ${after.threads}`);
    checkRssGrowth(t, after.rss - before.rss, 100, `over ${ROUNDS} terminated workers`);
  });
}
