// classifyStream: live sources decoded on a native thread into windows of the newest frames. The tiny
// classifier (test/py/make_tiny_classifier.py) keeps the forward passes cheap; the windows are the real
// decode + resample + preprocess of the fixtures.
'use strict';
const t0 = require('tap');
const { test } = t0;
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { PassThrough, Readable } = require('node:stream');
const { setTimeout: delay } = require('node:timers/promises');
const { loadModel, classifyStream, openVideo, preprocess, resampleFrameIndices, softmax, TorchVideoError } = require('../dist/index.js');
const { fixture } = require('./helpers/fixtures');
const { freeTcpPort: freePort } = require('./helpers/ports');
const { makeTinyModel } = require('./helpers/kserve-client');
const { tempDir } = require('./helpers/paths');

const VIDEO = fixture('h264-8s.mp4'); // 320x240, 25 fps, 8 s: 200 frames
const TINY = makeTinyModel();
const dir = tempDir('torchvideo-stream-');
t0.teardown(() => {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.rmSync(path.dirname(TINY), { recursive: true, force: true });
});

let modelPromise;
const tinyModel = () => (modelPromise ??= loadModel(TINY, { threads: 1 }));

const STREAM = { clipLength: 16, frameRate: 15, hopSec: 0.5 };

async function collect(iterable, each) {
  const results = [];
  for await (const r of iterable) {
    results.push(r);
    if (each) await each(r, results.length);
  }
  return results;
}

// The probabilities of the resampled frames [k - 15, k] of the file, classified from the file reader.
async function expectedProbabilities(model, reader, resampled, endSec) {
  const k = Math.round(endSec * STREAM.frameRate);
  const frames = await reader.readFrames(resampled.slice(k - STREAM.clipLength + 1, k + 1));
  const clip = await preprocess(frames, { preprocessing: model.info.preprocessing });
  frames.dispose();
  const logits = await model.forward([clip]);
  clip.dispose();
  const probabilities = softmax(logits.data());
  logits.dispose();
  return probabilities;
}

function scoresByIndex(result, classes) {
  const scores = new Array(classes).fill(undefined);
  for (const p of result.top) scores[p.index] = p.score;
  return scores;
}

// mpegts bytes of the fixture (the same H.264 stream, no re-encoding).
function mpegtsOf(file) {
  return execFileSync('ffmpeg', ['-v', 'error', '-i', file, '-c', 'copy', '-f', 'mpegts', 'pipe:1'], { maxBuffer: 64 << 20 });
}

function fdCount() {
  return fs.readdirSync('/proc/self/fd').length;
}

function threadCount() {
  return fs.readdirSync('/proc/self/task').length;
}

test('a file streamed window by window equals the same frames classified from the file', async (t) => {
  const model = await tinyModel();
  const classes = model.info.numClasses;
  const events = [];
  const results = await collect(classifyStream(model, VIDEO, { ...STREAM, topk: classes, onEvent: (e) => events.push(e.type) }));
  const reader = await openVideo(VIDEO);
  const resampled = resampleFrameIndices(reader.info.frameCount, reader.info.fps, STREAM.frameRate);
  // Windows end at 1.0 s (the 16th frame at 15 fps), then every 0.5 s of stream time, on the next
  // resampled frame: up to the last resampled frame (index resampled.length - 1).
  const lastK = resampled.length - 1;
  let expectedWindows = 0;
  for (let m = 0; Math.ceil((1 + 0.5 * m) * 15 - 1e-9) <= lastK; m++) expectedWindows++;
  t.equal(results.length, expectedWindows, `${expectedWindows} windows over ${lastK + 1} resampled frames`);
  t.same(events, ['open', 'end']);
  let worst = 0;
  for (const [i, r] of results.entries()) {
    t.equal(r.dropped, 0, 'nothing dropped when the consumer keeps up');
    t.equal(r.reconnects, 0);
    t.ok(Math.abs(r.endSec - r.startSec - 15 / 15) < 1e-9, 'a window spans clipLength frames');
    // Window i is due at 1.0 + 0.5 i s of stream time (no drift) and ends on the first resampled frame then.
    const due = Math.ceil((1 + 0.5 * i) * 15 - 1e-9) / 15;
    if (Math.abs(r.endSec - due) > 1e-9) t.fail(`window ${i} ends at ${r.endSec} s, not ${due} s`);
    t.ok(r.latencyMs >= 0);
    const expected = await expectedProbabilities(model, reader, resampled, r.endSec);
    const got = scoresByIndex(r, classes);
    for (let c = 0; c < classes; c++) worst = Math.max(worst, Math.abs(got[c] - expected[c]));
  }
  reader.close();
  t.ok(worst <= 1e-6, `every window's probabilities within 1e-6 of the file's (max difference ${worst})`);
});

test('average and threshold: the mean of the last k windows, labels under the threshold left out', async (t) => {
  const model = await tinyModel();
  const classes = model.info.numClasses;
  const single = await collect(classifyStream(model, VIDEO, { ...STREAM, topk: classes }));
  const averaged = await collect(classifyStream(model, VIDEO, { ...STREAM, topk: classes, average: 3 }));
  t.equal(averaged.length, single.length);
  let worst = 0;
  for (let i = 0; i < single.length; i++) {
    const from = Math.max(0, i - 2);
    const window = single.slice(from, i + 1).map((r) => scoresByIndex(r, classes));
    const got = scoresByIndex(averaged[i], classes);
    for (let c = 0; c < classes; c++) {
      const mean = window.reduce((sum, s) => sum + s[c], 0) / window.length;
      worst = Math.max(worst, Math.abs(got[c] - mean));
    }
  }
  t.ok(worst < 1e-9, `each result is the mean of the last 3 windows (max difference ${worst})`);
  const threshold = 0.21;
  const filtered = await collect(classifyStream(model, VIDEO, { ...STREAM, topk: classes, threshold }));
  let left = 0;
  for (const [i, r] of filtered.entries()) {
    const expected = single[i].top.filter((p) => p.score >= threshold).map((p) => p.index);
    t.same(
      r.top.map((p) => p.index),
      expected,
    );
    left += classes - r.top.length;
  }
  t.ok(left > 0, `the threshold left ${left} labels out`);
});

test('windows of two streams through one batcher equal the model alone', async (t) => {
  const model = await tinyModel();
  const classes = model.info.numClasses;
  const alone = await collect(classifyStream(model, VIDEO, { ...STREAM, topk: classes }));
  const batcher = model.batcher({ maxBatchSize: 4 });
  const [a, b] = await Promise.all([
    collect(classifyStream(batcher, VIDEO, { ...STREAM, topk: classes })),
    collect(classifyStream(batcher, VIDEO, { ...STREAM, topk: classes })),
  ]);
  for (const results of [a, b]) {
    t.equal(results.length, alone.length);
    let worst = 0;
    results.forEach((r, i) => {
      const got = scoresByIndex(r, classes);
      const want = scoresByIndex(alone[i], classes);
      for (let c = 0; c < classes; c++) worst = Math.max(worst, Math.abs(got[c] - want[c]));
    });
    t.ok(worst <= 1e-6, `max difference ${worst}`);
  }
  t.equal(batcher.stats().requests, a.length + b.length, 'every window went through the batcher');
  await batcher.close();
});

test('a Readable fed by a child ffmpeg gives results and ends when the pipe ends', async (t) => {
  const model = await tinyModel();
  const child = spawn('ffmpeg', ['-v', 'error', '-i', VIDEO, '-c', 'copy', '-f', 'mpegts', 'pipe:1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  const results = await collect(classifyStream(model, child.stdout, STREAM));
  t.equal(await exited, 0, 'ffmpeg wrote the whole stream');
  t.ok(results.length > 0, `${results.length} results`);
  t.ok(results.at(-1).endSec > 7, `the last window is the end of the stream (${results.at(-1).endSec} s)`);
  t.ok(results.every((r) => r.top.length === Math.min(5, model.info.numClasses)));
});

test('garbage bytes in a pipe are skipped: the stream goes on after them', async (t) => {
  const model = await tinyModel();
  const bytes = mpegtsOf(VIDEO);
  const cut = Math.floor(bytes.length / 3);
  const garbage = Buffer.alloc(20_000);
  for (let i = 0; i < garbage.length; i++) garbage[i] = (i * 7919 + 13) & 0xff;
  const source = Readable.from([bytes.subarray(0, cut), garbage, bytes.subarray(cut)]);
  const results = await collect(classifyStream(model, source, STREAM));
  t.ok(results.length > 0);
  t.ok(results.at(-1).endSec > 7, `windows after the garbage, to the end (${results.at(-1).endSec} s)`);
});

test('a stream whose timestamps jump back (the same stream twice) keeps its clock going', async (t) => {
  const model = await tinyModel();
  const bytes = mpegtsOf(VIDEO);
  const results = await collect(classifyStream(model, Readable.from([bytes, bytes]), STREAM));
  t.ok(results.at(-1).endSec > 15, `the last window ends at ${results.at(-1).endSec} s of stream time`);
  for (let i = 1; i < results.length; i++) t.ok(results[i].endSec > results[i - 1].endSec);
});

test('a resolution change mid-stream keeps being classified: later frames are scaled to the first size', async (t) => {
  const model = await tinyModel();
  const small = execFileSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-f',
      'lavfi',
      '-i',
      'testsrc2=size=160x120:rate=25:duration=3',
      '-c:v',
      'libx264',
      '-pix_fmt',
      'yuv420p',
      '-f',
      'mpegts',
      'pipe:1',
    ],
    { maxBuffer: 64 << 20 },
  );
  const results = await collect(classifyStream(model, Readable.from([mpegtsOf(VIDEO), small]), STREAM));
  // 8 s of 320x240, then 3 s of 160x120 (whose timestamps start again: the clock continues).
  t.ok(results.at(-1).endSec > 10, `windows of the 160x120 part too (the last ends at ${results.at(-1).endSec} s)`);
  t.ok(results.every((r) => r.top.length > 0 && r.top.every((p) => Number.isFinite(p.score))));
});

test('backpressure: a Readable is paused while the byte queue is full', async (t) => {
  const model = await tinyModel();
  const bytes = mpegtsOf(VIDEO);
  const copies = 40;
  let pulled = 0;
  async function* chunks() {
    for (let copy = 0; copy < copies; copy++) {
      for (let at = 0; at < bytes.length; at += 65536) {
        const chunk = bytes.subarray(at, at + 65536);
        pulled += chunk.length;
        yield chunk;
      }
    }
  }
  // Paced at the stream's rate, the decoder takes about 50 KB in the second before the first result;
  // without backpressure the Readable would hand over all its bytes meanwhile.
  for await (const r of classifyStream(model, Readable.from(chunks()), { ...STREAM, realtime: true })) {
    t.ok(r.endSec >= 1);
    break;
  }
  const total = bytes.length * copies;
  t.ok(pulled < 6 * 1024 * 1024, `${pulled} of ${total} bytes pulled: the 4 MiB queue and the Readable's buffer at most`);
});

test('an HTTP source: an ffmpeg -listen 1 MPEG-TS server on loopback', async (t) => {
  const model = await tinyModel();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/live.ts`;
  const server = spawn('ffmpeg', ['-v', 'error', '-i', VIDEO, '-c', 'copy', '-f', 'mpegts', '-listen', '1', url], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  t.teardown(() => server.kill('SIGKILL'));
  // ffmpeg says nothing when it starts listening (and a probe would take its one connection): retry
  // while the connection is refused.
  let results;
  for (let attempt = 0; ; attempt++) {
    try {
      // Not reopened: its end (ffmpeg -listen 1 serves one client) is the stream's end.
      results = await collect(classifyStream(model, url, { ...STREAM, reconnect: false }));
      break;
    } catch (error) {
      if (!(error instanceof TorchVideoError && error.code === 'ERR_VIDEO_OPEN') || attempt >= 100) throw error;
      await delay(100);
    }
  }
  t.ok(results.length > 0, `${results.length} results`);
  t.ok(results.at(-1).endSec > 7, 'to the end of the stream');
});

test('bounded: a slow consumer of a fast stream gets the newest windows, the stale ones dropped', async (t) => {
  const model = await tinyModel();
  const source = Readable.from([mpegtsOf(VIDEO)]);
  // Held up on the first result long enough for the decoder to get well ahead, then slow throughout.
  const results = await collect(classifyStream(model, source, STREAM), (_, n) => delay(n === 1 ? 1500 : 200));
  const total = (await collect(classifyStream(model, VIDEO, STREAM))).length;
  const last = results.at(-1);
  t.ok(last.dropped > 0, `${last.dropped} windows dropped`);
  t.equal(results.length + last.dropped, total, 'every window was either delivered or counted as dropped');
  t.ok(last.endSec > 7, 'the last result is the newest window');
  for (let i = 1; i < results.length; i++) t.ok(results[i].dropped >= results[i - 1].dropped);
});

test('realtime: a file played at its pace is live (a held-up consumer loses windows); read as fast as taken it is not', async (t) => {
  const model = await tinyModel();
  async function secondResult(realtime) {
    let n = 0;
    for await (const r of classifyStream(model, VIDEO, { ...STREAM, realtime })) {
      if (++n === 2) return r;
      await delay(1500); // 3 hops of stream time go by at the file's pace
    }
  }
  const paced = await secondResult(true);
  t.ok(paced.dropped > 0, `paced: ${paced.dropped} windows dropped while the consumer was held up`);
  // Held from about 1.0 s to 2.5 s of the stream: the windows ending at 1.53 s and 2.0 s were emitted meanwhile.
  t.ok(paced.endSec >= 2 - 1e-9, `paced: the next result is a newer window than the next one (ends at ${paced.endSec} s)`);
  const unpaced = await secondResult(false);
  t.equal(unpaced.dropped, 0, 'unpaced: the reader waited for the consumer');
  t.ok(Math.abs(unpaced.endSec - 23 / 15) < 1e-9, 'unpaced: the next result is the next window');
});

test('a source that sends nothing for stallTimeoutMs ends with ERR_TIMEOUT', async (t) => {
  const model = await tinyModel();
  const silent = new PassThrough();
  await t.rejects(collect(classifyStream(model, silent, { stallTimeoutMs: 300 })), {
    name: 'TorchVideoError',
    code: 'ERR_TIMEOUT',
    message: /sent nothing for 300 ms/,
  });
  t.ok(silent.destroyed, 'the Readable is closed');
});

test('a network source: a stall ends with ERR_TIMEOUT, an abort returns at once from a blocking read', async (t) => {
  const model = await tinyModel();
  // Accepts and says nothing: FFmpeg's HTTP client blocks waiting for the response.
  const sockets = new Set();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket)).resume(); // reads the request, and sees the client's close
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const url = `http://127.0.0.1:${server.address().port}/silent.ts`;
  await t.rejects(collect(classifyStream(model, url, { stallTimeoutMs: 300, reconnect: false })), {
    code: 'ERR_TIMEOUT',
    message: new RegExp(`'${url}' sent nothing for 300 ms`),
  });
  // Reopened after each stall, then given up on, the last failure naming the retries.
  const retried = [];
  const reconnect = { retries: 2, initialDelayMs: 20, maxDelayMs: 30 };
  await t.rejects(collect(classifyStream(model, url, { stallTimeoutMs: 200, reconnect, onEvent: (e) => retried.push(e) })), {
    code: 'ERR_TIMEOUT',
    message: new RegExp(`'${url}' sent nothing for 200 ms \\(stallTimeoutMs\\) \\(gave up after 2 retries\\)`),
  });
  t.same(
    retried.map((e) => [e.type, e.attempt, e.delayMs]),
    [
      ['reconnecting', 1, 20],
      ['reconnecting', 2, 30],
    ],
    'two reopenings, the wait doubled up to maxDelayMs',
  );
  t.match(retried[0].reason, /sent nothing for 200 ms/);
  // The server's end of a connection is in this process too: counted once the client has closed it.
  const settled = async () => {
    for (let i = 0; i < 500 && sockets.size > 0; i++) await delay(10);
    return sockets.size;
  };
  t.equal(await settled(), 0, 'the stalled connection was closed');
  const fds = fdCount();
  const controller = new AbortController();
  const events = [];
  const pending = collect(classifyStream(model, url, { signal: controller.signal, onEvent: (e) => events.push(e.type) }));
  while (sockets.size === 0) await delay(10);
  controller.abort();
  await t.rejects(pending, { name: 'AbortError' });
  t.same(events, [], 'the source never opened');
  t.equal(await settled(), 0, 'the aborted connection was closed');
  t.equal(fdCount(), fds, 'no file descriptors left');
});

test('bad arguments and sources, with messages naming them', async (t) => {
  const model = await tinyModel();
  const first = (source, options) => classifyStream(model, source, options).next();
  const bad = [
    [{ clipLength: 0 }, RangeError, /options\.clipLength/],
    [{ clipLength: 2.5 }, RangeError, /options\.clipLength/],
    [{ frameRate: 'fast' }, TypeError, /options\.frameRate/],
    [{ frameRate: 0 }, RangeError, /options\.frameRate/],
    [{ hopSec: -1 }, RangeError, /options\.hopSec/],
    [{ hopSec: NaN }, RangeError, /options\.hopSec/],
    [{ topk: 0 }, RangeError, /options\.topk/],
    [{ average: 0 }, RangeError, /options\.average/],
    [{ threshold: 1.5 }, RangeError, /options\.threshold/],
    [{ threshold: '0.2' }, TypeError, /options\.threshold/],
    [{ realtime: 'yes' }, TypeError, /options\.realtime/],
    [{ stallTimeoutMs: -1 }, RangeError, /options\.stallTimeoutMs/],
    [{ signal: {} }, TypeError, /options\.signal/],
    [{ onEvent: 5 }, TypeError, /options\.onEvent/],
    [{ reconnect: true }, TypeError, /expected options\.reconnect to be false or an object, got boolean true/],
    [{ reconnect: { retries: -1 } }, RangeError, /options\.reconnect\.retries/],
    [{ reconnect: { retries: 1.5 } }, RangeError, /options\.reconnect\.retries/],
    [{ reconnect: { initialDelayMs: 'soon' } }, TypeError, /options\.reconnect\.initialDelayMs/],
    [{ reconnect: { initialDelayMs: 2000, maxDelayMs: 1000 } }, RangeError, /options\.reconnect\.maxDelayMs/],
    ['nope', TypeError, /expected options to be an object/],
  ];
  for (const [options, type, message] of bad) await t.rejects(first(VIDEO, options), { name: type.name, message });
  await t.rejects(classifyStream({}, VIDEO).next(), { name: 'TypeError', message: /expected model to be a Model or a Batcher/ });
  await t.rejects(first(42), { name: 'TypeError', message: /expected source to be a path, a URL or a Readable, got number 42/ });
  await t.rejects(first(''), { name: 'RangeError', message: /expected source to be a non-empty string/ });

  // Pushed bytes that are no video (or none at all: a Readable that ended before it was handed over).
  await t.rejects(first(Readable.from([Buffer.from('not a video at all\n'.repeat(100))])), {
    code: 'ERR_VIDEO_OPEN',
    message: /cannot open stream source 'Readable'/,
  });
  await t.rejects(first(Readable.from([{ frame: 1 }])), {
    name: 'TypeError',
    message: /expected the source's chunks to be Buffers or Uint8Arrays, got a Object/,
  });
  const drained = Readable.from([]);
  for await (const chunk of drained) t.fail(`unexpected ${chunk}`);
  await t.rejects(first(drained), { code: 'ERR_VIDEO_OPEN', message: /cannot open stream source 'Readable'/ });

  const missing = path.join(dir, 'missing.mp4');
  await t.rejects(first(missing), { name: 'TorchVideoError', code: 'ERR_VIDEO_OPEN', message: new RegExp(`'${missing}': no such file`) });
  await t.rejects(first(`file://${VIDEO}`), { code: 'ERR_VIDEO_OPEN', message: /the protocol 'file' is not allowed/ });
  // Not FFmpeg's concat protocol: a file of that name, which does not exist.
  await t.rejects(first(`concat:${VIDEO}|${VIDEO}`), { code: 'ERR_VIDEO_OPEN', message: /'concat:.*': no such file/ });
  await t.rejects(first('ftp://127.0.0.1/x.mp4'), { code: 'ERR_VIDEO_OPEN', message: /the protocol 'ftp' is not allowed/ });
  await t.rejects(first(dir), { code: 'ERR_NOT_A_FILE' });
  const text = path.join(dir, 'notes.mp4');
  fs.writeFileSync(text, 'not a video at all\n'.repeat(100));
  await t.rejects(first(text), { code: 'ERR_VIDEO_OPEN', message: new RegExp(`cannot open stream source '${text}'`) });
  // A refused connection on loopback: the source is named, its password is not.
  const port = await freePort();
  const refused = await first(`rtsp://user:secret@127.0.0.1:${port}/cam`, { reconnect: false }).catch((error) => error);
  t.equal(refused.code, 'ERR_VIDEO_OPEN');
  t.match(refused.message, `rtsp://***@127.0.0.1:${port}/cam`);
  t.notMatch(refused.message, /secret/);
  // A camera path: a device this machine does not have is named (with libavdevice; without it, the
  // build says it has no capture devices).
  await t.rejects(first('/dev/video987'), {
    code: 'ERR_VIDEO_OPEN',
    message: /'\/dev\/video987': (no such device|this build has no capture devices)/,
  });
});

test('a source that never opens: retried, then ERR_VIDEO_OPEN naming it; an abort ends the wait between attempts', async (t) => {
  const model = await tinyModel();
  const url = `rtsp://127.0.0.1:${await freePort()}/cam`;
  const events = [];
  const reconnect = { retries: 1, initialDelayMs: 10, maxDelayMs: 10 };
  await t.rejects(collect(classifyStream(model, url, { reconnect, onEvent: (e) => events.push(e) })), {
    code: 'ERR_VIDEO_OPEN',
    message: new RegExp(`cannot open stream source '${url}': .* \\(gave up after 1 retry\\)$`),
  });
  t.same(
    events.map((e) => [e.type, e.attempt]),
    [['reconnecting', 1]],
  );
  t.match(events[0].reason, `cannot open stream source '${url}'`);
  // Waiting a minute before the next attempt: the abort ends the wait, the thread goes.
  const threads = threadCount();
  const controller = new AbortController();
  const pending = collect(
    classifyStream(model, url, {
      reconnect: { initialDelayMs: 60_000, maxDelayMs: 60_000 },
      signal: controller.signal,
      onEvent: (e) => {
        if (e.type === 'reconnecting') controller.abort();
      },
    }),
  );
  // Without the abort ending it the wait lasts a minute: whichever settles first tells.
  const outcome = await Promise.race([
    pending.then(
      () => 'finished',
      (error) => error.name,
    ),
    delay(20_000, 'still waiting'),
  ]);
  t.equal(outcome, 'AbortError', 'the abort ended the wait between attempts');
  t.equal(threadCount(), threads, 'the decode thread is gone');
});

test('breaking out of the loop or aborting frees the reader: no fds or threads left', async (t) => {
  const model = await tinyModel();
  // Warm up LibTorch's own thread pools first: they stay for the process, the reader's thread does not.
  await collect(classifyStream(model, VIDEO, STREAM));
  const fds = fdCount();
  const threads = threadCount();
  for (const source of [() => VIDEO, () => Readable.from([mpegtsOf(VIDEO)])]) {
    let seen = 0;
    for await (const r of classifyStream(model, source(), STREAM)) {
      t.ok(r.top.length > 0);
      if (++seen === 2) break;
    }
    t.equal(seen, 2);
    t.equal(fdCount(), fds, 'file descriptors back to where they were');
    t.equal(threadCount(), threads, 'the decode thread is gone');
  }
  const controller = new AbortController();
  const aborted = collect(classifyStream(model, VIDEO, { ...STREAM, realtime: true, signal: controller.signal }), (_, n) => {
    if (n === 1) controller.abort();
  });
  await t.rejects(aborted, { name: 'AbortError' });
  t.equal(fdCount(), fds);
  t.equal(threadCount(), threads);
  const already = new AbortController();
  already.abort();
  await t.rejects(classifyStream(model, VIDEO, { signal: already.signal }).next(), { name: 'AbortError' });
});

test('process.exit() in the middle of a stream exits with its code while the decode thread is busy, without a crash', async (t) => {
  // A Readable with more to decode (the decode thread busy) and a short hop, so exit comes mid-work.
  const script = `
    const { loadModel, classifyStream } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))});
    (async () => {
      const model = await loadModel(${JSON.stringify(TINY)}, { threads: 1 });
      for await (const r of classifyStream(model, process.stdin, { hopSec: 0.05 })) process.exit(7);
    })();`;
  const bytes = mpegtsOf(VIDEO);
  const child = spawnSync(process.execPath, ['-e', script], { input: Buffer.concat([bytes, bytes, bytes]), encoding: 'utf8' });
  t.equal(child.signal, null, `no crash: ${child.stderr}`);
  t.equal(child.status, 7);
});
