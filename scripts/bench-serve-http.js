// The HTTP rows of scripts/bench-serve.js: `torchvideo serve` in a process of its own on 127.0.0.1
// (as it runs in production: the load generator does not share its event loop), loaded over loopback.
// - KServe v2 binary infer and JSON infer of one clip at 1 / 4 / 16 connections, with autocannon (a
//   maintained load generator: fixed request counts, latency percentiles, non-2xx and timeouts).
// - The video classify route (the file as the body) beside classifyVideo in-process through a batcher.
// - Overload: one-clip binary infers sent at 4x the rate the server sustains, from a paced client of ours
//   (autocannon cannot tell the latency of 503s from that of answers): the share of 503s, p99 of the
//   accepted ones, the time to a 503's head (it comes before the client has sent its body), RSS before and after.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const readline = require('node:readline');
const autocannon = require('autocannon');

const ROOT = path.resolve(__dirname, '..');
const { loadModel, classifyVideo } = require(ROOT);
const { fixture } = require(path.join(ROOT, 'test', 'helpers', 'fixtures.js'));
const { percentile, randomClip, CLIP } = require('./bench-serve');

function cannon(options) {
  return new Promise((resolve, reject) => {
    autocannon(options, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

// One-clip infer bodies: the binary tensor data extension (JSON header, then the float32 bytes) and plain JSON.
function inferBodies(inputName, clip) {
  const shape = [1, ...CLIP];
  const bytes = Buffer.from(clip.buffer, clip.byteOffset, clip.byteLength);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: inputName, shape, datatype: 'FP32', parameters: { binary_data_size: bytes.length } }],
      parameters: { binary_data_output: true },
    }),
  );
  const json = Buffer.from(JSON.stringify({ inputs: [{ name: inputName, shape, datatype: 'FP32', data: Array.from(clip) }] }));
  return {
    binary: {
      body: Buffer.concat([header, bytes]),
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    },
    json: { body: json, headers: { 'content-type': 'application/json' } },
  };
}

async function loadRow(url, { body, headers }, connections, amount) {
  const result = await cannon({ url, method: 'POST', body, headers, connections, amount, timeout: 120 });
  const ok = result['2xx'];
  return {
    // Little's law for a closed loop (each connection sends its next request when the last is answered):
    // connections / mean latency. autocannon's own duration ends on its 1-second tick, which a few long
    // requests make coarse (8 requests of 0.27 s read as 3 s).
    clipsPerSec: (connections * 1000) / result.latency.mean,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
  };
}

// Paced one-clip requests at `rate` per second for `seconds`: the status of each and the time to its
// response's head (a refusal comes before the client has finished sending its body).
async function paced(url, { body, headers }, rate, seconds) {
  const results = [];
  const pending = [];
  const started = performance.now();
  const total = Math.round(rate * seconds);
  const once = () =>
    new Promise((resolve) => {
      const t0 = performance.now();
      const request = http.request(url, { method: 'POST', headers: { ...headers, 'content-length': body.length }, agent: false });
      request.once('response', (response) => {
        results.push({ status: response.statusCode, ms: performance.now() - t0 });
        response.resume();
        response.once('end', resolve);
        response.once('error', resolve);
      });
      request.once('error', () => {
        results.push({ status: 0, ms: performance.now() - t0 });
        resolve();
      });
      request.end(body);
    });
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(once());
  }
  await Promise.all(pending);
  return results;
}

// `torchvideo serve` as a child process; resolves once it listens.
function startServer(args) {
  const child = spawn(process.execPath, [path.join(ROOT, 'dist', 'cli.js'), 'serve', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`torchvideo serve exited with ${code} before listening`)));
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      const address = /listening on (\S+)/.exec(line)?.[1];
      if (address) resolve({ child, address });
    });
  });
}

function rssMb(pid) {
  const kb = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function queuedClips(address, model) {
  const text = await (await fetch(`${address}/metrics`)).text();
  return Number(new RegExp(`^torchvideo_queued_clips\\{model="${model}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
}

async function benchHttp({ arch = 'r3d_18', device = 'cpu', precision, callers = [1, 4, 16], rounds = 3, inProcess } = {}) {
  const maxBatch = Math.max(...callers);
  const modelPath = path.join(ROOT, 'models', `${arch}.pt`);
  const { child, address } = await startServer([
    '--model',
    `${arch}=${modelPath}`,
    '--device',
    device,
    ...(precision ? ['--precision', precision] : []),
    '--port',
    '0',
    '--max-batch',
    String(maxBatch),
    '--max-queue-clips',
    String(4 * maxBatch),
  ]);
  const server = { address };
  const out = { rows: [] };
  try {
    const metadata = await (await fetch(`${server.address}/v2/models/${arch}`)).json();
    const inputName = metadata.inputs[0].name;
    const url = `${server.address}/v2/models/${arch}/infer`;
    const bodies = inferBodies(inputName, randomClip(1));
    console.log('\ncallers | HTTP binary clips/s p50/p99 ms | / in-process batcher | HTTP JSON clips/s p50/p99 ms | JSON / binary');
    for (const c of callers) {
      const amount = Math.max(8, rounds * c);
      // Untimed first, as the in-process rows: the batch sizes this load makes are met once.
      await loadRow(url, bodies.binary, c, amount);
      const binary = await loadRow(url, bodies.binary, c, amount);
      const json = await loadRow(url, bodies.json, c, amount);
      const batcherRow = inProcess?.rows.find((r) => r.callers === c)?.batcher;
      const versus = batcherRow ? binary.clipsPerSec / batcherRow.clipsPerSec : NaN;
      out.rows.push({ callers: c, binary, json, versusInProcess: versus });
      console.log(
        `${String(c).padStart(7)} | ${binary.clipsPerSec.toFixed(2).padStart(6)} ${binary.p50}/${binary.p99} (non-2xx ${binary.non2xx}) | ` +
          `${versus.toFixed(2)}x (target >= 0.9x) | ${json.clipsPerSec.toFixed(2).padStart(6)} ${json.p50}/${json.p99} | ` +
          `${(json.clipsPerSec / binary.clipsPerSec).toFixed(2)}x`,
      );
    }

    // The video route against classifyVideo in-process (through a batcher too), 4 at a time.
    const video = fixture('h264-8s.mp4');
    const videoBody = fs.readFileSync(video);
    const concurrent = 4;
    const videos = 2 * concurrent;
    const route = await loadRow(
      `${server.address}/v1/models/${arch}/classify?clips=5&topk=5`,
      { body: videoBody, headers: { 'content-type': 'video/mp4' } },
      concurrent,
      videos,
    );
    const model = await loadModel(modelPath, { device, ...(precision ? { precision } : {}) });
    const batcher = model.batcher({ maxBatchSize: maxBatch });
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrent }, async () => {
        while (next++ < videos) await classifyVideo(batcher, video, { clipsPerVideo: 5 });
      }),
    );
    const inProcessVideosPerSec = videos / ((performance.now() - started) / 1000);
    await batcher.close();
    model.dispose();
    const routeVideosPerSec = route.clipsPerSec;
    out.video = { routeVideosPerSec, inProcessVideosPerSec, p50: route.p50, p99: route.p99 };
    console.log(
      `video classify route (${path.basename(video)}, 5 clips, ${concurrent} at a time): ${routeVideosPerSec.toFixed(2)} videos/s ` +
        `(p50 ${route.p50} ms) vs classifyVideo in-process ${inProcessVideosPerSec.toFixed(2)} videos/s = ` +
        `${(routeVideosPerSec / inProcessVideosPerSec).toFixed(2)}x`,
    );

    // Overload: 4x what the server sustains at maxBatch callers.
    const sustained = out.rows.find((r) => r.callers === maxBatch)?.binary.clipsPerSec ?? 1;
    const rate = 4 * sustained;
    const seconds = 20;
    const rssBefore = rssMb(child.pid);
    const results = await paced(url, bodies.binary, rate, seconds);
    // The queue drains before RSS is read again.
    while ((await queuedClips(server.address, arch)) > 0) await new Promise((resolve) => setTimeout(resolve, 100));
    const rssAfter = rssMb(child.pid);
    const accepted = results
      .filter((r) => r.status === 200)
      .map((r) => r.ms)
      .sort((a, b) => a - b);
    const refused = results
      .filter((r) => r.status === 503)
      .map((r) => r.ms)
      .sort((a, b) => a - b);
    const other = results.length - accepted.length - refused.length;
    out.overload = {
      rate,
      requests: results.length,
      accepted: accepted.length,
      refused: refused.length,
      other,
      acceptedP99: percentile(accepted, 99),
      refusedP50: percentile(refused, 50),
      refusedP99: percentile(refused, 99),
      rssBeforeMb: rssBefore,
      rssAfterMb: rssAfter,
    };
    const o = out.overload;
    console.log(
      `overload (${rate.toFixed(1)} req/s = 4x the sustained ${sustained.toFixed(2)}, ${seconds} s, ${o.requests} requests): ` +
        `${((100 * o.refused) / o.requests).toFixed(0)}% answered 503, ${o.accepted} answered 200 (p99 ${o.acceptedP99.toFixed(0)} ms), ` +
        `${o.other} other; a 503 took p50 ${o.refusedP50.toFixed(1)} / p99 ${o.refusedP99.toFixed(1)} ms (target < 5 ms); ` +
        `RSS ${o.rssBeforeMb.toFixed(0)} -> ${o.rssAfterMb.toFixed(0)} MB`,
    );
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  }
  return out;
}

module.exports = { benchHttp };
