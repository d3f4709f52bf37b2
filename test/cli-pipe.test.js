'use strict';
// A reader that closes the pipe early (`torchvideo classify ... --json | head -1`) ends an output-only
// command quietly with exit 0, like any Unix tool, even while forwards and decodes are running. A job that
// writes files (evaluate, finetune) goes on without that output: its files are written and its exit code
// is the job's own, never a success reported mid-run.
const fs = require('node:fs');
const path = require('node:path');
const { spawn } = require('node:child_process');
const t = require('tap');
const { classFolderSet, fixture } = require('./helpers/fixtures');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { movingShapesJob } = require('./helpers/training');

const CLI = path.join(ROOT, 'dist', 'cli.js');

t.test('classify --json into a pipe closed after the first line', async (t) => {
  const videos = ['h264.mp4', 'h264.mkv', 'xvid.avi', 'vp9.webm', 'mjpeg.avi'].map(fixture);
  for (let run = 0; run < 3; run++) {
    const child = spawn(process.execPath, [CLI, 'classify', ...videos, '--model', modelPath('mc3_18'), '--json', '--clips', '2'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    // Like head -1: read up to the first newline, then close the read end.
    const firstLine = await new Promise((resolve) => {
      let text = '';
      child.stdout.on('data', function onData(chunk) {
        text += chunk;
        if (text.includes('\n')) {
          child.stdout.off('data', onData);
          child.stdout.destroy();
          resolve(text.split('\n')[0]);
        }
      });
    });
    t.equal(JSON.parse(firstLine).path, videos[0], 'the first line is the first video');
    const { code, signal } = await new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    t.equal(signal, null, `run ${run + 1}: no signal`);
    t.equal(code, 0, `run ${run + 1}: exit code 0`);
    t.notMatch(stderr, /EPIPE|Error/, 'nothing on stderr');
  }
});

const root = tempDir('torchvideo-cli-pipe-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));

/** Runs the CLI with its stdout and/or stderr read end closed at once; resolves to { code, signal }. */
function runWithClosedOutput(args, { closeStdout = true, closeStderr = false } = {}) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  if (closeStdout) child.stdout.destroy();
  else child.stdout.resume();
  if (closeStderr) child.stderr.destroy();
  else child.stderr.resume();
  return new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
}

t.test('evaluate with its output pipes closed early finishes the job and writes report.json', async (t) => {
  const data = classFolderSet(path.join(root, 'set'));
  const out = path.join(root, 'evaluate');
  // --progress writes the bar on stderr from the first batch on: the first write meets the closed pipe.
  const args = ['evaluate', '--model', modelPath('mc3_18'), '--data', data, '--clips', '2', '--batch', '1', '--out', out, '--progress'];
  const { code, signal } = await runWithClosedOutput(args, { closeStdout: true, closeStderr: true });
  t.equal(signal, null);
  t.equal(code, 0, 'exit 0: the job succeeded');
  const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
  t.equal(report.videos, 4, 'report.json covers every video');
  t.equal(report.failed.length, 1, 'and the one that failed');
  t.ok(fs.existsSync(path.join(out, 'report.html')), 'report.html written after the summary could not be printed');
});

t.test('a job that fails with its output pipes closed exits 1, not 0', async (t) => {
  const args = ['evaluate', '--model', path.join(root, 'no-such-model.pt'), '--data', root];
  const { code } = await runWithClosedOutput(args, { closeStdout: true, closeStderr: true });
  t.equal(code, 1, "the job's failure, though its message could not be written");
});

t.test('finetune whose stdout reader is gone trains every epoch and writes its outputs', async (t) => {
  const job = movingShapesJob(path.join(root, 'job'));
  const out = path.join(root, 'finetune');
  // Two epochs: the first epoch's line is printed as the second starts, into the closed pipe.
  const args = ['finetune', '--model', job.model, '--train', job.train, '--val', job.val, '--epochs', '2', '--batch', '4'];
  args.push('--clip-length', '8', '--clips', '1', '--warmup-epochs', '0', '--seed', '1', '--out', out);
  const { code, signal } = await runWithClosedOutput(args);
  t.equal(signal, null);
  t.equal(code, 0, 'exit 0: the job succeeded');
  const history = fs.readFileSync(path.join(out, 'history.jsonl'), 'utf8').split('\n').filter(Boolean);
  t.equal(history.length, 2, 'both epochs in history.jsonl');
  for (const name of ['model.pt', 'model.json', 'best.pt', 'curves.svg']) t.ok(fs.existsSync(path.join(out, name)), `${name} written`);
});
