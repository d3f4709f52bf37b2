'use strict';
// npx torchvideo classify: a table per video or JSON lines, failures reported with their reason,
// exit code 1 when any file failed, 2 for a bad command line.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { loadModel, classifyVideo } = require('..');
const { fixture } = require('./helpers/fixtures');
const { ROOT, modelPath } = require('./helpers/paths');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const run = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

t.test('classify prints a table per video', async (t) => {
  const result = run('classify', fixture('h264.mp4'), '--model', modelPath('mc3_18'), '--topk', '3', '--clips', '2');
  t.equal(result.status, 0, result.stderr);
  t.match(result.stdout, /h264\.mp4 {2}\(2 clips, \d+ ms\)/);
  const rows = result.stdout.match(/^ +\d\. .+%$/gm);
  t.equal(rows.length, 3, 'three ranked labels');
  // The library's answer (checked against torchvision in classify.test.js), as a table.
  const model = await loadModel(modelPath('mc3_18'));
  const expected = await classifyVideo(model, fixture('h264.mp4'), { topk: 3, clipsPerVideo: 2 });
  rows.forEach((row, i) => {
    const [, rank, label, percent] = row.match(/^ +(\d)\. +(.+?) +([\d.]+)%$/);
    t.same(
      [Number(rank), label, percent],
      [i + 1, expected.top[i].label, (expected.top[i].score * 100).toFixed(2)],
      `row ${i + 1}: ${row.trim()}`,
    );
  });
  model.dispose();
});

t.test('classify --json prints one line per video and exits 1 when one failed', async (t) => {
  const videos = [fixture('h264.mp4'), fixture('text.mp4'), fixture('vp9.webm')];
  const result = run('classify', ...videos, '--model', modelPath('mc3_18'), '--json', '--topk', '2', '--clips', '1');
  t.equal(result.status, 1, 'exit code 1');
  const lines = result.stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line));
  t.same(
    lines.map((l) => l.path),
    videos,
    'one JSON line per video, in order',
  );
  t.equal(lines[0].clips, 1);
  const model = await loadModel(modelPath('mc3_18'));
  for (const i of [0, 2]) {
    const expected = await classifyVideo(model, videos[i], { topk: 2, clipsPerVideo: 1 });
    t.same(lines[i].top, expected.top, `${path.basename(videos[i])}: classifyVideo's top 2`);
  }
  model.dispose();
  t.same(lines[1].error.code, 'ERR_VIDEO_OPEN');
  t.match(result.stderr, /text\.mp4: cannot open video .*\(ERR_VIDEO_OPEN\)/, 'the reason on stderr');
  t.match(result.stderr, /1 of 3 videos failed/);
});

t.test('a progress bar on stderr with --progress', async (t) => {
  const result = run('classify', fixture('h264.mp4'), fixture('vp9.webm'), '--model', modelPath('mc3_18'), '--clips', '1', '--progress');
  t.equal(result.status, 0);
  t.match(result.stderr, /\[#+\.*\] 2\/2 .*videos\/s, 0 failed/);
});

t.test('bad command lines', async (t) => {
  const noVideo = run('classify', '--model', modelPath('mc3_18'));
  t.equal(noVideo.status, 2);
  t.match(noVideo.stderr, /expected at least one video path/);
  const noModel = run('classify', fixture('h264.mp4'));
  t.equal(noModel.status, 2);
  t.match(noModel.stderr, /expected --model MODEL\.pt/);
  const badClips = run('classify', fixture('h264.mp4'), '--model', modelPath('mc3_18'), '--clips', 'many');
  t.equal(badClips.status, 2);
  t.match(badClips.stderr, /expected --clips to be a positive integer, got 'many'/);
  const missingModel = run('classify', fixture('h264.mp4'), '--model', '/no/model.pt');
  t.equal(missingModel.status, 1);
  t.match(missingModel.stderr, /model file not found: '\/no\/model\.pt' \(ERR_FILE_NOT_FOUND\)/);
  const cuda = run('classify', fixture('h264.mp4'), '--model', modelPath('mc3_18'), '--device', 'gpu');
  t.equal(cuda.status, 2);
  t.match(cuda.stderr, /expected options.device to be 'cpu', 'cuda' or 'cuda:N', got 'gpu'/);
  const unknown = run('frobnicate');
  t.equal(unknown.status, 2);
  t.match(unknown.stderr, /unknown command 'frobnicate'/);
});
