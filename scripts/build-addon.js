#!/usr/bin/env node
// Builds the native addon with cmake-js into build/Release/torchvideo.node.
// LIBTORCH=/path/to/libtorch (or Torch_DIR) selects another LibTorch, e.g. a CUDA build; the default
// is Debian's libtorch-dev. Node-API headers come from the node-api-headers package, so nothing is
// downloaded.
'use strict';
const { spawnSync } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const cmakeJs = require.resolve('cmake-js/bin/cmake-js');
const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));
const args = [cmakeJs, 'compile', '--parallel', jobs];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit', env: process.env });
if (result.status !== 0) {
  console.error(
    '\ntorchvideo: building the native addon failed. Possible solutions:\n' +
      '- Install the build dependencies: bash scripts/setup.sh (Debian: libtorch-dev, libavformat-dev,\n' +
      '  libavcodec-dev, libswscale-dev, libavutil-dev, pkg-config, cmake, g++)\n' +
      '- Point LIBTORCH at an unpacked LibTorch (e.g. a CUDA build from pytorch.org) and run npm run build\n',
  );
  process.exit(result.status ?? 1);
}
