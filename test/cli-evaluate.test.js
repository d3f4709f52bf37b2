'use strict';
// npx torchvideo evaluate / evaluate-merge: a summary on stdout, report.json in --out, shards run as
// separate commands merge into the single run's report, Ctrl-C (130) and SIGTERM (143) stop resumably, bad
// flags say why.
const fs = require('node:fs');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const t = require('tap');
const { classFolderSet } = require('./helpers/fixtures');
const { ROOT, modelPath, tempDir } = require('./helpers/paths');
const { sameReportFields } = require('./helpers/reports');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const run = (...args) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

const root = tempDir('torchvideo-cli-eval-');
t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
const data = classFolderSet(path.join(root, 'set'));
const common = ['--model', modelPath('mc3_18'), '--data', data, '--clips', '2', '--batch', '3'];

t.test('evaluate prints a summary, writes report.json, and shards merge into the one-run report', async (t) => {
  const whole = run('evaluate', ...common, '--out', path.join(root, 'whole'));
  t.equal(whole.status, 0, whole.stderr);
  t.match(whole.stdout, /^videos +4$/m);
  t.match(whole.stdout, /^clips +8$/m);
  t.match(whole.stdout, /^video acc@1 +\d+\.\d\d%$/m);
  t.match(whole.stdout, /^failed +1$/m);
  t.match(whole.stderr, /failed: .*text\.mp4: .*ERR_VIDEO_OPEN/, 'the failure and its reason on stderr');
  const report = JSON.parse(fs.readFileSync(path.join(root, 'whole', 'report.json'), 'utf8'));
  t.equal(report.videos, 4);
  t.equal(report.predictions[0].probs.length, 400);
  const html = fs.readFileSync(path.join(root, 'whole', 'report.html'), 'utf8');
  t.match(html, /<svg/, 'report.html holds the charts (test/report-html.test.js checks them in Chromium)');
  t.match(html, /abseiling/);
  const shards = [0, 1].map((index) => {
    const result = run('evaluate', ...common, '--shard', `${index}/2`, '--out', path.join(root, `shard${index}`));
    t.equal(result.status, 0, result.stderr);
    return path.join(root, `shard${index}`, 'report.json');
  });
  const merged = run('evaluate-merge', ...shards, '--json', '--out', path.join(root, 'merged'));
  t.equal(merged.status, 0, merged.stderr);
  const mergedReport = JSON.parse(merged.stdout);
  sameReportFields(t, mergedReport, report, ['predictions']);
  t.ok(fs.existsSync(path.join(root, 'merged', 'report.json')), 'the merged report.json');
  t.ok(fs.existsSync(path.join(root, 'merged', 'report.html')), 'and report.html');
});

for (const [signal, exitCode] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  t.test(`${signal} stops the job with exit ${exitCode}, leaving predictions.jsonl whole, and --resume finishes it`, async (t) => {
    const out = path.join(root, `interrupted-${signal}`);
    const child = spawn(process.execPath, [CLI, 'evaluate', ...common, '--batch', '1', '--out', out], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const log = path.join(out, 'predictions.jsonl');
    const lines = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : []);
    const timer = setInterval(() => {
      if (lines().length >= 3) {
        clearInterval(timer);
        child.kill(signal);
      }
    }, 20);
    const code = await new Promise((resolve) => child.on('exit', (c) => resolve(c)));
    clearInterval(timer);
    t.equal(code, exitCode, `exit code ${exitCode}`);
    t.match(stderr, /interrupted; continue with --resume --out/);
    const written = lines();
    t.ok(
      written.length >= 3 && written.length < 6,
      `stopped before the last video (${written.length} of 6 lines: the job's, then one a video)`,
    );
    for (const line of written) t.doesNotThrow(() => JSON.parse(line), 'every line of predictions.jsonl is whole');
    t.notOk(fs.existsSync(path.join(out, 'report.json')), 'no report of an unfinished job');
    const resumed = run('evaluate', ...common, '--batch', '1', '--out', out, '--resume', '--json');
    t.equal(resumed.status, 0, resumed.stderr);
    t.equal(JSON.parse(resumed.stdout).videos, 4, 'every video in the resumed report');
  });
}

t.test('--crops 3 --preprocess-on device --decode-threads 2 reach the job', async (t) => {
  const result = run('evaluate', ...common, '--crops', '3', '--preprocess-on', 'device', '--decode-threads', '2', '--json');
  t.equal(result.status, 0, result.stderr);
  const report = JSON.parse(result.stdout);
  t.equal(report.options.crops, 3, 'three crops per clip');
  t.equal(report.options.preprocessOn, 'device', 'preprocessed on the model device');
  t.equal(
    report.clips,
    report.predictions.reduce((sum, p) => sum + p.clips, 0),
    'clips are counted once, not per view',
  );
});

t.test('bad command lines', async (t) => {
  for (const [args, message] of [
    [['evaluate', '--data', data], /expected --model MODEL\.pt/],
    [['evaluate', '--model', modelPath('mc3_18')], /expected --data DIR\|list\.csv\|list\.txt/],
    [['evaluate', ...common, '--shard', '2/2'], /expected --shard index to be an integer between 0 and 1/],
    [['evaluate', ...common, '--shard', 'half'], /expected --shard to be INDEX\/COUNT/],
    [['evaluate', ...common, '--short-videos', 'drop'], /expected --short-videos to be pad or skip/],
    [['evaluate', ...common, '--clips', '0'], /expected --clips to be a positive integer/],
    [['evaluate', ...common, '--crops', '2'], /expected --crops to be 1 or 3, got '2'/],
    [['evaluate', ...common, '--preprocess-on', 'gpu'], /expected --preprocess-on to be host or device, got 'gpu'/],
    [['evaluate', ...common, '--decode-threads', '0'], /expected --decode-threads to be a positive integer/],
    [['evaluate-merge'], /expected the report\.json files of the shards/],
    [['evaluate-merge', path.join(root, 'nope.json')], /cannot read report 1/],
  ]) {
    const result = run(...args);
    t.equal(result.status, 2, `${args.slice(0, 2).join(' ')} ...: exit 2`);
    t.match(result.stderr, message);
  }
});
