// classifyStream from network sources on loopback: UDP, SRT and TCP MPEG-TS sent by child ffmpeg
// processes, and a stream paced faster than the network can classify it, which must stay bounded in
// memory and latency. Every child is killed in teardown; every port is on 127.0.0.1.
'use strict';
const t0 = require('tap');
const { test } = t0;
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const dgram = require('node:dgram');
const fs = require('node:fs');
const path = require('node:path');
const { setTimeout: delay } = require('node:timers/promises');
const { loadModel, classifyStream } = require('../dist/index.js');
const { fixture } = require('./helpers/fixtures');
const { freeTcpPort } = require('./helpers/ports');
const { makeTinyModel } = require('./helpers/kserve-client');
const { modelPath } = require('./helpers/paths');
const { requirePrerequisite } = require('./helpers/prerequisites');
const { checkRssGrowth } = require('./helpers/rss');

const VIDEO = fixture('h264-8s.mp4'); // 320x240, 25 fps, 8 s
const TINY = makeTinyModel();
t0.teardown(() => fs.rmSync(path.dirname(TINY), { recursive: true, force: true }));

let modelPromise;
const tinyModel = () => (modelPromise ??= loadModel(TINY, { threads: 1 }));

// `reconnect: false`: a network source that closes ends the iteration (reconnecting, where the build has
// it, would wait for the sender to come back).
const STREAM = { clipLength: 16, frameRate: 15, hopSec: 0.5, reconnect: false, stallTimeoutMs: 10_000 };

// A child ffmpeg that sends `VIDEO` (or what `input` says) as MPEG-TS to `output`; killed in teardown.
function sender(t, output, { input = ['-re', '-i', VIDEO], format = ['-f', 'mpegts'] } = {}) {
  const child = spawn('ffmpeg', ['-hide_banner', '-v', 'error', ...input, '-c', 'copy', ...format, output], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  return { child, exited };
}

async function freeUdpPort() {
  const socket = dgram.createSocket('udp4');
  await new Promise((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  await new Promise((resolve) => socket.close(resolve));
  return port;
}

// Whether a socket is bound to 127.0.0.1:port (TCP: listening), from /proc/net: waiting for a listener
// this way does not take the one connection an `ffmpeg -listen 1` accepts.
function bound(protocol, port) {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return fs
    .readFileSync(`/proc/net/${protocol}`, 'utf8')
    .split('\n')
    .slice(1)
    .some((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[1] === local && (protocol !== 'tcp' || fields[3] === '0A');
    });
}

// `stopped`: settles with why whoever should bind the port gave up first.
async function waitUntilBound(protocol, port, stopped) {
  let why;
  stopped.then((reason) => (why = reason));
  for (let i = 0; i < 300; i++) {
    if (bound(protocol, port)) return;
    if (why !== undefined) throw new Error(`${protocol} port ${port} never bound: ${why}`);
    await delay(20);
  }
  throw new Error(`nothing bound ${protocol} 127.0.0.1:${port} in 6 s`);
}

const senderStopped = (exited) => exited.then(({ code, signal, stderr }) => `the sender exited (${code ?? signal}): ${stderr}`);
// A reader's first result, settled before the port is bound: it failed (or ended) first.
const readerStopped = (first) =>
  first.then(
    () => 'the stream ended',
    (error) => `the stream failed: ${error.message}`,
  );

// Ends a generator the test did not run to its end (a failed assertion on the way): frees its reader.
function closeInTeardown(t, iterator) {
  t.teardown(() => iterator.return().catch(() => {}));
}

// The first `count` results (then breaks out), with when each came.
async function firstResults(iterable, count) {
  const results = [];
  for await (const r of iterable) {
    results.push({ ...r, at: performance.now() });
    if (results.length === count) break;
  }
  return results;
}

function checkResults(t, results, count) {
  t.equal(results.length, count, `${count} results`);
  for (let i = 1; i < results.length; i++) {
    t.ok(results[i].endSec > results[i - 1].endSec, `endSec increases (${results[i - 1].endSec} -> ${results[i].endSec})`);
  }
  t.ok(
    results.every((r) => r.top.length > 0 && r.top.every((p) => Number.isFinite(p.score))),
    'each result has finite scores',
  );
}

test('UDP MPEG-TS from ffmpeg -re: results in stream order until the loop breaks', async (t) => {
  const model = await tinyModel();
  const port = await freeUdpPort();
  // localaddr: FFmpeg binds a UDP input to every interface otherwise.
  const iterator = classifyStream(model, `udp://127.0.0.1:${port}?localaddr=127.0.0.1`, STREAM);
  // The reader binds the port on its decode thread as soon as the iteration starts; the sender only
  // starts once it is bound, so the stream is received from its first packet.
  closeInTeardown(t, iterator);
  const first = iterator.next();
  await waitUntilBound('udp', port, readerStopped(first));
  const { exited } = sender(t, `udp://127.0.0.1:${port}?pkt_size=1316`);
  const results = [await first.then(({ value }) => ({ ...value, at: performance.now() }))];
  for await (const r of { [Symbol.asyncIterator]: () => iterator }) {
    results.push({ ...r, at: performance.now() });
    if (results.length === 4) break;
  }
  checkResults(t, results, 4);
  t.ok(results[0].endSec < 1.5, `from the start of the stream (the first window ends at ${results[0].endSec} s)`);
  // Paced: 4 windows 0.5 s apart come over about 1.5 s, not at once.
  t.ok(results[3].at - results[0].at > 1000, `paced by the sender (${(results[3].at - results[0].at).toFixed(0)} ms)`);
  t.equal(await Promise.race([exited, delay(0, 'running')]), 'running', 'the sender was still sending when the loop broke');
});

function hasSrt() {
  const text = execFileSync('ffmpeg', ['-hide_banner', '-protocols'], { encoding: 'utf8' });
  const [input = '', output = ''] = text.split(/^Output:/m);
  return /^\s*srt\s*$/m.test(input) && /^\s*srt\s*$/m.test(output);
}

test('SRT MPEG-TS: ffmpeg listens, the stream calls it', async (t) => {
  if (!requirePrerequisite(t, hasSrt(), 'ffmpeg built without srt (Debian builds it with libsrt)')) return;
  const model = await tinyModel();
  const port = await freeUdpPort();
  const { exited } = sender(t, `srt://127.0.0.1:${port}?mode=listener`);
  await waitUntilBound('udp', port, senderStopped(exited));
  const results = await firstResults(classifyStream(model, `srt://127.0.0.1:${port}`, STREAM), 3);
  checkResults(t, results, 3);
  t.ok(results[0].endSec < 1.5, `from the start of the stream (${results[0].endSec} s)`);
});

test('TCP MPEG-TS from ffmpeg -listen 1: the stream ends when the sender closes', async (t) => {
  const model = await tinyModel();
  const port = await freeTcpPort();
  // Not paced: the whole file goes as fast as the reader takes it, and the connection closes after it.
  const { exited } = sender(t, `tcp://127.0.0.1:${port}?listen=1`, { input: ['-i', VIDEO], format: ['-f', 'mpegts', '-listen', '1'] });
  await waitUntilBound('tcp', port, senderStopped(exited));
  const events = [];
  const results = [];
  for await (const r of classifyStream(model, `tcp://127.0.0.1:${port}`, { ...STREAM, onEvent: (e) => events.push(e.type) })) {
    results.push(r);
  }
  t.ok(results.length >= 4, `${results.length} results`);
  checkResults(t, results, results.length);
  t.ok(results.at(-1).endSec > 7, `to the end of the stream (${results.at(-1).endSec} s)`);
  t.same(events, ['open', 'end'], 'the source opened and ended');
  t.equal((await exited).code, 0, 'the sender sent the whole file');
});

// One window's compute on this machine now is what the latency bound is made of, so the bound holds on
// a slow or busy machine and still catches an unbounded queue (whose latency grows by seconds a minute).
test('bounded: a stream paced faster than r3d_18 can classify it, for 60 s: flat RSS, drops, bounded latency', async (t) => {
  if (!requirePrerequisite(t, fs.existsSync(modelPath('r3d_18')), `no ${modelPath('r3d_18')} (npm run setup exports it)`)) return;
  const HOP_SEC = 0.2; // 5 windows a second: more than r3d_18 fp32 computes on a few cores
  const WARMUP_MS = 5_000;
  const MEASURED_MS = 60_000;
  const model = await loadModel(modelPath('r3d_18'));
  t.teardown(() => model.dispose());
  const computeMs = [];
  const batcher = model.batcher({ maxBatchSize: 1, onBatch: (b) => computeMs.push(b.computeMs) });
  t.teardown(() => batcher.close());
  const port = await freeUdpPort();
  const iterator = classifyStream(batcher, `udp://127.0.0.1:${port}?localaddr=127.0.0.1`, { ...STREAM, hopSec: HOP_SEC });
  closeInTeardown(t, iterator);
  const first = iterator.next();
  await waitUntilBound('udp', port, readerStopped(first));
  // Loops the 8 s file for as long as the test runs, at 25 fps (-stream_loop keeps the timestamps going).
  const { exited } = sender(t, `udp://127.0.0.1:${port}?pkt_size=1316`, { input: ['-re', '-stream_loop', '-1', '-i', VIDEO] });
  const results = [(await first).value];
  const rss = []; // [ms since the end of the warm-up, bytes]
  let warmedAt;
  const sampler = setInterval(() => {
    if (warmedAt !== undefined) rss.push([performance.now() - warmedAt, process.memoryUsage().rss]);
  }, 1000);
  t.teardown(() => clearInterval(sampler));
  const startedAt = performance.now();
  let warmResults; // results before the end of the warm-up
  for await (const r of { [Symbol.asyncIterator]: () => iterator }) {
    results.push(r);
    const now = performance.now();
    if (warmedAt === undefined && now - startedAt >= WARMUP_MS) {
      warmedAt = now;
      warmResults = results.length;
      computeMs.length = 0; // the first forward passes optimize the graph: not one window's compute
    }
    if (warmedAt !== undefined && now - warmedAt >= MEASURED_MS) break;
  }
  clearInterval(sampler);
  t.equal(await Promise.race([exited.then(() => 'exited'), delay(0, 'running')]), 'running', 'the sender ran throughout');

  const last = results.at(-1);
  t.ok(last.dropped > 0, `${last.dropped} windows dropped, ${results.length} classified`);
  for (let i = 1; i < results.length; i++) {
    if (!(results[i].endSec > results[i - 1].endSec))
      t.fail(`result ${i} ends at ${results[i].endSec} s, after ${results[i - 1].endSec} s`);
  }

  // RSS: the reader holds a ring of 16 frames (3.7 MB at 320x240), one pending window (2.4 MB), FFmpeg's
  // UDP FIFO (5.4 MB), all allocated by the warm-up. A leak of one window per classified window would add
  // 2.4 MB x (one to several per second) x 40 s between the two 10 s spans (100+ MB), one per dropped window
  // more; 64 MiB is far below that and well above what the allocators' caches and the JS heap move by.
  const firstSpan = rss.filter(([ms]) => ms < 10_000).map(([, bytes]) => bytes);
  const lastSpan = rss.filter(([ms]) => ms >= MEASURED_MS - 10_000).map(([, bytes]) => bytes);
  t.ok(firstSpan.length >= 8 && lastSpan.length >= 8, `RSS sampled every second (${rss.length} samples)`);
  checkRssGrowth(t, (Math.max(...lastSpan) - Math.max(...firstSpan)) / 2 ** 20, 64, 'from the first to the last 10 s');

  // Latency: a window waits at most for the forward pass in progress and is at most a hop old when taken
  // (a newer one replaces it), then has its own forward pass: one hop plus one compute, and the window's
  // own decode, resample and preprocess, and a frame interval (a frame is settled when the next one comes).
  const compute = Math.max(...computeMs);
  const bound = compute + HOP_SEC * 1000 + 40 + 200;
  const worst = Math.max(...results.slice(warmResults).map((r) => r.latencyMs));
  t.ok(computeMs.length > 10, `${computeMs.length} forward passes timed (slowest ${compute.toFixed(0)} ms)`);
  t.ok(worst <= bound, `latency at most ${worst.toFixed(0)} ms (bound: one compute + one hop + 240 ms = ${bound.toFixed(0)} ms)`);
});

// Found while writing the streams bench: the reader's last wake-up (queued by the decode thread as it
// stops) may still be queued when the event loop empties, and is then delivered during teardown, where
// JS cannot run; calling it there threw into std::terminate (SIGABRT). binding/stream_reader.cc now drops it.
test('a process that breaks out of a stream and then has nothing left to do exits with 0', async (t) => {
  const script = `
    const { loadModel, classifyStream } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
    (async () => {
      const model = await loadModel(${JSON.stringify(TINY)}, { threads: 1 });
      for await (const r of classifyStream(model, ${JSON.stringify(VIDEO)}, { hopSec: 0.5 })) break;
    })();`;
  const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.equal(child.signal, null, `no abort: ${child.stderr.trim()}`);
  t.equal(child.status, 0, 'exit code 0');
});
