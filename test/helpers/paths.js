// Where the tests find things: the checkout, the exports scripts/setup.sh made (random weights, seed 0),
// the real clips beside the checkout when there are any, and fresh temporary folders.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const MODELS_DIR = path.join(ROOT, 'models');
const ARCHS = ['r3d_18', 'mc3_18', 'r2plus1d_18'];
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

function tempDir(prefix = 'torchvideo-test-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

module.exports = { ROOT, MODELS_DIR, ARCHS, SHARED_VIDEOS, modelPath, tempDir };
