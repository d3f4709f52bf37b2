#!/usr/bin/env node
// Builds the native addon with CMake into build/Release/torchvideo.node: `npm run build:addon` here,
// and the install fallback (scripts/install.js) for a consumer where no prebuild matches. It needs
// only what a consumer has: cmake, a C++17 compiler, LibTorch and FFmpeg's -dev libraries, and the
// package's own dependencies (node-addon-api, node-api-headers: nothing is downloaded).
// LIBTORCH=/path/to/libtorch (or Torch_DIR) selects another LibTorch, e.g. a CUDA build; the default
// is the system's (Debian's libtorch-dev). TORCHVIDEO_BUILD_DIR picks another build folder, and
// arguments are added to CMake's configure step (scripts/asan.sh: -DCMAKE_CXX_FLAGS=-fsanitize=address).
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const buildDir = process.env.TORCHVIDEO_BUILD_DIR ? path.resolve(process.env.TORCHVIDEO_BUILD_DIR) : path.join(root, 'build');
const jobs = String(Math.max(1, os.availableParallelism ? os.availableParallelism() : os.cpus().length));

function fail(reason) {
  console.error(
    `\ntorchvideo: building the native addon failed: ${reason}\nPossible solutions:\n` +
      '- Install the build dependencies: bash scripts/setup.sh (Debian: cmake, g++, pkg-config, libtorch-dev,\n' +
      '  libavformat-dev, libavcodec-dev, libswscale-dev, libavutil-dev)\n' +
      '- Point LIBTORCH at an unpacked LibTorch (e.g. a CUDA build from pytorch.org) and run npm run build\n',
  );
  process.exit(1);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (result.error) fail(`${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`${command} ${args[0]} exited with ${result.status}`);
}

const configure = [
  '-S',
  root,
  '-B',
  buildDir,
  '-DCMAKE_BUILD_TYPE=Release',
  `-DCMAKE_LIBRARY_OUTPUT_DIRECTORY=${path.join(buildDir, 'Release')}`,
  `-DNODE_API_HEADERS_DIR=${require('node-api-headers').include_dir}`,
];
configure.push(...process.argv.slice(2));
// A build folder keeps the generator it was configured with; a new one gets Ninja when present.
const ninja = spawnSync('ninja', ['--version'], { stdio: 'ignore' }).status === 0;
if (!fs.existsSync(path.join(buildDir, 'CMakeCache.txt')) && ninja) configure.push('-G', 'Ninja');
run('cmake', configure);
run('cmake', ['--build', buildDir, '--parallel', jobs]);
