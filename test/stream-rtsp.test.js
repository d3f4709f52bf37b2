// classifyStream on RTSP, with a real server on loopback: Debian's rtsp-server-perl takes a stream that
// `ffmpeg -re ... -f rtsp` publishes to it and serves it to classifyStream. The faults are real too: the
// server is killed mid-stream and started again (the stream is reopened and results resume), killed for
// good (the reopenings give up with a named error), or its publisher is frozen (a stall counts as a close).
'use strict';
const t0 = require('tap');
const { test } = t0;
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const path = require('node:path');
const { setTimeout: delay } = require('node:timers/promises');
const { loadModel, classifyStream, TorchVideoError } = require('../dist/index.js');
const { fixture } = require('./helpers/fixtures');
const { freeTcpPort: freePort } = require('./helpers/ports');
const { makeTinyModel } = require('./helpers/kserve-client');

const SERVER = 'rtsp-server-perl';
const haveServer = spawnSync('sh', ['-c', `command -v ${SERVER}`]).status === 0;
if (!haveServer) {
  t0.skip(`${SERVER} is not installed (Debian's rtsp-server-perl; scripts/setup.sh installs it)`);
  return;
}

const VIDEO = fixture('h264-8s.mp4'); // 320x240, 25 fps, 8 s
const TINY = makeTinyModel();
t0.teardown(() => fs.rmSync(path.dirname(TINY), { recursive: true, force: true }));
let modelPromise;
const tinyModel = () => (modelPromise ??= loadModel(TINY, { threads: 1 }));

const STREAM = { clipLength: 8, frameRate: 15, hopSec: 0.5 };
const children = new Set();
t0.teardown(() => {
  for (const child of children) child.kill('SIGKILL');
});

function track(child) {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const open = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.on('connect', () => resolve(true)).on('error', () => resolve(false));
      setTimeout(() => resolve(false), 500).unref();
    }).then((ok) => ok);
    if (open) return;
    await delay(50);
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}`);
}

// One RTSP server on loopback (clients, publishers and RTP all on 127.0.0.1) with a publisher looping
// the fixture at its own pace; `start()` again after `kill()` brings both back on the same ports.
async function rtspSetup() {
  const clientPort = await freePort();
  const sourcePort = await freePort();
  // RTP pairs are even ports counted up from here: a range of its own per test file run.
  const rtpStart = 20000 + 2 * Math.floor(Math.random() * 10000);
  let server;
  let publisher;
  const setup = {
    url: `rtsp://127.0.0.1:${clientPort}/cam`,
    async start() {
      server = track(
        spawn(
          SERVER,
          [
            '--clientport',
            String(clientPort),
            '--serverport',
            String(sourcePort),
            '--client_listen_address',
            '127.0.0.1',
            '--source_listen_address',
            '127.0.0.1',
            '--rtp_start_port',
            String(rtpStart),
          ],
          { stdio: 'ignore' },
        ),
      );
      await waitForPort(clientPort);
      await waitForPort(sourcePort);
      publisher = track(
        spawn(
          'ffmpeg',
          ['-v', 'error', '-re', '-stream_loop', '-1', '-i', VIDEO, '-c', 'copy', '-f', 'rtsp', `rtsp://127.0.0.1:${sourcePort}/cam`],
          { stdio: 'ignore' },
        ),
      );
      // The mount exists once the publisher has announced it: until then clients get 404.
      await delay(500);
    },
    kill() {
      server?.kill('SIGKILL');
      publisher?.kill('SIGKILL');
    },
    freeze() {
      publisher.kill('SIGSTOP');
    },
    thaw() {
      publisher.kill('SIGCONT');
    },
  };
  return setup;
}

// A server with its publisher running, both killed when test `t` ends.
async function startedRtsp(t) {
  const rtsp = await rtspSetup();
  t.teardown(() => rtsp.kill());
  await rtsp.start();
  return rtsp;
}

test('an RTSP camera: results arrive in stream order from an rtsp-server-perl on loopback', async (t) => {
  const model = await tinyModel();
  const rtsp = await startedRtsp(t);
  const events = [];
  const results = [];
  const reconnect = { retries: 20, initialDelayMs: 100, maxDelayMs: 500 };
  for await (const r of classifyStream(model, rtsp.url, { ...STREAM, reconnect, onEvent: (e) => events.push(e.type) })) {
    results.push(r);
    if (results.length === 4) break;
  }
  t.equal(results.length, 4);
  t.equal(events[0], 'open');
  for (let i = 1; i < results.length; i++) t.ok(results[i].endSec > results[i - 1].endSec, 'stream time goes forward');
  for (const r of results) {
    t.ok(Math.abs(r.endSec - r.startSec - 7 / 15) < 1e-9, 'a window spans clipLength frames at frameRate');
    t.ok(r.top.length > 0 && r.latencyMs >= 0);
  }
});

test('the RTSP server killed mid-stream and started again: the stream is reopened and results resume', async (t) => {
  const model = await tinyModel();
  const rtsp = await startedRtsp(t);
  const events = [];
  const results = [];
  let restarted;
  const reconnect = { retries: 50, initialDelayMs: 100, maxDelayMs: 400 };
  const options = { ...STREAM, reconnect, stallTimeoutMs: 2000, onEvent: (e) => events.push(e) };
  for await (const r of classifyStream(model, rtsp.url, options)) {
    results.push(r);
    if (results.length === 3) {
      rtsp.kill();
      // Down for a while (the reopenings meanwhile are refused), then back.
      restarted = delay(1500).then(() => rtsp.start());
    }
    if (r.reconnects > 0 && results.filter((x) => x.reconnects > 0).length === 3) break;
  }
  await restarted;
  const before = results.filter((r) => r.reconnects === 0);
  const after = results.filter((r) => r.reconnects > 0);
  t.ok(before.length >= 3 && after.length === 3, `${before.length} results before, ${after.length} after`);
  t.ok(
    after.every((r) => r.reconnects >= 1),
    'results after the restart count the reconnection',
  );
  const reconnecting = events.filter((e) => e.type === 'reconnecting');
  t.ok(reconnecting.length >= 1, `${reconnecting.length} reconnecting events`);
  t.equal(reconnecting[0].attempt, 1);
  t.equal(reconnecting[0].delayMs, 100);
  t.equal(reconnecting[0].source, rtsp.url);
  t.type(reconnecting[0].reason, 'string');
  for (let i = 1; i < reconnecting.length; i++) {
    t.equal(reconnecting[i].delayMs, Math.min(400, 100 * 2 ** (reconnecting[i].attempt - 1)), 'exponential backoff up to maxDelayMs');
  }
  t.ok(events.filter((e) => e.type === 'open').length >= 2, 'opened, then opened again');
  for (let i = 1; i < results.length; i++) {
    if (!(results[i].endSec > results[i - 1].endSec))
      t.fail(`stream time went back at result ${i}: ${results[i - 1].endSec} -> ${results[i].endSec}`);
  }
  // The first window after the reopening is made of the new connection's frames only: it starts at or
  // after the end of the last window before.
  t.ok(after[0].startSec > before.at(-1).endSec, 'no window joins frames from before and after the outage');
});

test('the RTSP server gone for good: the reopenings give up with ERR_VIDEO_OPEN naming the source', async (t) => {
  const model = await tinyModel();
  const rtsp = await startedRtsp(t);
  const events = [];
  const reconnect = { retries: 3, initialDelayMs: 50, maxDelayMs: 200 };
  let seen = 0;
  const error = await (async () => {
    for await (const r of classifyStream(model, rtsp.url, { ...STREAM, reconnect, stallTimeoutMs: 1500, onEvent: (e) => events.push(e) })) {
      t.ok(r.top.length > 0);
      if (++seen === 2) rtsp.kill();
    }
  })().catch((e) => e);
  t.type(error, TorchVideoError);
  t.equal(error.code, 'ERR_VIDEO_OPEN');
  t.match(error.message, `cannot open stream source '${rtsp.url}'`);
  t.match(error.message, /gave up after 3 retries/);
  const attempts = events.filter((e) => e.type === 'reconnecting').map((e) => [e.attempt, e.delayMs]);
  t.same(
    attempts.slice(-3),
    [
      [1, 50],
      [2, 100],
      [3, 200],
    ],
    'three attempts after the loss, 50, 100 and 200 ms apart',
  );
});

test('a frozen publisher: a stall counts as a close, the stream is reopened and goes on', async (t) => {
  const model = await tinyModel();
  const rtsp = await startedRtsp(t);
  const events = [];
  const results = [];
  const reconnect = { retries: 50, initialDelayMs: 100, maxDelayMs: 200 };
  let frozen = false;
  for await (const r of classifyStream(model, rtsp.url, { ...STREAM, reconnect, stallTimeoutMs: 700, onEvent: (e) => events.push(e) })) {
    results.push(r);
    if (results.length === 2) {
      rtsp.freeze();
      frozen = true;
      setTimeout(() => rtsp.thaw(), 1500).unref();
    }
    if (frozen && r.reconnects > 0) break;
  }
  const stall = events.find((e) => e.type === 'reconnecting');
  t.ok(stall, 'a reconnecting event');
  t.match(stall.reason, /sent nothing for 700 ms/);
  t.ok(results.at(-1).reconnects >= 1, 'results came after the reopening');
});
