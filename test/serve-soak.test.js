'use strict';
// 300 inference requests over HTTP at once-ish (40 in flight), of random sizes, JSON and binary, a fifth of
// them cut by their client (some mid-upload, some while queued): every answered request equals its own
// model.forward, the server keeps serving, and no file descriptor (socket, temp file) is left behind.
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const t = require('tap');
const { loadModel, Tensor } = require('../dist/index.js');
const { createServer } = require('../dist/serve/server');
const { randomFloats, maxAbsDiff } = require('./helpers/models');
const { binaryBody, parseInferResponse, makeTinyModel } = require('./helpers/kserve-client');

const TINY = makeTinyModel();
const CLIP_SHAPE = [3, 4, 32, 32];
const CLIP_SIZE = 3 * 4 * 32 * 32;
const REQUESTS = 300;
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
  let next = 0;
  const worker = async () => {
    while (next < REQUESTS) {
      const i = next++;
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
      results[i] = { data, shape, cut, response: await send(server.address, body, headers, cut, choices[3 * i + 2] < 0.1 ? 0.5 : 1) };
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));

  let answered = 0;
  for (const [i, { data, shape, cut, response }] of results.entries()) {
    if (response.cut) {
      if (!cut) t.fail(`request ${i} was not cut by its client, yet got no answer`);
      continue;
    }
    if (response.status !== 200) {
      t.fail(`request ${i}: status ${response.status} ${response.body}`);
      continue;
    }
    answered++;
    const { head, outputs } = parseInferResponse(response);
    if (head.id !== String(i)) t.fail(`request ${i} got the answer for ${head.id}`);
    const logits = await model.forward(Tensor.from(data, shape));
    const diff = maxAbsDiff(outputs[0].values, logits.data());
    logits.dispose();
    if (diff > 1e-5) t.fail(`request ${i}: max difference ${diff} from its own forward`);
  }
  const cutCount = results.filter((r) => r.cut).length;
  t.ok(answered >= REQUESTS - cutCount, `${answered} answered of ${REQUESTS - cutCount} not cut (${cutCount} cut by their clients)`);
  const stats = server.models.get('tiny').batcher.stats();
  t.match(stats, { queuedClips: 0, queuedRequests: 0, failed: 0, rejected: 0 }, 'nothing left queued, nothing refused or failed');

  // Sockets close a few ticks after their last byte: wait for them (bounded), then count.
  for (let tries = 0; tries < 200 && openFds() > baseline; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
  t.ok(openFds() <= baseline, `file descriptors back to ${baseline} (now ${openFds()})`);
});
