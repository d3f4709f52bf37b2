#!/usr/bin/env node
// prebuildify drives node-gyp (`node-gyp rebuild --target=... --arch=... --release`); torchvideo builds
// with CMake. This stands in for node-gyp: it builds the Node-API addon with cmake-js into
// build/Release, where prebuildify picks it up. The target version is irrelevant for a Node-API build.
'use strict';
require('./build-addon.js');
