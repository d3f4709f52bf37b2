#!/usr/bin/env node
// prebuildify drives node-gyp (`node-gyp rebuild --target=... --arch=... --release`); torchvideo builds
// with CMake. This stands in for node-gyp: it builds the Node-API addon with scripts/build-addon.js (CMake) into
// build/Release, where prebuildify picks it up. The target version is irrelevant for a Node-API build.
'use strict';
// node-gyp's arguments mean nothing to CMake: build-addon.js must not pass them on.
process.argv.length = 2;
require('./build-addon.js');
