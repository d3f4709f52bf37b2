'use strict';
// A reader that closes the pipe early (`torchvideo classify ... --json | head -1`) ends the CLI quietly
// with exit 0, like any Unix tool, even while forwards and decodes are running.
const path = require('node:path');
const { spawn } = require('node:child_process');
const t = require('tap');
const { fixture } = require('./helpers/fixtures');
const { ROOT, modelPath } = require('./helpers/models');

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
