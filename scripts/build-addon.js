#!/usr/bin/env node
// Builds the native addon with cmake-js into build/Release/torchvideo.node: `npm run build:addon` here,
// the install fallback (scripts/install.js) for a consumer where no prebuild matches, and the build
// `npm run prebuilds` packs (prebuildify runs this in node-gyp's place). It needs only what a consumer
// has: cmake, a C++17 compiler, LibTorch and FFmpeg's -dev libraries, and the package's own dependencies
// (cmake-js, node-addon-api, node-api-headers): package.json's binary.napi_versions makes cmake-js build
// against node-api-headers, so nothing is downloaded.
// LIBTORCH=/path/to/libtorch (or Torch_DIR) selects another LibTorch, e.g. a CUDA build; the default
// is the system's (Debian's libtorch-dev). TORCHVIDEO_BUILD_DIR picks another build folder (the addon
// lands in its Release/). Arguments (and TORCHVIDEO_CMAKE_OPTIONS) are CMake options for the configure
// step, as cmake-js's --CDNAME=VALUE or CMake's own -DNAME=VALUE (scripts/asan.sh:
// --CDTORCHVIDEO_SANITIZE=address); other cmake-js options pass through as they are.
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

let cmakeJs;
try {
  cmakeJs = path.join(path.dirname(require.resolve('cmake-js/package.json', { paths: [root] })), 'bin', 'cmake-js');
} catch {
  fail('cmake-js is not installed (it is one of the package dependencies: npm install)');
}

// prebuildify runs this in node-gyp's place (`rebuild --target=... --devdir=... --arch=... --release`):
// a Node-API build is the same for every target, so only the architecture and the configuration count.
let args = process.argv.slice(2);
let config = 'Release';
if (['rebuild', 'build', 'configure'].includes(args[0])) {
  const gypArgs = args.slice(1);
  args = [];
  for (const arg of gypArgs) {
    if (arg.startsWith('--arch=')) args.push(arg);
    else if (arg === '--debug') config = 'Debug';
  }
}

// CMake options, from the arguments and from TORCHVIDEO_CMAKE_OPTIONS (split at spaces; the way to reach
// the build `npm run prebuilds` runs): -DNAME=VALUE becomes cmake-js's --CDNAME=VALUE (cmake-js's own -D
// means --debug).
const options = [];
for (const arg of [...(process.env.TORCHVIDEO_CMAKE_OPTIONS || '').split(/\s+/).filter(Boolean), ...args]) {
  options.push(arg.startsWith('-D') && arg.length > 2 ? `--CD${arg.slice(2)}` : arg);
}
if (process.env.LIBTORCH) options.push(`--CDLIBTORCH=${path.resolve(process.env.LIBTORCH)}`);
if (process.env.Torch_DIR) options.push(`--CDTorch_DIR=${path.resolve(process.env.Torch_DIR)}`);

// cmake-js passes -DCMAKE_CXX_FLAGS=-DBUILDING_NODE_EXTENSION after every --CD option, which would drop
// a CMAKE_CXX_FLAGS given here, and CXXFLAGS (CMake reads it only when no CMAKE_CXX_FLAGS is given).
// Its npm config values (cmake_NAME, which it also reads from its own command line as --cmake_NAME=...)
// come after that one: the flags go there, together.
const cxxFlags = [process.env.CXXFLAGS || ''];
for (let i = 0; i < options.length; i++) {
  if (options[i].startsWith('--CDCMAKE_CXX_FLAGS=')) cxxFlags.push(options.splice(i--, 1)[0].slice('--CDCMAKE_CXX_FLAGS='.length));
}
if (cxxFlags.some(Boolean)) options.push(`--cmake_CMAKE_CXX_FLAGS=${['-DBUILDING_NODE_EXTENSION', ...cxxFlags.filter(Boolean)].join(' ')}`);

// A build folder keeps the generator it was configured with; a new one gets Ninja when present (cmake-js
// would pick it too).
let generator;
try {
  generator = /^CMAKE_GENERATOR:INTERNAL=(.*)$/m.exec(fs.readFileSync(path.join(buildDir, 'CMakeCache.txt'), 'utf8'))?.[1];
} catch {
  if (spawnSync('ninja', ['--version'], { stdio: 'ignore' }).status === 0) generator = 'Ninja';
}

const common = ['--directory', root, '--out', buildDir, '--config', config, ...(generator ? ['-G', generator] : [])];

function cmakeJsRun(command, extra) {
  const result = spawnSync(process.execPath, [cmakeJs, command, ...common, ...extra], { cwd: root, stdio: 'inherit' });
  if (result.error) fail(`cmake-js ${command}: ${result.error.message}`);
  if (result.status !== 0) fail(`cmake-js ${command} exited with ${result.status}`);
}

// Configure every time (options given now apply to an existing build folder too), then build
// incrementally; `cmake-js compile` would instead wipe the build folder after any failed build.
cmakeJsRun('configure', options);
cmakeJsRun('build', ['--parallel', jobs, ...options]);
