'use strict';
// npx torchvideo watch: JSON lines (one per window, one per event) when stdout is not a terminal, with the
// window count a file's length gives; several sources through one batcher; SIGINT stops a realtime watch
// promptly with exit 0; failures exit 1 naming the source; bad command lines exit 2 naming the flag. The
// terminal board is checked in-process on a fake 40-column terminal.
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const t = require('tap');
const { openVideo, resampleFrameIndices } = require('../dist/index.js');
const { StatusBoard, resultLine, stateLine, truncate } = require('../dist/internal.js');
const { fixture } = require('./helpers/fixtures');
const { makeTinyModel } = require('./helpers/kserve-client');
const { ROOT } = require('./helpers/paths');

const CLI = path.join(ROOT, 'dist', 'cli.js');
const TINY = makeTinyModel(); // clips of 4 frames at 15 fps, 5 classes
t.teardown(() => fs.rmSync(path.dirname(TINY), { recursive: true, force: true }));
const run = (...args) => spawnSync(process.execPath, [CLI, 'watch', ...args], { encoding: 'utf8', timeout: 120_000 });

const CLIP_LENGTH = 16;
const FRAME_RATE = 15;
const HOP = 0.5;
const STREAM_FLAGS = ['--clip-length', String(CLIP_LENGTH), '--frame-rate', String(FRAME_RATE), '--hop', String(HOP), '--threads', '1'];

// Windows end at (clipLength - 1) / frameRate s, then every hop, each on the next resampled frame, up
// to the file's last resampled frame: counted from the file's own length.
async function expectedWindows(file) {
  const reader = await openVideo(file);
  const lastK = resampleFrameIndices(reader.info.frameCount, reader.info.fps, FRAME_RATE).length - 1;
  reader.close();
  let windows = 0;
  for (let m = 0; Math.ceil(((CLIP_LENGTH - 1) / FRAME_RATE + HOP * m) * FRAME_RATE - 1e-9) <= lastK; m++) windows++;
  return windows;
}

const jsonLines = (stdout) =>
  stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));

t.test('--json: one line per window of the file, then its end', async (t) => {
  const video = fixture('h264.mp4');
  const result = run(video, '--model', TINY, ...STREAM_FLAGS, '--topk', '2', '--json');
  t.equal(result.status, 0, result.stderr);
  t.equal(result.stderr, '');
  const lines = jsonLines(result.stdout);
  const windows = lines.filter((line) => line.top !== undefined);
  const expected = await expectedWindows(video);
  t.ok(expected > 2, `${expected} windows expected`);
  t.equal(windows.length, expected, 'one line per window');
  for (const [i, w] of windows.entries()) {
    t.same(Object.keys(w).sort(), ['decodeMs', 'dropped', 'endSec', 'inferenceMs', 'latencyMs', 'reconnects', 'source', 'startSec', 'top']);
    t.equal(w.source, video);
    t.equal(w.top.length, 2, '--topk 2');
    t.match(w.top[0], { label: String, index: Number, score: Number });
    t.equal(w.dropped, 0, 'a file read without --realtime drops nothing');
    const due = Math.ceil(((CLIP_LENGTH - 1) / FRAME_RATE + HOP * i) * FRAME_RATE - 1e-9) / FRAME_RATE;
    t.ok(Math.abs(w.endSec - due) < 1e-6, `window ${i} ends at ${w.endSec} s (due ${due} s)`);
    t.ok(Math.abs(w.endSec - w.startSec - (CLIP_LENGTH - 1) / FRAME_RATE) < 1e-6);
  }
  t.same(lines[0], { source: video, event: 'open' }, 'the open event first');
  t.same(lines.at(-1), { source: video, event: 'end' }, 'the end last');
});

t.test('two sources: lines for both, each ending', async (t) => {
  const videos = [fixture('h264.mp4'), fixture('vp9.webm')];
  const result = run(...videos, '--model', TINY, ...STREAM_FLAGS, '--max-batch', '2');
  t.equal(result.status, 0, result.stderr);
  const lines = jsonLines(result.stdout); // not a terminal: JSON lines without --json
  for (const video of videos) {
    const mine = lines.filter((line) => line.source === video);
    t.equal(mine.filter((line) => line.top).length, await expectedWindows(video), `${path.basename(video)}: every window`);
    t.same(mine.at(-1), { source: video, event: 'end' });
  }
});

t.test('a source that fails: an error line, its reason on stderr naming it, exit 1', async (t) => {
  const missing = path.join(ROOT, 'no-such-video.mp4');
  const result = run(fixture('h264.mp4'), missing, '--model', TINY, ...STREAM_FLAGS);
  t.equal(result.status, 1);
  const lines = jsonLines(result.stdout);
  const failure = lines.find((line) => line.source === missing);
  t.match(failure, { source: missing, error: { code: String, message: String } });
  t.ok(
    lines.some((line) => line.source === fixture('h264.mp4') && line.event === 'end'),
    'the other source still ran to its end',
  );
  t.match(result.stderr, new RegExp(`torchvideo watch: ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: .+\\(ERR_`));
});

t.test('SIGINT during a --realtime watch stops it promptly: exit 0, a stopped line', async (t) => {
  const video = fixture('h264-8s.mp4');
  const child = spawn(process.execPath, [CLI, 'watch', video, '--model', TINY, ...STREAM_FLAGS, '--realtime'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  // The first window of a file played at its pace comes about 1 s in.
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      if (/"top"/.test(stdout)) resolve();
    });
    child.on('exit', () => reject(new Error(`exited before a window: ${stderr}`)));
  });
  const sentAt = Date.now();
  child.kill('SIGINT');
  const { code, signal } = await exited;
  const tookMs = Date.now() - sentAt;
  t.equal(signal, null, 'not killed by the signal');
  t.equal(code, 0, `exit 0 (${stderr.trim()})`);
  t.ok(tookMs < 3000, `stopped in ${tookMs} ms`);
  t.equal(stderr, '');
  const lines = jsonLines(stdout);
  t.same(lines.at(-1), { source: video, event: 'stopped' });
  t.ok(lines.filter((line) => line.top).length < 10, 'stopped well before the 8 s file ended');
});

t.test('bad command lines: exit 2 naming the flag or what is missing', async (t) => {
  const video = fixture('h264.mp4');
  const cases = [
    [['--model', TINY], /expected at least one SOURCE \(a file or a URL\)\nUsage: torchvideo watch/],
    [[video], /expected --model MODEL\.pt/],
    [[video, '--model', TINY, '--hop', '0'], /expected --hop to be a positive number of seconds, got '0'/],
    [[video, '--model', TINY, '--hop', 'fast'], /expected --hop to be a positive number of seconds, got 'fast'/],
    [[video, '--model', TINY, '--threshold', '2'], /expected --threshold to be a probability in \[0, 1\], got '2'/],
    [[video, '--model', TINY, '--average', '0'], /expected --average to be an integer in \[1, 10000\], got '0'/],
    [[video, '--model', TINY, '--clip-length', '2.5'], /expected --clip-length to be an integer in \[1, 10000\], got '2\.5'/],
    [[video, '--model', TINY, '--frame-rate', '5000'], /expected --frame-rate to be at most 1000, got '5000'/],
    [[video, '--model', TINY, '--retries', '-1'], /expected --retries to be an integer >= 0, got '-1'/],
    [[video, '--model', TINY, '--stall-timeout', '-1'], /expected --stall-timeout to be a finite number >= 0, got '-1'/],
    [[video, '--model', TINY, '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const result = run(...args);
    t.equal(result.status, 2, `${args.slice(1).join(' ')}: exit 2`);
    t.match(result.stderr, message);
    t.equal(result.stdout, '');
  }
});

// A terminal of `columns` columns: applies what the board writes (printable text, \n, \r, ESC[nA, ESC[nB,
// ESC[2K) and fails on a write past the last column (the line would wrap and the board's rows slip).
function fakeTerminal(t, columns) {
  const rows = [''];
  let row = 0;
  let column = 0;
  const writes = [];
  const put = (ch) => {
    if (column >= columns) t.fail(`wrote past column ${columns} on row ${row}`);
    const line = rows[row].padEnd(column);
    rows[row] = line.slice(0, column) + ch + line.slice(column + 1);
    column++;
  };
  return {
    isTTY: true,
    columns,
    rows,
    writes,
    cursor: () => ({ row, column }),
    write(text) {
      writes.push(text);
      for (let i = 0; i < text.length;) {
        // eslint-disable-next-line no-control-regex -- the terminal's escapes are what is parsed
        const control = /^\x1b\[(\d*)([ABK])/.exec(text.slice(i));
        if (control) {
          const n = Number(control[1] || 1);
          if (control[2] === 'A') row = Math.max(0, row - n);
          else if (control[2] === 'B') row += n;
          else rows[row] = '';
          while (rows.length <= row) rows.push('');
          i += control[0].length;
        } else if (text[i] === '\n') {
          row++;
          column = 0;
          while (rows.length <= row) rows.push('');
          i++;
        } else if (text[i] === '\r') {
          column = 0;
          i++;
        } else {
          const ch = String.fromCodePoint(text.codePointAt(i));
          put(ch);
          i += ch.length;
        }
      }
      return true;
    },
  };
}

t.test('the terminal board: one line per stream rewritten in place, cut to the width', async (t) => {
  const terminal = fakeTerminal(t, 40);
  const sources = ['rtsp://***@camera-1.example/stream', 'b.mp4'];
  const board = new StatusBoard(terminal, sources);
  t.same(terminal.rows.slice(0, 2), ['rtsp://***@camera-1.example/stream  op…', 'b.mp4  opening']);
  t.same(terminal.cursor(), { row: 2, column: 0 }, 'the cursor below the board');
  const result = {
    startSec: 0,
    endSec: 1,
    top: [{ label: 'class one', index: 1, score: 0.875 }],
    latencyMs: 12.4,
    dropped: 3,
    reconnects: 1,
  };
  board.set(1, resultLine(sources[1], result));
  t.equal(
    terminal.writes.at(-1),
    `\x1b[1A\r\x1b[2K${truncate(resultLine(sources[1], result), 39)}\x1b[1B\r`,
    'up one row, cleared, back down',
  );
  t.equal(terminal.rows[1], 'b.mp4  1.0 s  class one 87.5%  12 ms  …');
  t.equal(terminal.rows[1].length, 39, 'one column short of the width');
  board.set(0, stateLine(sources[0], { failed: 'cannot open\nthe source' }));
  t.ok(terminal.writes.at(-1).startsWith('\x1b[2A\r\x1b[2K'), 'the first of two lines: up two rows');
  t.equal(terminal.rows[0], 'rtsp://***@camera-1.example/stream  fa…');
  t.equal(terminal.rows[1], 'b.mp4  1.0 s  class one 87.5%  12 ms  …', 'the other line untouched');
  t.same(terminal.cursor(), { row: 2, column: 0 }, 'the cursor back below the board');
  const before = terminal.writes.length;
  board.set(1, resultLine(sources[1], result));
  t.equal(terminal.writes.length, before, 'an unchanged line is not rewritten');
  board.set(1, stateLine(sources[1], { failed: 'no\nway\x1b[2J' }));
  t.equal(terminal.rows[1], 'b.mp4  failed: no?way?[2J', 'control characters never reach the terminal');
  board.set(1, stateLine(sources[1], 'ended'));
  t.same(terminal.rows.slice(0, 3), ['rtsp://***@camera-1.example/stream  fa…', 'b.mp4  ended', '']);
  t.equal(resultLine('s', { ...result, top: [] }), 's  1.0 s  (no label above the threshold)  12 ms  dropped 3  reconnects 1');
});
