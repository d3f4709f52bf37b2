'use strict';
// `torchvideo serve` as a process: its flags refused by name, the bound address on stdout, and the drain
// on SIGTERM / SIGINT: readiness 503 at once, new requests 503, the requests in flight answered in full,
// exit 0; past --grace-s what still runs is cut and the process still exits 0. Requests are held in
// flight deterministically by sending only part of their bodies until the signal has been seen.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const t = require('tap');
const { loadModel, classifyVideo, Tensor } = require('../dist/index.js');
const { runServe, modelSource } = require('../dist/internal.js');
const { fixture } = require('./helpers/fixtures');
const { ROOT, tempDir } = require('./helpers/paths');
const { randomFloats, maxAbsDiff } = require('./helpers/numbers');
const { request, json, binaryBody, parseInferResponse, inferJson, makeTinyModel } = require('./helpers/kserve-client');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const TINY = makeTinyModel();
const CLIP_SHAPE = [3, 4, 32, 32];
t.teardown(() => fs.rmSync(path.dirname(TINY), { recursive: true, force: true }));

t.test('--model takes a path (named by its file) or name=path', async (t) => {
  t.same(modelSource('models/r3d_18.pt'), { name: 'r3d_18', path: 'models/r3d_18.pt' });
  t.same(modelSource('fast=models/r3d_18.pt'), { name: 'fast', path: 'models/r3d_18.pt' });
  t.same(modelSource('dir/a=b.pt'), { name: 'a=b', path: 'dir/a=b.pt' }, "a '=' inside a path is not a name");
  t.throws(() => modelSource('fast='), /expected --model NAME=PATH to name a file, got 'fast='/);
});

t.test('bad flags are refused by name before anything loads', async (t) => {
  const cases = [
    [[], RangeError, /expected --model MODEL\.pt/],
    [['--model', TINY, '--port', '70000'], RangeError, /expected --port to be an integer in \[0, 65535\], got '70000'/],
    [['--model', TINY, '--port', 'http'], RangeError, /expected --port to be an integer in \[0, 65535\], got 'http'/],
    [['--model', TINY, '--max-batch', '0'], RangeError, /expected --max-batch to be an integer in \[1, 4096\], got '0'/],
    [['--model', TINY, '--max-batch', '5000'], RangeError, /expected --max-batch to be an integer in \[1, 4096\], got '5000'/],
    [
      ['--model', TINY, '--max-batch', '8', '--max-queue-clips', '4'],
      RangeError,
      /expected --max-queue-clips to be at least --max-batch \(8\), got 4/,
    ],
    [['--model', TINY, '--max-queue-clips', '16'], RangeError, /expected --max-queue-clips to be at least --max-batch \(32\), got 16/],
    [['--model', TINY, '--max-delay-ms', '60001'], RangeError, /expected --max-delay-ms to be at most 60000, got '60001'/],
    [['--model', TINY, '--max-queue-clips', '1.5'], RangeError, /expected --max-queue-clips to be a positive integer, got '1.5'/],
    [['--model', TINY, '--max-delay-ms', '-1'], RangeError, /expected --max-delay-ms to be a finite number >= 0, got '-1'/],
    [['--model', TINY, '--max-body-mb', '0'], RangeError, /expected --max-body-mb to be a positive number of MiB, got '0'/],
    [['--model', TINY, '--timeout-ms', 'soon'], RangeError, /expected --timeout-ms to be a positive number of milliseconds, got 'soon'/],
    [['--model', TINY, '--grace-s', '-5'], RangeError, /expected --grace-s to be a finite number >= 0, got '-5'/],
    [['--model', TINY, '--precision', 'fp64'], RangeError, /expected --precision to be fp32, fp16, bf16 or int8, got 'fp64'/],
    [['--model', TINY, '--host', ''], RangeError, /expected --host to be an address, got ''/],
    [['--model', TINY, 'extra'], RangeError, /unexpected argument 'extra'/],
    [['--model', TINY, '--workers', '2'], TypeError, /Unknown option '--workers'/],
    [['--model', `x=${TINY}`, '--model', `x=${TINY}`], RangeError, /expected distinct model names, got 'x' twice/],
    [['--model', 'bad name=x.pt'], RangeError, /expected a model name of letters, digits, '_', '\.' and '-', got 'bad name'/],
  ];
  for (const [args, type, message] of cases) {
    await t.rejects(runServe(args), { constructor: type, message }, args.join(' ') || '(no flags)');
  }
  const dir = tempDir('torchvideo-token-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const empty = path.join(dir, 'empty');
  fs.writeFileSync(empty, '\n');
  await t.rejects(runServe(['--model', TINY, '--token-file', empty]), /expected --token-file '.*empty' to hold a token, got an empty file/);
  const spaced = path.join(dir, 'spaced');
  fs.writeFileSync(spaced, 'two words\n');
  await t.rejects(runServe(['--model', TINY, '--token-file', spaced]), /to hold one token of printable ASCII without spaces/);
  await t.rejects(runServe(['--model', path.join(dir, 'missing.pt')]), { code: 'ERR_FILE_NOT_FOUND' }, 'a missing export: the load error');
});

/** Starts the CLI; resolves with the process, its address (from the stdout line) and its stderr so far. */
function startServe(args) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  child.stderr.on('data', (chunk) => (output.stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const address = new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      output.stdout += chunk;
      const match = /^torchvideo serve: listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(output.stdout);
      if (match) resolve(match[1]);
    });
    child.on('exit', (code) => reject(new Error(`serve exited ${code} before listening: ${output.stderr}`)));
  });
  return { child, address, exited, output };
}

/** A request whose body is sent in two parts: `finish()` sends the rest; `response` resolves with the answer. */
function partialRequest(address, urlPath, headers, body) {
  const req = http.request(new URL(urlPath, address), {
    method: 'POST',
    headers: { ...headers, 'content-length': body.length },
    agent: false,
  });
  const response = new Promise((resolve, reject) => {
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
  const half = Math.floor(body.length / 2);
  req.write(body.subarray(0, half));
  return { response, finish: () => req.end(body.subarray(half)) };
}

async function metricValue(address, name) {
  const text = (await request(address, 'GET', '/metrics')).body.toString();
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

async function until(check) {
  while (!(await check())) await new Promise((resolve) => setTimeout(resolve, 10));
}

t.test('SIGTERM drains: ready 503 at once, new requests 503, those in flight answered in full, exit 0', async (t) => {
  const { child, address: started, exited, output } = startServe(['--model', `tiny=${TINY}`, '--max-batch', '4', '--grace-s', '60']);
  t.teardown(() => child.kill('SIGKILL'));
  const address = await started;
  t.equal((await request(address, 'GET', '/v2/health/ready')).status, 200, 'ready before the signal');

  const model = await loadModel(TINY);
  t.teardown(() => model.dispose());
  const inputs = [1, 2].map((batch, i) => ({
    shape: [batch, ...CLIP_SHAPE],
    data: randomFloats(batch * CLIP_SHAPE.reduce((a, b) => a * b), 40 + i),
  }));
  const infers = inputs.map((input) => {
    const { body, headerLength } = binaryBody(input);
    return partialRequest(address, '/v2/models/tiny/infer', { 'inference-header-content-length': String(headerLength) }, body);
  });
  const video = fixture('h264.mp4');
  const upload = partialRequest(
    address,
    '/v1/models/tiny/classify?clips=2&topk=3',
    { 'content-type': 'video/mp4' },
    fs.readFileSync(video),
  );
  // The three uploads are in flight (the scrape counts itself too).
  await until(async () => (await metricValue(address, 'torchvideo_http_requests_in_flight')) === 4);

  child.kill('SIGTERM');
  await until(async () => (await request(address, 'GET', '/v2/health/ready')).status === 503);
  t.same(json(await request(address, 'GET', '/v2/health/ready')), { ready: false }, 'readiness is false while draining');
  t.equal((await request(address, 'GET', '/v2/health/live')).status, 200, 'still live while draining');
  const refused = await inferJson(address, 'tiny', inputs[0]);
  t.equal(refused.status, 503, 'a new request is refused');
  t.equal(refused.headers['retry-after'], '1');
  t.same(json(refused), { error: 'the server is shutting down' });

  for (const inFlight of [...infers, upload]) inFlight.finish();
  for (const [i, inFlight] of infers.entries()) {
    const response = await inFlight.response;
    t.equal(response.status, 200, `in-flight infer ${i} answered`);
    const logits = await model.forward(Tensor.from(inputs[i].data, inputs[i].shape));
    t.ok(maxAbsDiff(parseInferResponse(response).outputs[0].values, logits.data()) <= 1e-5, `in-flight infer ${i}: its logits`);
    logits.dispose();
  }
  const classified = await upload.response;
  t.equal(classified.status, 200, 'the in-flight video upload answered');
  const expected = await classifyVideo(model, video, { clipsPerVideo: 2, topk: 3 });
  t.same(
    json(classified).top.map((p) => p.index),
    expected.top.map((p) => p.index),
  );
  t.same(await exited, { code: 0, signal: null }, 'exit 0 once drained');
  t.match(output.stderr, /SIGTERM received, draining/);
  t.notMatch(output.stderr, /cancelled/, 'nothing was cut');
});

t.test('SIGINT drains the same way; past --grace-s a request still uploading is cut and the exit is still 0', async (t) => {
  const idle = startServe(['--model', TINY]);
  t.teardown(() => idle.child.kill('SIGKILL'));
  await idle.address;
  idle.child.kill('SIGINT');
  t.same(await idle.exited, { code: 0, signal: null }, 'SIGINT with nothing in flight: exit 0');

  const { child, address: started, exited, output } = startServe(['--model', TINY, '--grace-s', '0.2']);
  t.teardown(() => child.kill('SIGKILL'));
  const address = await started;
  const stuck = partialRequest(address, '/v1/models/tiny/classify', { 'content-type': 'video/mp4' }, fs.readFileSync(fixture('h264.mp4')));
  const answer = stuck.response.then(
    (response) => response.status,
    (error) => error.code,
  );
  await until(async () => (await metricValue(address, 'torchvideo_http_requests_in_flight')) === 2);
  child.kill('SIGINT');
  t.same(await exited, { code: 0, signal: null }, 'exit 0 after the grace period');
  t.match(output.stderr, /1 requests were still running after --grace-s and were cancelled/);
  t.ok([503, 'ECONNRESET'].includes(await answer), `the cut upload is answered 503 or its connection closed (${await answer})`);
});
