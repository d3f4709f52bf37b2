// Paths and reference computations shared by the tests. Models come from scripts/setup.sh's
// exports (random weights, seed 0); references are computed at test time with Debian's torch.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const MODELS_DIR = path.join(ROOT, 'models');
const ARCHS = ['r3d_18', 'mc3_18', 'r2plus1d_18'];
const PYTHON = '/usr/bin/python3';
// Real clips, when the checkout sits beside ../shared (CI does; a clean checkout may not). Tests add
// them to their fixture cases when present. TORCHVIDEO_TEST_SHARED_VIDEOS points elsewhere (a missing
// folder shows what a clean checkout runs).
const SHARED_VIDEOS = process.env.TORCHVIDEO_TEST_SHARED_VIDEOS || path.resolve(ROOT, '..', 'shared', 'videos');
// Datasets' metadata indexes go to the user's cache folder (loadDataset): the tests keep theirs out of the
// home of whoever runs them (child processes inherit it).
process.env.XDG_CACHE_HOME ||= path.join(os.tmpdir(), 'torchvideo-test-cache');

function modelPath(arch) {
  return path.join(MODELS_DIR, `${arch}.pt`);
}

// A deterministic pseudo-random float32 array (mulberry32), so failures reproduce.
function randomFloats(length, seed = 1) {
  let state = seed >>> 0;
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    values[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return values;
}

function tempDir(prefix = 'torchvideo-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

// Logits of the export as PyTorch itself computes them (same LibTorch, Python front end).
// `arch`: one of ARCHS (its export in models/) or the path of any export; `bf16`: cast it to bfloat16 first.
function pytorchLogits(arch, input, shape, { optimize, bf16 = false }) {
  const dir = tempDir();
  try {
    const inputFile = path.join(dir, 'input.bin');
    const outputFile = path.join(dir, 'output.bin');
    fs.writeFileSync(inputFile, Buffer.from(input.buffer, input.byteOffset, input.byteLength));
    const args = [
      path.join(ROOT, 'test', 'py', 'reference_forward.py'),
      '--model',
      arch.includes(path.sep) ? arch : modelPath(arch),
      '--input',
      inputFile,
      '--shape',
      shape.join(','),
      '--output',
      outputFile,
    ];
    if (optimize) args.push('--optimize');
    if (bf16) args.push('--bf16');
    execFileSync(PYTHON, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    const bytes = fs.readFileSync(outputFile);
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function maxAbsDiff(a, b) {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

module.exports = { ROOT, MODELS_DIR, ARCHS, PYTHON, SHARED_VIDEOS, modelPath, randomFloats, tempDir, pytorchLogits, maxAbsDiff };

// Runs a Python reference script that writes raw bytes to --output and JSON to stdout.
function pythonReference(script, args) {
  const dir = tempDir();
  try {
    const output = path.join(dir, 'out.bin');
    const stdout = execFileSync(PYTHON, [path.join(ROOT, 'test', 'py', script), ...args, '--output', output], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 64 * 2 ** 20,
    });
    const lastLine = stdout.trim().split('\n').pop();
    return { json: lastLine ? JSON.parse(lastLine) : null, bytes: fs.readFileSync(output) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

module.exports.pythonReference = pythonReference;
