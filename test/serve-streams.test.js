'use strict';
// torchvideo serve's live streams (POST/GET/DELETE /v1/streams, GET /v1/streams/{id}/events as Server-Sent
// Events) in-process on 127.0.0.1 with the tiny classifier: a file played in real time (with
// --allow-file-sources) and an ffmpeg -listen 1 HTTP MPEG-TS URL as sources; results arrive in order to
// several subscribers, DELETE stops a stream, the drain ends every feed; 400 / 401 / 403 / 404 / 429.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { setTimeout: delay } = require('node:timers/promises');
const t = require('tap');
const { createServer } = require('../dist/internal.js');
const { EventFeed, MAX_PENDING_BYTES } = require('../dist/internal.js');
const { fixture } = require('./helpers/fixtures');
const { tempDir } = require('./helpers/paths');
const { request, json, makeTinyModel } = require('./helpers/kserve-client');

const TINY = makeTinyModel(); // clips of 4 frames at 15 fps, 5 classes
const VIDEO = fixture('h264-8s.mp4');
t.teardown(() => fs.rmSync(path.dirname(TINY), { recursive: true, force: true }));

async function serve(t, options = {}) {
  const server = await createServer({ models: [{ name: 'tiny', path: TINY }], port: 0, maxBatch: 4, ...options });
  t.teardown(() => server.close());
  return server;
}

const post = (server, body, headers = {}) =>
  request(server.address, 'POST', '/v1/streams', {
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
const get = async (server, urlPath, headers) => {
  const response = await request(server.address, 'GET', urlPath, { headers });
  return { status: response.status, body: response.body.length ? json(response) : undefined };
};

/** Follows a stream's events: `events` fills as they come; `until(n)` waits for n; `ended` when the response ends. */
function follow(server, id, headers = {}) {
  const events = [];
  let waiters = [];
  let buffer = '';
  const notify = () => {
    for (const waiter of waiters) waiter();
    waiters = [];
  };
  let response;
  let onEnded;
  const ended = new Promise((resolve) => (onEnded = resolve));
  const opened = new Promise((resolve, reject) => {
    const req = http.get(new URL(`/v1/streams/${id}/events`, server.address), { agent: false, headers }, (res) => {
      response = res;
      // At once: a response that comes whole (a finished stream's) may close before a promise callback runs.
      res.on('close', onEnded);
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        for (let at; (at = buffer.indexOf('\n\n')) >= 0;) {
          const block = buffer.slice(0, at);
          buffer = buffer.slice(at + 2);
          const name = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (data !== undefined) events.push({ name, data: JSON.parse(data) }); // not a ': keep-alive' comment
        }
        notify();
      });
      resolve(res);
    });
    req.on('error', reject);
  });
  return {
    events,
    opened,
    ended,
    async until(check) {
      await opened;
      while (!check(events)) await new Promise((resolve) => waiters.push(resolve));
    },
    close: () => response?.destroy(),
  };
}

const REALTIME_FILE = { model: 'tiny', source: VIDEO, realtime: true, hopSec: 0.25 };

t.test('a file played in real time: 201, listed, results in order to two subscribers, DELETE stops it', async (t) => {
  const server = await serve(t, { allowFileSources: true });
  const started = await post(server, REALTIME_FILE);
  t.equal(started.status, 201);
  const info = json(started);
  t.match(info, { id: String, model: 'tiny', source: VIDEO, state: 'running', results: 0, dropped: 0, reconnects: 0 });
  const a = follow(server, info.id);
  const b = follow(server, info.id);
  t.equal((await a.opened).headers['content-type'], 'text/event-stream; charset=utf-8');
  await a.until((events) => events.length >= 3);
  await b.until((events) => events.length >= 2);
  for (const events of [a.events, b.events]) {
    t.ok(
      events.every((e) => e.name === 'result'),
      'results only while it runs',
    );
    for (let i = 1; i < events.length; i++) t.ok(events[i].data.endSec > events[i - 1].data.endSec, 'endSec increases');
    t.match(events[0].data, { startSec: Number, endSec: Number, top: Array, latencyMs: Number, dropped: Number, reconnects: 0 });
  }
  const listed = await get(server, '/v1/streams');
  t.equal(listed.status, 200);
  t.equal(listed.body.streams.length, 1);
  t.match(listed.body.streams[0], { id: info.id, state: 'running' });
  t.ok(listed.body.streams[0].results >= 3, `${listed.body.streams[0].results} results so far`);
  t.match((await get(server, `/v1/streams/${info.id}`)).body, { id: info.id, model: 'tiny', state: 'running' });

  const metrics = (await request(server.address, 'GET', '/metrics')).body.toString();
  t.match(metrics, /^torchvideo_streams_active\{model="tiny"\} 1$/m);
  t.match(metrics, /^torchvideo_stream_results_total\{model="tiny"\} [1-9]\d*$/m);
  t.match(metrics, /^torchvideo_stream_dropped_windows_total\{model="tiny"\} \d+$/m);

  const deleted = await request(server.address, 'DELETE', `/v1/streams/${info.id}`);
  t.equal(deleted.status, 204);
  await Promise.all([a.ended, b.ended]);
  t.match(a.events.at(-1), { name: 'end', data: { id: info.id, state: 'ended', results: Number, reason: 'deleted' } });
  t.equal(b.events.at(-1).name, 'end', 'every subscriber gets the end');
  t.equal((await get(server, `/v1/streams/${info.id}`)).status, 404, 'a deleted stream is forgotten');
  t.equal((await request(server.address, 'DELETE', `/v1/streams/${info.id}`)).status, 404);
  t.same((await get(server, '/v1/streams')).body, { streams: [] });
  const after = (await request(server.address, 'GET', '/metrics')).body.toString();
  t.match(after, /^torchvideo_streams_active\{model="tiny"\} 0$/m);
});

t.test('a subscriber that disconnects is unsubscribed; one slower than the events is closed', async (t) => {
  const server = await serve(t, { allowFileSources: true });
  const { id } = json(await post(server, REALTIME_FILE));
  const leaving = follow(server, id);
  await leaving.until((events) => events.length >= 1);
  leaving.close();
  const staying = follow(server, id);
  await staying.until((events) => events.length >= 2);
  t.pass('the feed goes on for the others');
  await request(server.address, 'DELETE', `/v1/streams/${id}`);

  // The feed itself, with responses whose unread bytes are set by hand.
  const feed = new EventFeed();
  const fake = (writableLength) => {
    const response = new (require('node:events').EventEmitter)();
    Object.assign(response, { writableLength, written: [], destroyed: false });
    response.write = (text) => response.written.push(text);
    response.end = () => response.emit('close');
    response.destroy = () => {
      response.destroyed = true;
      response.emit('close');
    };
    return response;
  };
  const fast = fake(0);
  const slow = fake(MAX_PENDING_BYTES + 1);
  feed.subscribe(fast);
  feed.subscribe(slow);
  feed.send('result', { n: 1 });
  t.same(fast.written, ['event: result\ndata: {"n":1}\n\n']);
  t.ok(slow.destroyed, 'the slow subscriber is closed');
  t.equal(feed.size, 1, 'and forgotten');
  feed.keepAlive();
  t.equal(fast.written.at(-1), ': keep-alive\n\n', 'a comment line keeps an idle connection open');
  fast.emit('close');
  t.equal(feed.size, 0, 'a closed response leaves the feed');
});

t.test('an HTTP MPEG-TS source (ffmpeg -listen 1): results to its end, then a late subscriber gets the end at once', async (t) => {
  const server = await serve(t); // no --allow-file-sources: a URL needs none
  const port = await new Promise((resolve) => {
    const probe = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
  const url = `http://127.0.0.1:${port}/live.ts`;
  const ffmpeg = spawn('ffmpeg', ['-v', 'error', '-i', VIDEO, '-c', 'copy', '-f', 'mpegts', '-listen', '1', url], { stdio: 'ignore' });
  t.teardown(() => ffmpeg.kill('SIGKILL'));
  // ffmpeg says nothing when it listens (a probe would take its one connection): retry while refused.
  let info;
  for (let attempt = 0; ; attempt++) {
    // Not reopened: ffmpeg -listen 1 serves one client, and its end is the stream's end.
    const started = await post(server, { model: 'tiny', source: url, stallTimeoutMs: 5000, reconnect: false });
    t.equal(started.status, 201);
    const { id } = json(started);
    const feed = follow(server, id);
    await feed.ended;
    info = (await get(server, `/v1/streams/${id}`)).body;
    if (info.state === 'ended') {
      const results = feed.events.filter((e) => e.name === 'result');
      t.ok(results.length > 0, `${results.length} results`);
      for (let i = 1; i < results.length; i++) t.ok(results[i].data.endSec > results[i - 1].data.endSec);
      t.ok(results.at(-1).data.endSec > 7, 'to the end of the stream');
      t.match(feed.events.at(-1), { name: 'end', data: { id, state: 'ended', results: Number } });
      break;
    }
    t.equal(info.error.code, 'ERR_VIDEO_OPEN', `attempt ${attempt}: not listening yet`);
    if (attempt >= 50) throw new Error('ffmpeg never listened');
    await delay(100);
  }
  t.match(info, { state: 'ended', source: url });
  const late = follow(server, info.id);
  await late.ended;
  t.same(late.events, [{ name: 'end', data: { id: info.id, state: 'ended', results: info.results } }]);
});

t.test('a source that fails: state failed with its error, its feed answers the error at once', async (t) => {
  const server = await serve(t, { allowFileSources: true, maxStreams: 1 });
  const ids = [];
  for (const name of ['missing-1.mp4', 'missing-2.mp4']) {
    const { id } = json(await post(server, { model: 'tiny', source: path.join(os.tmpdir(), 'torchvideo-no-such-folder', name) }));
    ids.push(id);
    await follow(server, id).ended;
  }
  const { streams } = (await get(server, '/v1/streams')).body;
  t.same(
    streams.map((s) => s.id),
    [ids[1]],
    'finished streams are kept up to --max-streams, the oldest forgotten',
  );
  t.match(streams[0], { state: 'failed', error: { code: String, message: /missing-2\.mp4/ } });
  const late = follow(server, ids[1]);
  await late.ended;
  t.match(late.events, [{ name: 'error', data: { id: ids[1], state: 'failed', error: { code: String } } }]);
});

t.test('local sources need --allow-file-sources (403); --max-streams (429); unknown model and stream (404)', async (t) => {
  const server = await serve(t, { maxStreams: 1 });
  for (const source of [VIDEO, `file://${VIDEO}`, '/dev/video0', 'ftp://127.0.0.1/x.ts']) {
    const refused = await post(server, { model: 'tiny', source });
    t.equal(refused.status, 403, source);
    t.match(json(refused).error, /must be an http, https, udp, tcp, rtsp or srt URL.*--allow-file-sources/);
  }
  const unknown = await post(server, { model: 'nope', source: 'http://127.0.0.1:9/x.ts' });
  t.same([unknown.status, json(unknown)], [404, { error: "unknown model 'nope' (this server serves 'tiny')" }]);
  t.same(await get(server, '/v1/streams/nope'), { status: 404, body: { error: "unknown stream 'nope'" } });
  t.equal((await get(server, '/v1/streams/nope/events')).status, 404);

  // A source that stalls (a TCP server that never answers) keeps its stream running.
  const sockets = new Set();
  const silent = net.createServer((socket) => sockets.add(socket));
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const socket of sockets) socket.destroy();
    silent.close();
  });
  const source = `http://127.0.0.1:${silent.address().port}/silent.ts`;
  t.equal((await post(server, { model: 'tiny', source, stallTimeoutMs: 60_000 })).status, 201);
  const over = await post(server, { model: 'tiny', source });
  t.equal(over.status, 429);
  t.match(json(over).error, /limit of 1 streams \(--max-streams\)/);
  t.equal((await get(server, '/v1/streams')).body.streams.length, 1, 'nothing started');
});

t.test('bad bodies: 400 naming the field', async (t) => {
  const server = await serve(t);
  const url = 'http://127.0.0.1:9/x.ts';
  const cases = [
    ['[]', /expected a JSON object as the body/],
    ['"x"', /expected a JSON object as the body/],
    ['{"model": ', /JSON/],
    [{ source: url }, /expected model to be a non-empty string, got undefined/],
    [{ model: 'tiny' }, /expected source to be a non-empty string, got undefined/],
    [{ model: 'tiny', source: '' }, /expected source to be a non-empty string, got ''/],
    [{ model: 'tiny', source: `http://127.0.0.1/${'a'.repeat(5000)}` }, /expected source to be at most 4096 characters, got 5017/],
    [{ model: 'tiny', source: 'http://127.0.0.1/\nx' }, /expected source without control characters/],
    [{ model: 'tiny', source: url, extra: 1 }, /unknown field 'extra'/],
    [{ model: 'tiny', source: url, hopSec: 0 }, /expected hopSec to be a number in \(0, 3600\], got number 0/],
    [{ model: 'tiny', source: url, hopSec: '1' }, /expected hopSec to be a number in \(0, 3600\], got '1'/],
    [{ model: 'tiny', source: url, clipLength: 1.5 }, /expected clipLength to be an integer in \[1, 256\], got number 1.5/],
    [{ model: 'tiny', source: url, frameRate: 500 }, /expected frameRate to be a number in \(0, 120\], got number 500/],
    [{ model: 'tiny', source: url, topk: 6 }, /expected topk to be an integer in \[1, 5\], got number 6/],
    [{ model: 'tiny', source: url, average: 0 }, /expected average to be an integer in \[1, 100\]/],
    [{ model: 'tiny', source: url, threshold: 2 }, /expected threshold to be a number in \[0, 1\], got number 2/],
    [{ model: 'tiny', source: url, realtime: 'yes' }, /expected realtime to be a boolean, got 'yes'/],
    [{ model: 'tiny', source: url, stallTimeoutMs: 0 }, /expected stallTimeoutMs to be an integer in \[100, 600000\], got number 0/],
    [
      { model: 'tiny', source: url, reconnect: { retries: -1 } },
      /expected reconnect\.retries to be an integer in \[0, 1000\], got number -1/,
    ],
    [{ model: 'tiny', source: url, reconnect: { forever: true } }, /unknown field reconnect\.forever/],
    [{ model: 'tiny', source: url, reconnect: true }, /expected reconnect to be false or an object, got boolean true/],
  ];
  for (const [body, message] of cases) {
    const response = await post(server, body);
    t.equal(response.status, 400, JSON.stringify(body).slice(0, 80));
    t.match(json(response).error, message);
  }
  const huge = await post(server, { model: 'tiny', source: url, pad: 'x'.repeat(20_000) });
  t.equal(huge.status, 413, 'a body past 16 KiB');
  t.same((await get(server, '/v1/streams')).body, { streams: [] }, 'nothing started');
});

t.test('the token guards the stream routes', async (t) => {
  const dir = tempDir('torchvideo-token-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.writeFileSync(path.join(dir, 'token'), 'secret-token\n');
  const server = await serve(t, { tokenFile: path.join(dir, 'token') });
  const url = 'http://user:pw@127.0.0.1:9/x.ts';
  t.equal((await post(server, { model: 'tiny', source: url })).status, 401);
  t.equal((await get(server, '/v1/streams')).status, 401);
  t.equal((await get(server, '/v1/streams/x/events')).status, 401);
  const auth = { authorization: 'Bearer secret-token' };
  const started = await post(server, { model: 'tiny', source: url }, auth);
  t.equal(started.status, 201);
  t.equal(json(started).source, 'http://***@127.0.0.1:9/x.ts', "the URL's user:password is never sent back");
  t.equal((await get(server, '/v1/streams', auth)).status, 200);
});

t.test('the drain stops every stream and ends its feeds before the server closes', async (t) => {
  const server = await createServer({ models: [{ name: 'tiny', path: TINY }], port: 0, allowFileSources: true });
  const { id } = json(await post(server, REALTIME_FILE));
  const feed = follow(server, id);
  await feed.until((events) => events.length >= 1);
  const started = Date.now();
  t.equal(await server.close(), 0, 'nothing cut');
  await feed.ended;
  t.ok(Date.now() - started < 5000, `closed in ${Date.now() - started} ms`);
  t.match(feed.events.at(-1), { name: 'end', data: { id, state: 'ended', results: Number, reason: 'server shutting down' } });
});

t.test('serve --max-streams is checked by name', async (t) => {
  const { runServe } = require('../dist/internal.js');
  await t.rejects(runServe(['--model', TINY, '--max-streams', 'many']), {
    constructor: RangeError,
    message: /expected --max-streams to be an integer in \[0, 1024\], got 'many'/,
  });
});
