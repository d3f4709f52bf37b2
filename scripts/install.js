#!/usr/bin/env node
// npm's install hook. A consumer installing torchvideo gets the prebuilt addon when one matches this
// platform (node-gyp-build finds it); otherwise the addon is built here with CMake against the
// LibTorch that LIBTORCH/Torch_DIR names or the system one (TORCHVIDEO_BUILD_FROM_SOURCE=1 builds
// even when a prebuild matches, e.g. for a CUDA LibTorch). In this repository's own checkout the
// build is left to `npm run build` (scripts/setup.sh), because the dev dependencies that build it
// may not be installed yet when this hook runs.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
if (fs.existsSync(path.join(root, '.git'))) {
  process.exit(0);
}
if (process.env.TORCHVIDEO_BUILD_FROM_SOURCE !== '1') {
  try {
    require('node-gyp-build')(root);
    process.exit(0);
  } catch {
    // No prebuilt binary for this platform: build from source below.
  }
}
require('./build-addon.js');
