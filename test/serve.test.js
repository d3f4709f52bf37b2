'use strict';
// torchvideo serve's HTTP service in-process (createServer on 127.0.0.1, port 0), spoken to with a client
// written from the KServe v2 protocol text (test/helpers/kserve-client.js): every route, JSON and binary
// inference equal to model.forward, the classification extension, the video route equal to classifyVideo,
// the 400/401/404/413/415/503 answers with their messages, a disconnecting client's queued work
// cancelled, and the metrics. The logic runs on a tiny classifier (test/py/make_tiny_classifier.py:
// clips 3x4x32x32); one case runs the real r3d_18 export at its real clip size.
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const t = require('tap');
const { loadModel, classifyVideo, Tensor } = require('../dist/index.js');
const { createServer } = require('../dist/internal.js');
const { fixture } = require('./helpers/fixtures');
const { modelPath, tempDir } = require('./helpers/paths');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { request, json, inferJson, inferBinary, binaryBody, parseInferResponse, makeTinyModel } = require('./helpers/kserve-client');

const TINY = makeTinyModel();
const CLIP_SHAPE = [3, 4, 32, 32];
const CLIP_SIZE = 3 * 4 * 32 * 32;
const LABELS = ['class zero', 'class one', 'class two', 'class three', 'class four'];
t.teardown(() => fs.rmSync(path.dirname(TINY), { recursive: true, force: true }));

let seed = 1;
const clipsData = (batch) => randomFloats(batch * CLIP_SIZE, seed++);

async function solo(model, data, shape) {
  const logits = await model.forward(Tensor.from(data, shape));
  const values = Float32Array.from(logits.data());
  logits.dispose();
  return values;
}

/** A server for this test, closed at its end. */
async function serve(t, options = {}) {
  const server = await createServer({ models: [{ name: 'tiny', path: TINY }], port: 0, ...options });
  t.teardown(() => server.close());
  return server;
}

/** Waits (without a clock) until `check()` holds: the test's timeout bounds it. */
async function until(check) {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

// Temporary upload folders the video route leaves behind (none, when it cleans up).
const uploadFolders = () => fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('torchvideo-serve-'));

const reference = loadModel(TINY);
t.teardown(async () => (await reference).dispose());

t.test('health, server metadata, model metadata and readiness as the protocol describes them', async (t) => {
  const server = await serve(t, { maxBatch: 4 });
  t.match(server.address, /^http:\/\/127\.0\.0\.1:\d+$/, 'listens on loopback by default');
  const get = async (p) => {
    const response = await request(server.address, 'GET', p);
    return { status: response.status, body: json(response) };
  };
  t.same(await get('/v2/health/live'), { status: 200, body: { live: true } });
  t.same(await get('/v2/health/ready'), { status: 200, body: { ready: true } });
  const { version } = require('../package.json');
  t.same(await get('/v2'), {
    status: 200,
    body: { name: 'torchvideo', version, extensions: ['binary_tensor_data', 'classification', 'schedule_policy'] },
  });
  const metadata = {
    name: 'tiny',
    versions: ['1'],
    platform: 'pytorch_libtorch',
    inputs: [{ name: 'clips', datatype: 'FP32', shape: [-1, ...CLIP_SHAPE] }],
    outputs: [{ name: 'logits', datatype: 'FP32', shape: [-1, 5] }],
  };
  t.same(await get('/v2/models/tiny'), { status: 200, body: metadata });
  t.same(await get('/v2/models/tiny/versions/1'), { status: 200, body: metadata }, 'the optional versions path');
  t.same(await get('/v2/models/tiny/ready'), { status: 200, body: { name: 'tiny', ready: true } });
  t.same(await get('/v2/models/tiny/versions/1/ready'), { status: 200, body: { name: 'tiny', ready: true } });

  t.same(await get('/v2/models/nope'), { status: 404, body: { error: "unknown model 'nope' (this server serves 'tiny')" } });
  t.same(await get('/v2/models/nope/ready'), { status: 404, body: { error: "unknown model 'nope' (this server serves 'tiny')" } });
  t.same(await get('/v2/models/tiny/versions/2'), {
    status: 404,
    body: { error: "model 'tiny' has no version '2' (its only version is '1')" },
  });
  t.same(await get('/v3/anything'), { status: 404, body: { error: 'no route GET /v3/anything' } });
});

t.test('JSON and binary inference equal model.forward on the same clips; the id is echoed', async (t) => {
  const server = await serve(t, { maxBatch: 4 });
  const model = await reference;
  const shape = [2, ...CLIP_SHAPE];
  const data = clipsData(2);
  const expected = await solo(model, data, shape);

  const viaJson = await inferJson(server.address, 'tiny', { id: 'request-7', shape, data });
  t.equal(viaJson.status, 200);
  t.match(viaJson.headers['content-type'], /^application\/json/);
  const fromJson = parseInferResponse(viaJson);
  t.same(fromJson.head.model_name, 'tiny');
  t.same(fromJson.head.model_version, '1', 'the version that answered');
  t.same(fromJson.head.id, 'request-7', 'the request id comes back');
  t.same(
    fromJson.outputs.map(({ name, datatype, shape }) => ({ name, datatype, shape })),
    [{ name: 'logits', datatype: 'FP32', shape: [2, 5] }],
  );
  t.ok(maxAbsDiff(fromJson.outputs[0].values, expected) <= 1e-5, 'JSON logits equal forward within 1e-5');

  const viaBinary = await inferBinary(server.address, 'tiny', { id: 'b', shape, data, parameters: { binary_data_output: true } });
  t.equal(viaBinary.status, 200);
  t.equal(viaBinary.headers['content-type'], 'application/octet-stream');
  t.ok(viaBinary.headers['inference-header-content-length'], 'the JSON length comes in Inference-Header-Content-Length');
  const fromBinary = parseInferResponse(viaBinary);
  t.same(fromBinary.head.outputs[0].parameters, { binary_data_size: 2 * 5 * 4 });
  t.ok(maxAbsDiff(fromBinary.outputs[0].values, expected) <= 1e-5, 'binary logits equal forward within 1e-5');

  // Binary in, JSON out (no binary output asked for); and a request without any Content-Type.
  const { body, headerLength } = binaryBody({ shape, data });
  const untyped = await request(server.address, 'POST', '/v2/models/tiny/infer', {
    headers: { 'inference-header-content-length': String(headerLength) },
    body,
  });
  t.equal(untyped.status, 200, 'a body without Content-Type is read as the protocol says');
  t.ok(maxAbsDiff(parseInferResponse(untyped).outputs[0].values, expected) <= 1e-5);
  const versioned = await request(server.address, 'POST', '/v2/models/tiny/versions/1/infer', {
    headers: { 'inference-header-content-length': String(headerLength) },
    body,
  });
  t.equal(versioned.status, 200, 'the versions path infers too');
});

t.test('the classification extension: top-k "value:index:label" per clip, value the logit', async (t) => {
  const server = await serve(t, { maxBatch: 4 });
  const model = await reference;
  const shape = [2, ...CLIP_SHAPE];
  const data = clipsData(2);
  const logits = await solo(model, data, shape);
  const outputs = [{ name: 'logits', parameters: { classification: 3 } }];
  for (const binary of [false, true]) {
    const response = await (binary ? inferBinary : inferJson)(server.address, 'tiny', {
      shape,
      data,
      outputs: binary ? [{ name: 'logits', parameters: { classification: 3, binary_data: true } }] : outputs,
    });
    t.equal(response.status, 200);
    const [output] = parseInferResponse(response).outputs;
    t.equal(output.datatype, 'BYTES');
    t.same(output.shape, [2, 3], '[batch, count]');
    for (let row = 0; row < 2; row++) {
      const rowLogits = Array.from(logits.subarray(row * 5, row * 5 + 5));
      const order = rowLogits.map((_, i) => i).sort((a, b) => rowLogits[b] - rowLogits[a]);
      const strings = output.values.slice(row * 3, row * 3 + 3);
      t.same(
        strings.map((s) => s.split(':').slice(1)),
        order.slice(0, 3).map((i) => [String(i), LABELS[i]]),
        `row ${row} (${binary ? 'binary' : 'JSON'}): the 3 best classes, best first, with their labels`,
      );
      strings.forEach((s, k) => {
        const value = Number(s.split(':')[0]);
        t.ok(Math.abs(value - rowLogits[order[k]]) <= 1e-5, `"${s}" carries the logit ${rowLogits[order[k]]}`);
      });
    }
  }
});

t.test('concurrent callers of mixed sizes each get their own rows', async (t) => {
  // Room for all 30 clips at once (the default, 4 x maxBatch = 16, would refuse some with 503).
  const server = await serve(t, { maxBatch: 4, maxQueueClips: 32 });
  const model = await reference;
  const cases = Array.from({ length: 12 }, (_, i) => {
    const batch = 1 + (i % 4);
    return { batch, data: clipsData(batch) };
  });
  const responses = await Promise.all(
    cases.map(({ batch, data }, i) =>
      (i % 2 ? inferBinary : inferJson)(server.address, 'tiny', { id: String(i), shape: [batch, ...CLIP_SHAPE], data }),
    ),
  );
  for (const [i, response] of responses.entries()) {
    t.equal(response.status, 200, `request ${i} answered`);
    const { head, outputs } = parseInferResponse(response);
    t.equal(head.id, String(i));
    const expected = await solo(model, cases[i].data, [cases[i].batch, ...CLIP_SHAPE]);
    const diff = maxAbsDiff(outputs[0].values, expected);
    if (diff > 1e-5) t.fail(`request ${i}: max difference ${diff} from its own forward`);
  }
  const stats = server.models.get('tiny').batcher.stats();
  t.equal(
    stats.clips,
    cases.reduce((n, c) => n + c.batch, 0),
    'every clip went through the batcher',
  );
});

t.test('bad inference requests are 400 (404 for an unknown model) with the protocol error body', async (t) => {
  const server = await serve(t, { maxBatch: 4 });
  const post = (p, body, headers = { 'content-type': 'application/json' }) => request(server.address, 'POST', p, { headers, body });
  const data = clipsData(1);
  const cases = [
    [
      'wrong datatype',
      await inferJson(server.address, 'tiny', { shape: [1, ...CLIP_SHAPE], data, datatype: 'INT32' }),
      /datatype to be 'FP32' .* got "INT32"/,
    ],
    [
      'wrong shape',
      await inferJson(server.address, 'tiny', { shape: [1, 3, 4, 32, 33], data }),
      /shape to be \[B, 3, 4, 32, 32\] with B in \[1, 4\], got \[1, 3, 4, 32, 33\]/,
    ],
    [
      'too many clips',
      await inferBinary(server.address, 'tiny', { shape: [5, ...CLIP_SHAPE], data: clipsData(5) }),
      /B in \[1, 4\], got \[5, 3, 4, 32, 32\]/,
    ],
    [
      'data length mismatch',
      await inferJson(server.address, 'tiny', { shape: [1, ...CLIP_SHAPE], data: data.subarray(1) }),
      /to hold 12288 numbers .* got an array of 12287/,
    ],
    ['bad JSON', await post('/v2/models/tiny/infer', '{"inputs": '), /expected the request body to be a JSON inference request/],
    ['empty body', await post('/v2/models/tiny/infer', ''), /expected the request body to be a JSON inference request/],
    [
      'binary size mismatch',
      await (async () => {
        const { body, headerLength } = binaryBody({ shape: [1, ...CLIP_SHAPE], data });
        return post('/v2/models/tiny/infer', body.subarray(0, body.length - 1), {
          'inference-header-content-length': String(headerLength),
        });
      })(),
      /expected 49152 bytes of binary data after the \d+-byte JSON .* got 49151/,
    ],
    [
      'a header length beyond the body',
      await post('/v2/models/tiny/infer', '{}', { 'inference-header-content-length': '99' }),
      /Inference-Header-Content-Length header to be the JSON's length, an integer in \[1, 2\]/,
    ],
    [
      'NaN in binary data',
      await inferBinary(server.address, 'tiny', { shape: [1, ...CLIP_SHAPE], data: Float32Array.from(data).fill(NaN, 7, 8) }),
      /NaN/,
    ],
  ];
  for (const [what, response, message] of cases) {
    t.equal(response.status, 400, `${what}: 400`);
    t.match(json(response), { error: message }, `${what}: { error } names it`);
  }
  const unknown = await inferJson(server.address, 'nope', { shape: [1, ...CLIP_SHAPE], data });
  t.equal(unknown.status, 404);
  t.same(json(unknown), { error: "unknown model 'nope' (this server serves 'tiny')" });
  t.equal(server.models.get('tiny').batcher.stats().failed, 1, 'only the NaN request reached the batcher and failed there');
});

t.test('a body beyond --max-body-mb is 413, on both routes, and no partial upload is left', async (t) => {
  const server = await serve(t, { maxBatch: 4, maxBodyMb: 0.125 });
  const before = uploadFolders();
  const big = await inferBinary(server.address, 'tiny', { shape: [3, ...CLIP_SHAPE], data: clipsData(3) });
  t.equal(big.status, 413, 'an infer body of 147 KiB > 128 KiB');
  t.same(json(big), { error: "the request body is larger than the server's limit of 131072 bytes (--max-body-mb 0.125)" });

  const declared = await request(server.address, 'POST', '/v1/models/tiny/classify', {
    headers: { 'content-type': 'video/mp4' },
    body: Buffer.alloc(200 * 1024),
  });
  t.equal(declared.status, 413, 'a video whose Content-Length says too large');
  t.same(json(declared), { error: "the video is larger than the server's limit of 131072 bytes (--max-body-mb 0.125)" });

  // Chunked (no Content-Length): the limit stops the upload while it streams to disk.
  const streamed = await new Promise((resolve, reject) => {
    const req = http.request(new URL('/v1/models/tiny/classify', server.address), {
      method: 'POST',
      headers: { 'content-type': 'video/mp4', 'transfer-encoding': 'chunked' },
      agent: false,
    });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
    });
    // The server may close the connection while this still writes: only the answer matters.
    req.on('error', (error) => (error.code === 'EPIPE' || error.code === 'ECONNRESET' ? undefined : reject(error)));
    for (let i = 0; i < 16; i++) req.write(Buffer.alloc(16 * 1024, i));
    req.end();
  });
  t.equal(streamed.status, 413, 'a chunked video past the limit');
  t.same(JSON.parse(streamed.body), { error: "the video is larger than the server's limit of 131072 bytes (--max-body-mb 0.125)" });
  t.same(uploadFolders(), before, 'the partial upload and its folder are removed');
});

t.test('a disconnected client leaves the queue; 503 with Retry-After when the queue is full, without touching the model', async (t) => {
  // A long maxDelayMs keeps a batch that is not full (4 clips) waiting for company, so what is queued is known.
  const server = await serve(t, { maxBatch: 4, maxQueueClips: 4, maxDelayMs: 60000 });
  const { batcher } = server.models.get('tiny');
  const model = await reference;
  const first = { shape: [1, ...CLIP_SHAPE], data: clipsData(1) };
  const waitingFirst = inferBinary(server.address, 'tiny', first);
  await until(() => batcher.stats().queuedClips === 1);

  // A client that goes away while its clip waits: the clip leaves the queue and never runs.
  const { body, headerLength } = binaryBody({ shape: [1, ...CLIP_SHAPE], data: clipsData(1) });
  const gone = http.request(new URL('/v2/models/tiny/infer', server.address), {
    method: 'POST',
    headers: { 'inference-header-content-length': String(headerLength), 'content-type': 'application/octet-stream' },
    agent: false,
  });
  gone.on('error', () => {});
  gone.end(body);
  await until(() => batcher.stats().queuedClips === 2);
  gone.destroy();
  await until(() => batcher.stats().aborted === 1);
  t.match(batcher.stats(), { queuedClips: 1, batches: 0 }, "the disconnected client's clip left the queue without running");

  const second = { shape: [2, ...CLIP_SHAPE], data: clipsData(2) };
  const waitingSecond = inferJson(server.address, 'tiny', second);
  await until(() => batcher.stats().queuedClips === 3);
  const refused = await inferBinary(server.address, 'tiny', { shape: [2, ...CLIP_SHAPE], data: clipsData(2) });
  t.equal(refused.status, 503, '3 queued + 2 > --max-queue-clips 4');
  t.equal(refused.headers['retry-after'], '1');
  t.match(json(refused), { error: /queue is full/ });
  t.match(batcher.stats(), { rejected: 1, batches: 0, queuedClips: 3 }, 'refused at once; nothing ran');

  // One more clip fills the batch: the three waiting requests run together.
  const last = { shape: [1, ...CLIP_SHAPE], data: clipsData(1) };
  const responses = await Promise.all([waitingFirst, waitingSecond, inferBinary(server.address, 'tiny', last)]);
  for (const [i, input] of [first, second, last].entries()) {
    t.equal(responses[i].status, 200);
    const diff = maxAbsDiff(parseInferResponse(responses[i]).outputs[0].values, await solo(model, input.data, input.shape));
    t.ok(diff <= 1e-5, `request ${i}: its own rows (max diff ${diff})`);
  }
  // 5 clips were accepted into the queue (the aborted one too); one batch of 4 ran.
  t.match(batcher.stats(), { batches: 1, batchSizes: { 4: 1 }, clips: 5 }, 'one batch of 4: the refused and aborted clips never ran');

  const metrics = (await request(server.address, 'GET', '/metrics')).body.toString();
  t.match(metrics, /^torchvideo_rejected_total\{model="tiny"\} 1$/m);
  t.match(metrics, /^torchvideo_requests_total\{model="tiny",endpoint="infer",status="503"\} 1$/m);
  t.match(
    metrics,
    /^torchvideo_requests_total\{model="tiny",endpoint="infer",status="499"\} 1$/m,
    'the disconnected request, as nginx counts it',
  );
});

t.test('a full queue refuses infer and classify before reading their bodies, and counts the refusal', async (t) => {
  const server = await serve(t, { maxBatch: 4, maxQueueClips: 6, maxDelayMs: 60000 });
  const { batcher } = server.models.get('tiny');
  // Filled in-process with two clip shapes, which never share a batch: 3 + 3 clips wait for company.
  const held = [
    batcher.forward(Tensor.from(clipsData(3), [3, ...CLIP_SHAPE])),
    batcher.forward(Tensor.from(new Float32Array(3 * 3 * 4 * 16 * 16), [3, 3, 4, 16, 16])),
  ];
  t.equal(batcher.queuedClips, 6);
  const refused = await inferBinary(server.address, 'tiny', { shape: [1, ...CLIP_SHAPE], data: clipsData(1) });
  t.equal(refused.status, 503);
  t.equal(refused.headers['retry-after'], '1');
  t.equal(refused.headers.connection, 'close', 'the unread body ends the connection');
  t.match(json(refused), { error: "the model 'tiny' is overloaded: its queue holds 6 clips; retry later" });
  const video = await request(server.address, 'POST', '/v1/models/tiny/classify', {
    headers: { 'content-type': 'video/mp4' },
    body: fs.readFileSync(fixture('h264.mp4')),
  });
  t.equal(video.status, 503, 'the video route too');
  t.match(batcher.stats(), { rejected: 0, requests: 2 }, 'the batcher never saw them');
  const metrics = (await request(server.address, 'GET', '/metrics')).body.toString();
  t.match(metrics, /^torchvideo_rejected_total\{model="tiny"\} 2$/m);
  await batcher.close();
  for (const pending of held) t.equal((await pending).shape[0], 3);
});

t.test('a request that times out in the queue is 503 with Retry-After, and never runs', async (t) => {
  const server = await serve(t, { maxBatch: 4, maxDelayMs: 60000, timeoutMs: 20 });
  const response = await inferJson(server.address, 'tiny', { shape: [1, ...CLIP_SHAPE], data: clipsData(1) });
  t.equal(response.status, 503);
  t.equal(response.headers['retry-after'], '1');
  t.match(json(response), { error: /time/i });
  t.match(server.models.get('tiny').batcher.stats(), { timedOut: 1, batches: 0 });
  const metrics = (await request(server.address, 'GET', '/metrics')).body.toString();
  t.match(metrics, /^torchvideo_timed_out_total\{model="tiny"\} 1$/m);

  // Triton's per-request timeout parameter (microseconds), on a server without --timeout-ms.
  const other = await serve(t, { maxBatch: 4, maxDelayMs: 60000 });
  const own = await inferJson(other.address, 'tiny', {
    shape: [1, ...CLIP_SHAPE],
    data: clipsData(1),
    parameters: { timeout: 20000, priority: 1 },
  });
  t.equal(own.status, 503, "the request's own timeout applies");
  t.match(other.models.get('tiny').batcher.stats(), { timedOut: 1, batches: 0 });
});

t.test('--token-file: 401 without the right bearer token, except on the health probes', async (t) => {
  const dir = tempDir('torchvideo-token-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tokenFile = path.join(dir, 'token');
  fs.writeFileSync(tokenFile, 's3cret-token\n', { mode: 0o600 });
  const server = await serve(t, { tokenFile, maxBatch: 4 });
  const get = (p, headers) => request(server.address, 'GET', p, { headers });
  t.equal((await get('/v2/health/live')).status, 200, 'liveness needs no token');
  t.equal((await get('/v2/health/ready')).status, 200, 'readiness needs no token');
  for (const p of ['/v2', '/v2/models/tiny', '/v2/models/tiny/ready', '/metrics', '/v2/models/nope']) {
    const missing = await get(p);
    t.equal(missing.status, 401, `${p} without a token`);
    t.equal(missing.headers['www-authenticate'], 'Bearer');
    t.same(json(missing), { error: 'missing Authorization: Bearer token' });
    for (const wrong of ['Bearer s3cret-tokeN', 'Bearer s3cret-token-and-more', 'Basic czNjcmV0LXRva2Vu', 'Bearer']) {
      const response = await get(p, { authorization: wrong });
      t.equal(response.status, 401, `${p} with '${wrong}'`);
      t.same(json(response), { error: 'wrong Authorization: Bearer token' });
    }
  }
  t.equal((await get('/v2', { authorization: 'Bearer s3cret-token' })).status, 200, 'the token from the file, without its newline');
  const infer = await inferJson(server.address, 'tiny', { shape: [1, ...CLIP_SHAPE], data: clipsData(1) });
  t.equal(infer.status, 401, 'inference needs the token');
  t.equal(server.models.get('tiny').batcher.stats().requests, 0, 'a request without the token never reaches the model');
});

t.test('the video route equals classifyVideo on the same file, raw body or multipart', async (t) => {
  const server = await serve(t, { maxBatch: 4 });
  const model = await reference;
  const video = fixture('h264.mp4');
  const bytes = fs.readFileSync(video);
  const expected = await classifyVideo(model, video, { clipsPerVideo: 3, topk: 4 });
  const before = uploadFolders();

  const raw = await request(server.address, 'POST', '/v1/models/tiny/classify?clips=3&topk=4', {
    headers: { 'content-type': 'video/mp4' },
    body: bytes,
  });
  t.equal(raw.status, 200);
  const result = json(raw);
  t.equal(result.clips, 3);
  t.same(
    result.top.map(({ label, index }) => ({ label, index })),
    expected.top.map(({ label, index }) => ({ label, index })),
  );
  t.ok(
    result.top.every((p, i) => Math.abs(p.score - expected.top[i].score) <= 1e-6),
    'the same probabilities (within 1e-6)',
  );

  const boundary = 'torchvideo-test-boundary';
  const form = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="video"; filename="clip.mp4"\r\nContent-Type: video/mp4\r\n\r\n`),
    bytes,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  const multipart = await request(server.address, 'POST', '/v1/models/tiny/classify?clips=3&topk=4', {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: form,
  });
  t.equal(multipart.status, 200);
  t.same(json(multipart), result, 'multipart gives the same answer');

  const octet = await request(server.address, 'POST', '/v1/models/tiny/classify', {
    headers: { 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  t.equal(octet.status, 200);
  const defaults = await classifyVideo(model, video);
  t.equal(json(octet).clips, defaults.clips, 'default clips as classifyVideo');
  t.same(
    json(octet).top.map((p) => p.index),
    defaults.top.map((p) => p.index),
    'default topk as classifyVideo',
  );
  t.same(uploadFolders(), before, 'uploads are deleted once classified');
  t.ok(server.models.get('tiny').batcher.stats().clips >= 6, 'the clips went through the batcher');
});

t.test('a client that disconnects from the video route has its queued clips cancelled, and its upload removed', async (t) => {
  // The clips wait for company (maxDelayMs) so that they are still queued when the client goes away.
  const server = await serve(t, { maxBatch: 4, maxDelayMs: 60000 });
  const { batcher } = server.models.get('tiny');
  const before = uploadFolders();
  const req = http.request(new URL('/v1/models/tiny/classify?clips=2', server.address), {
    method: 'POST',
    headers: { 'content-type': 'video/mp4' },
    agent: false,
  });
  req.on('error', () => {});
  req.end(fs.readFileSync(fixture('h264.mp4')));
  await until(() => batcher.stats().queuedClips === 2);
  req.destroy();
  await until(() => batcher.stats().queuedClips === 0);
  const stats = batcher.stats();
  t.equal(stats.batches, 0, 'the clips left the queue without running');
  t.ok(stats.aborted >= 1, `their requests count as aborted (${stats.aborted})`);
  await until(() => uploadFolders().length === before.length);
  t.same(uploadFolders(), before, 'the upload is removed');
});

t.test('bad video requests name what is wrong', async (t) => {
  const server = await serve(t, { maxBatch: 4 });
  const before = uploadFolders();
  const post = (query, body, type = 'video/mp4') =>
    request(server.address, 'POST', `/v1/models/tiny/classify${query}`, { headers: type ? { 'content-type': type } : {}, body });
  const video = fs.readFileSync(fixture('h264.mp4'));
  const filePart = (name) =>
    Buffer.concat([
      Buffer.from(`--b\r\nContent-Disposition: form-data; name="${name}"; filename="${name}.mp4"\r\nContent-Type: video/mp4\r\n\r\n`),
      video,
      Buffer.from('\r\n'),
    ]);
  const form = 'multipart/form-data; boundary=b';
  const cases = [
    ['clips=0', await post('?clips=0', video), 400, /expected query parameter clips to be an integer in \[1, 64\], got "0"/],
    ['clips=65', await post('?clips=65', video), 400, /clips to be an integer in \[1, 64\], got "65"/],
    ['clips=abc', await post('?clips=abc', video), 400, /got "abc"/],
    ['clips given twice', await post('?clips=2&clips=3', video), 400, /clips to be an integer in \[1, 64\], got \["2","3"\]/],
    ['topk beyond the classes', await post('?topk=6', video), 400, /expected query parameter topk to be an integer in \[1, 5\], got "6"/],
    ['an unknown query parameter', await post('?clip=3', video), 400, /unknown query parameter 'clip' \(expected clips, topk\)/],
    ['not a video', await post('', Buffer.from('this is not a video\n')), 400, /^the uploaded video cannot be decoded: /],
    ['an empty body', await post('', Buffer.alloc(0)), 400, /expected a video as the request body .* got an empty body/],
    ['a text body', await post('', 'hello', 'text/plain'), 415, /Unsupported Media Type/i],
    [
      'a multipart form without a file',
      await post('', '--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n1\r\n--b--\r\n', 'multipart/form-data; boundary=b'),
      400,
      /expected the multipart form to hold one file field \(the video\), got none/,
    ],
    [
      'two files in the form',
      await post('', Buffer.concat([filePart('first'), filePart('second'), Buffer.from('--b--\r\n')]), form),
      400,
      /expected one file field in the multipart form, got a second: 'second' after 'first'/,
    ],
    [
      'a form cut short',
      await post('', filePart('first').subarray(0, 5000), form),
      400,
      /expected a well-formed multipart form: Unexpected end of multipart data/,
    ],
    [
      'an unknown model',
      await post('', video).then(() =>
        request(server.address, 'POST', '/v1/models/nope/classify', { headers: { 'content-type': 'video/mp4' }, body: video }),
      ),
      404,
      /unknown model 'nope'/,
    ],
  ];
  for (const [what, response, status, message] of cases) {
    t.equal(response.status, status, `${what}: ${status}`);
    t.match(json(response), { error: message }, `${what}: the message names it`);
  }
  t.notMatch(json(cases[6][1]).error, os.tmpdir(), "the decoder's message does not show the server's temporary path");
  // Refused before its body was read, on a connection the client would keep: the server closes it
  // instead of reading the rest of the upload.
  const early = await request(server.address, 'POST', '/v1/models/tiny/classify?clips=0', {
    headers: { 'content-type': 'video/mp4', connection: 'keep-alive' },
    body: Buffer.alloc(4 * 2 ** 20),
  });
  t.equal(early.status, 400);
  t.equal(early.headers.connection, 'close', 'an upload refused early closes its connection');
  t.same(uploadFolders(), before, 'no upload is left behind by a failed request');
});

t.test('/metrics: the torchvideo_ metrics, moving with the traffic, in a registry of the server', async (t) => {
  const server = await serve(t, { maxBatch: 4 });
  const scrape = async () => {
    const response = await request(server.address, 'GET', '/metrics');
    t.match(response.headers['content-type'], /^text\/plain/);
    return response.body.toString();
  };
  const value = (text, line) => Number(new RegExp(`^${line.replace(/[{}[\]().+]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  await inferJson(server.address, 'tiny', { shape: [2, ...CLIP_SHAPE], data: clipsData(2) });
  const first = await scrape();
  for (const name of [
    'torchvideo_requests_total',
    'torchvideo_queue_duration_seconds',
    'torchvideo_compute_duration_seconds',
    'torchvideo_batch_size',
    'torchvideo_queued_clips',
    'torchvideo_rejected_total',
    'torchvideo_timed_out_total',
  ]) {
    t.match(first, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exported`);
  }
  t.equal(value(first, 'torchvideo_requests_total{model="tiny",endpoint="infer",status="200"}'), 1);
  t.equal(value(first, 'torchvideo_batch_size_sum{model="tiny"}'), 2);
  t.equal(value(first, 'torchvideo_queued_clips{model="tiny"}'), 0);
  t.equal(value(first, 'torchvideo_rejected_total{model="tiny"}'), 0);

  await inferBinary(server.address, 'tiny', { shape: [3, ...CLIP_SHAPE], data: clipsData(3) });
  await inferJson(server.address, 'tiny', { shape: [3, 3], data: [] });
  const second = await scrape();
  t.equal(value(second, 'torchvideo_requests_total{model="tiny",endpoint="infer",status="200"}'), 2, 'counts move');
  t.equal(value(second, 'torchvideo_requests_total{model="tiny",endpoint="infer",status="400"}'), 1);
  t.equal(value(second, 'torchvideo_batch_size_sum{model="tiny"}'), 5, '2 + 3 clips');
  t.equal(value(second, 'torchvideo_batch_size_count{model="tiny"}'), server.models.get('tiny').batcher.stats().batches);
  t.equal(value(second, 'torchvideo_queue_duration_seconds_count{model="tiny"}'), 2, 'one queue time per request');
  t.equal(value(second, 'torchvideo_requests_total{model="",endpoint="metrics",status="200"}'), 1, 'the first scrape counted');

  const other = await serve(t, { maxBatch: 4 });
  const fresh = (await request(other.address, 'GET', '/metrics')).body.toString();
  t.notMatch(fresh, /endpoint="infer"/, "another server's registry does not see this one's requests");
});

t.test(
  'the real r3d_18 export at its own clip size, over binary infer, equals model.forward',
  { skip: !fs.existsSync(modelPath('r3d_18')) && 'models/r3d_18.pt not exported' },
  async (t) => {
    const server = await createServer({ models: [{ name: 'r3d', path: modelPath('r3d_18') }], port: 0, maxBatch: 2 });
    t.teardown(() => server.close());
    const { model } = server.models.get('r3d');
    const shape = [1, 3, 16, 112, 112];
    const data = randomFloats(3 * 16 * 112 * 112, 99);
    const response = await inferBinary(server.address, 'r3d', { shape, data, parameters: { binary_data_output: true } });
    t.equal(response.status, 200);
    const [output] = parseInferResponse(response).outputs;
    t.same(output.shape, [1, 400]);
    const diff = maxAbsDiff(output.values, await solo(model, data, shape));
    t.ok(diff <= 1e-5, `max abs diff ${diff} <= 1e-5`);
  },
);
