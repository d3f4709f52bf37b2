// The references the tests hold the library to, computed at test time by Debian's torch and torchvision
// (/usr/bin/python3) running the scripts in test/py/.
'use strict';
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { ROOT, modelPath, tempDir } = require('./paths');

const PYTHON = '/usr/bin/python3';

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

// Runs a reference script of test/py/ that writes raw bytes to --output and JSON to stdout.
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

module.exports = { PYTHON, pytorchLogits, pythonReference };
