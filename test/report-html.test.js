'use strict';
// renderReportHtml: a self-contained page (no external references) whose strings are escaped, checked in
// headless Chromium (Debian's chromium, installed by scripts/setup.sh): its DOM holds the summary numbers
// and the labels as text, both Vega charts drew one mark per class (bars) and per cell (heatmap), and a
// screenshot of it is not blank.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFile } = require('node:child_process');
const { promisify } = require('node:util');
const t = require('tap');
const { renderReportHtml } = require('../dist/internal.js');

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SCRIPT_LABEL = '<script>alert(1)</script>';

// 6 classes: the last has no videos but is predicted once, so the bars show 5 classes and the heatmap 6.
const labels = ['walking', SCRIPT_LABEL, 'rock & roll', 'jumping', `a "quoted" 'one'`, 'never seen'];
const confusion = [
  [3, 1, 0, 0, 0, 0],
  [0, 2, 0, 0, 0, 1],
  [1, 0, 1, 0, 0, 0],
  [0, 0, 0, 2, 0, 0],
  [0, 0, 1, 0, 0, 0],
  [0, 0, 0, 0, 0, 0],
];

function reportOf(labels, confusion, extra = {}) {
  const perClass = labels.map((label, c) => {
    const videos = confusion[c].reduce((a, b) => a + b, 0);
    return { label, videos, acc1: videos > 0 ? confusion[c][c] / videos : null };
  });
  const accuracies = perClass.filter((c) => c.acc1 !== null).map((c) => c.acc1);
  const videos = perClass.reduce((a, c) => a + c.videos, 0);
  return {
    clipAcc1: 37 / 60,
    clipAcc5: 57 / 60,
    videoAcc1: confusion.reduce((a, row, i) => a + row[i], 0) / videos,
    videoAcc5: 11 / 12,
    meanClassAcc1: accuracies.reduce((a, b) => a + b, 0) / accuracies.length,
    clips: videos * 5,
    videos,
    perClass,
    confusion,
    clipsPerSec: 123.456,
    failed: [],
    skipped: [],
    predictions: [],
    shard: { index: 0, count: 1 },
    model: { arch: 'r3d_18', numClasses: labels.length, labels, weights: 'KINETICS400_V1', path: '/models/r3d_18.pt' },
    options: { clipsPerVideo: 5, clipLength: 16, frameRate: 15, crops: 1, batchSize: 8, shortVideos: 'pad' },
    ...extra,
  };
}

const report = reportOf(labels, confusion, {
  failed: [
    { path: 'videos/bad <1>.mp4', error: 'ERR_VIDEO_DECODE: invalid data found when processing input & <stream 0>' },
    { path: 'videos/<img src=x onerror=alert(2)>.avi', error: "moov atom not found: 'truncated'" },
  ],
  skipped: ['videos/short.mp4'],
});

// The figure's SVG and its data marks: vega draws a rect mark (bars, heatmap cells) as <path>s in
// <g class="mark-rect role-mark ...">, one per datum (a 0% bar is a 0-wide path, still one mark).
function figure(html, id) {
  const match = new RegExp(`<figure id="${id}" data-classes="(\\d+)">([\\s\\S]*?)</figure>`).exec(html);
  if (!match) return null;
  const groups = [...match[2].matchAll(/<g class="mark-rect role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g)];
  const rects = groups.reduce((n, g) => n + (g[1].match(/<path\b/g) || []).length, 0);
  return { classes: Number(match[1]), svg: /<svg\b/.test(match[2]) ? match[2] : null, rects };
}

function textOf(html) {
  return html
    .replace(/<style[\s\S]*?<\/style>/g, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&');
}

function checkSelfContained(t, html) {
  t.notMatch(html, /<script/i, 'no script element');
  t.notMatch(html, /<link/i, 'no <link>');
  t.notMatch(html, /https?:\/\//i, 'no http(s) address');
  t.notMatch(html, /url\((?!#)/i, 'no url() but to an element of the page');
}

async function chromium(args) {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'torchvideo-chromium-'));
  try {
    const { stdout } = await promisify(execFile)(
      CHROMIUM,
      ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--hide-scrollbars', `--user-data-dir=${profile}`, ...args],
      { timeout: 120_000, maxBuffer: 64 << 20 },
    );
    return stdout;
  } finally {
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

t.test('a report renders in Chromium with its numbers, escaped labels and both charts', async (t) => {
  const html = await renderReportHtml(report);
  checkSelfContained(t, html);
  t.notOk(html.includes(SCRIPT_LABEL), 'the <script> label is never written raw');
  t.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the <script> label is escaped');
  t.notOk(html.includes('<img'), 'the failed path is escaped');

  if (!fs.existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: run bash scripts/setup.sh (it installs Debian's chromium), or set CHROMIUM to a Chromium binary`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'torchvideo-report-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'report.html');
  fs.writeFileSync(file, html);
  const url = `file://${file}`;

  const dom = await chromium(['--dump-dom', url]);
  t.match(dom, /<h1>Evaluation of r3d_18 \(KINETICS400_V1\)<\/h1>/, 'the title names the network and weights');
  checkSelfContained(t, dom);

  const summary = {
    'Clip acc@1': '61.67%',
    'Clip acc@5': '95.00%',
    'Video acc@1': '66.67%',
    'Video acc@5': '91.67%',
    'Mean class acc@1': '58.33%',
    Clips: '60',
    Videos: '12',
    'Clips/s': '123.5',
    'Failed videos': '2',
    'Skipped videos': '1',
  };
  for (const [name, value] of Object.entries(summary)) {
    t.ok(dom.includes(`<tr><th>${name}</th><td>${value}</td></tr>`), `summary: ${name} = ${value}`);
  }

  const text = textOf(dom);
  for (const label of labels) t.ok(text.includes(label), `label ${JSON.stringify(label)} is in the page's text`);
  for (const f of report.failed) {
    t.ok(text.includes(f.path), `failed path ${JSON.stringify(f.path)} is shown`);
    t.ok(text.includes(f.error), `its error is shown`);
  }

  const bars = figure(dom, 'per-class-chart');
  t.ok(bars && bars.svg, 'the per-class chart is an inline SVG');
  t.equal(bars.classes, 5, 'the bars show the 5 classes with videos');
  t.equal(bars.rects, 5, 'one bar mark per class shown');
  const heatmap = figure(dom, 'confusion-chart');
  t.ok(heatmap && heatmap.svg, 'the confusion chart is an inline SVG');
  t.equal(heatmap.classes, 6, 'the heatmap shows the 6 classes with videos or predictions');
  t.equal(heatmap.rects, 36, 'one cell mark per (true, predicted) pair: 6^2');

  const png = path.join(dir, 'report.png');
  await chromium([`--screenshot=${png}`, '--window-size=1200,1600', url]);
  t.ok(fs.existsSync(png), 'Chromium wrote a screenshot');
  const bytes = fs.readFileSync(png);
  t.same([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'it is a PNG');
  t.ok(bytes.length > 20_000, `the screenshot is not blank (${bytes.length} bytes)`);
  if (process.env.TORCHVIDEO_KEEP_SCREENSHOT) fs.copyFileSync(png, process.env.TORCHVIDEO_KEEP_SCREENSHOT);
});

t.test('many classes: the bar chart shows the 30 worst and 30 best, the heatmap the 60 most confused', async (t) => {
  const n = 100;
  const many = Array.from({ length: n }, (_, i) => `class ${i}`);
  // Class i has i % 10 + 1 videos, i % 10 of them right; classes 0..79 mistake one video for the next class
  // (so classes 0..80 are confused), classes 80..99 are right on all but class 80's.
  const m = Array.from({ length: n }, () => new Array(n).fill(0));
  for (let i = 0; i < n; i++) {
    m[i][i] = i % 10;
    if (i < 80) m[i][i + 1] = 1;
    else m[i][i] += 1;
  }
  const html = await renderReportHtml(reportOf(many, m));
  checkSelfContained(t, html);
  const bars = figure(html, 'per-class-chart');
  t.equal(bars.classes, 60, '60 bars');
  t.equal(bars.rects, 60, '60 bar marks');
  t.match(html, /The 30 best and 30 worst of 100 classes with videos/, 'the bar chart says what it leaves out');
  const heatmap = figure(html, 'confusion-chart');
  t.equal(heatmap.classes, 60, '60 heatmap classes');
  t.equal(heatmap.rects, 3600, '60^2 cells');
  t.match(html, /The 60 most confused of 100 classes/, 'the heatmap says what it leaves out');
  // Confused videos, either way: class 0: 1, classes 1..79: 2, class 80: 1, classes 81..99: 0.
  t.ok(heatmap.svg.includes('>class 1<') && heatmap.svg.includes('>class 60<'), 'classes 1..60 are the most confused');
  t.notOk(heatmap.svg.includes('>class 0<') || heatmap.svg.includes('>class 61<'), 'the less confused are left out');
  t.ok(bars.svg.includes('>class 99<'), 'a 100% class is among the best bars');
});
