'use strict';
// 2,000 inference requests over HTTP at once-ish (40 in flight), of random sizes, JSON and binary, a fifth of
// them cut by their client (some mid-upload, some while queued): every answered request equals its own
// model.forward, the server keeps serving, no file descriptor (socket, temp file) is left behind, and RSS
// stays flat once warm (from request 500 to the end).
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const t = require('tap');
const { loadModel, Tensor } = require('../dist/index.js');
const { createServer } = require('../dist/internal.js');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { checkRssGrowth } = require('./helpers/rss');
const { binaryBody, parseInferResponse, makeTinyModel } = require('./helpers/kserve-client');

const TINY = makeTinyModel();
const CLIP_SHAPE = [3, 4, 32, 32];
const CLIP_SIZE = 3 * 4 * 32 * 32;
const REQUESTS = 2000;
const CONCURRENCY = 40;
t.teardown(() => fs.rmSync(path.dirname(TINY), { recursive: true, force: true }));

const openFds = () => fs.readdirSync('/proc/self/fd').length;

// A deterministic stream of choices (mulberry32 via randomFloats), so a failure reproduces.
const choices = randomFloats(REQUESTS * 3, 777).map((x) => (x + 1) / 2);

/** Sends one request; `cut` destroys it after `cutAfter` of the body (1: once sent, while it waits). */
function send(address, body, headers, cut, cutAfter) {
  return new Promise((resolve) => {
    const req = http.request(new URL('/v2/models/tiny/infer', address), { method: 'POST', headers, agent: false });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', () => resolve({ cut: true }));
    });
    req.on('error', () => resolve({ cut: true }));
    if (!cut) return req.end(body);
    const at = Math.floor(body.length * cutAfter);
    req.write(body.subarray(0, at), () => setImmediate(() => req.destroy()));
    if (at === body.length) req.end();
  });
}

t.test('random sizes, JSON and binary, a fifth cut by their clients: the rest exact, nothing leaked', async (t) => {
  const model = await loadModel(TINY);
  t.teardown(() => model.dispose());
  const server = await createServer({ models: [{ name: 'tiny', path: TINY }], port: 0, maxBatch: 4, maxQueueClips: 4 * CONCURRENCY });
  t.teardown(() => server.close());
  const baseline = openFds();

  const results = new Array(REQUESTS);
  let rssWarm;
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
      if (i === 500) rssWarm = process.memoryUsage().rss;
      const batch = 1 + Math.floor(choices[3 * i] * 4);
      const data = randomFloats(batch * CLIP_SIZE, 1000 + i);
      const shape = [batch, ...CLIP_SHAPE];
      const cut = choices[3 * i + 1] < 0.2;
      const binary = choices[3 * i + 2] < 0.5;
      let body;
      let headers;
      if (binary) {
        const encoded = binaryBody({ id: String(i), shape, data });
        body = encoded.body;
        headers = { 'inference-header-content-length': String(encoded.headerLength), 'content-length': body.length };
      } else {
        body = Buffer.from(JSON.stringify({ id: String(i), inputs: [{ name: 'clips', datatype: 'FP32', shape, data: Array.from(data) }] }));
        headers = { 'content-type': 'application/json', 'content-length': body.length };
      }
      const response = await send(server.address, body, headers, cut, choices[3 * i + 2] < 0.1 ? 0.5 : 1);
      // Checked here and let go, so the test itself holds nothing per request (its RSS is the server's).
      results[i] = { cut, response: await check(i, data, shape, response) };
    }
  };
  // What is kept of a response: whether it was cut, its status, and how far it is from its own forward.
  const check = async (i, data, shape, response) => {
    if (response.cut || response.status !== 200) return { cut: response.cut, status: response.status, body: String(response.body ?? '') };
    const { head, outputs } = parseInferResponse(response);
    const logits = await model.forward(Tensor.from(data, shape));
    const diff = maxAbsDiff(outputs[0].values, logits.data());
    logits.dispose();
    return { status: 200, id: head.id, diff };
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  global.gc?.();
  checkRssGrowth(t, (process.memoryUsage().rss - rssWarm) / 2 ** 20, 60, 'from request 500 to 2,000 (server and clients in this process)');

  let answered = 0;
  for (const [i, { cut, response }] of results.entries()) {
    if (response.cut) {
      if (!cut) t.fail(`request ${i} was not cut by its client, yet got no answer`);
      continue;
    }
    if (response.status !== 200) {
      t.fail(`request ${i}: status ${response.status} ${response.body}`);
      continue;
    }
    answered++;
    if (response.id !== String(i)) t.fail(`request ${i} got the answer for ${response.id}`);
    if (response.diff > 1e-5) t.fail(`request ${i}: max difference ${response.diff} from its own forward`);
  }
  const cutCount = results.filter((r) => r.cut).length;
  t.ok(answered >= REQUESTS - cutCount, `${answered} answered of ${REQUESTS - cutCount} not cut (${cutCount} cut by their clients)`);
  const stats = server.models.get('tiny').batcher.stats();
  t.match(stats, { queuedClips: 0, queuedRequests: 0, failed: 0, rejected: 0 }, 'nothing left queued, nothing refused or failed');

  // Sockets close a few ticks after their last byte: wait for them (bounded), then count.
  for (let tries = 0; tries < 200 && openFds() > baseline; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(openFds() <= baseline, `file descriptors back to ${baseline} (now ${openFds()})`);
});
