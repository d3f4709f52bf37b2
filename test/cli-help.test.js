'use strict';
// --help / -h on every command prints that command's usage on stdout and exits 0 (before any flag check,
// so required flags may be missing); the bench scripts do the same without loading anything.
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const t = require('tap');
const { ROOT } = require('./helpers/paths');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const run = (args, env = process.env) => spawnSync(process.execPath, args, { encoding: 'utf8', env, timeout: 60_000 });

// Each command and the start of the usage it must print (written here, not read from the code).
const COMMANDS = [
  ['classify', /^Usage: torchvideo classify <video\.\.\.> --model MODEL\.pt/],
  ['evaluate', /^Usage: torchvideo evaluate --model MODEL\.pt --data /],
  ['evaluate-merge', /^Usage: torchvideo evaluate-merge REPORT\.json\.\.\./],
  ['finetune', /^Usage: torchvideo finetune --model MODEL\.pt --train /],
  ['launch', /^Usage: torchvideo launch --nproc N/],
  ['quantize', /^Usage: torchvideo quantize --model MODEL\.pt --precision bf16\|int8/],
  ['serve', /^Usage: torchvideo serve --model \[NAME=\]MODEL\.pt/],
  ['watch', /^Usage: torchvideo watch SOURCE\.\.\. --model MODEL\.pt/],
  ['demo', /^Usage: torchvideo demo \[video\.\.\.\]/],
];

t.test('every command: --help and -h print its usage and exit 0', async (t) => {
  for (const [command, usage] of COMMANDS) {
    for (const flag of ['--help', '-h']) {
      const result = run([CLI, command, flag]);
      t.equal(result.status, 0, `${command} ${flag}: exit 0 (${result.stderr.trim()})`);
      t.match(result.stdout, usage, `${command} ${flag}: its usage on stdout`);
      t.equal(result.stderr, '', `${command} ${flag}: nothing on stderr`);
    }
  }
  // With other flags around it (finetune's required ones missing): still the usage, nothing run.
  const mixed = run([CLI, 'finetune', '--epochs', '2', '--help']);
  t.equal(mixed.status, 0, mixed.stderr);
  t.match(mixed.stdout, /^Usage: torchvideo finetune/);
});

t.test('torchvideo --help and -h list every command', async (t) => {
  for (const flag of ['--help', '-h']) {
    const result = run([CLI, flag]);
    t.equal(result.status, 0, result.stderr);
    t.match(result.stdout, /^Usage:\n/);
    for (const [command] of COMMANDS) t.match(result.stdout, new RegExp(`^ +torchvideo ${command} `, 'm'), `${flag} lists ${command}`);
  }
});

t.test('the bench scripts print their usage and exit 0, loading nothing', async (t) => {
  // An addon path that cannot load: a script that loaded the addon (or a model through it) would fail.
  const env = { ...process.env, TORCHVIDEO_ADDON: path.join(ROOT, 'no-such-build', 'torchvideo.node') };
  for (const script of ['bench.js', 'bench-precision.js', 'bench-scaling.js', 'bench-streams.js', 'bench-decode.js']) {
    for (const flag of ['--help', '-h']) {
      const result = run([path.join(ROOT, 'scripts', script), flag], env);
      t.equal(result.status, 0, `${script} ${flag}: exit 0 (${result.stderr.trim().split('\n')[0] ?? ''})`);
      t.match(result.stdout, new RegExp(`^Usage: node scripts/${script.replace('.', '\\.')} `), `${script} ${flag}: its usage`);
      t.equal(result.stderr, '', `${script} ${flag}: no stack trace`);
    }
  }
});
