#!/usr/bin/env bash
# Builds the addon with AddressSanitizer into build-asan/ and runs native code under it:
#   1. LeakSanitizer over scripts/asan-leak-check.js (every native path once; leaks reported at exit),
#   2. the tap files given (default: all) with ASan's memory-error checks. RSS bounds are skipped
#      there (TORCHVIDEO_SANITIZED=1): ASan's quarantine and redzones make RSS meaningless.
# Node itself is not instrumented, so libasan is preloaded. Not part of `npm test`: it takes ~10 min.
# Usage: bash scripts/asan.sh [test/foo.test.js ...]
set -euo pipefail
cd "$(dirname "$0")/.."

LIBASAN="$(g++ -print-file-name=libasan.so)"
[ -f "$LIBASAN" ] || { echo "asan.sh: g++ has no libasan.so (install libgcc-12-dev)" >&2; exit 1; }

# cmake-js (through build-addon.js): -fsanitize=address -fno-omit-frame-pointer on every target's compile
# and link (CMakeLists.txt, TORCHVIDEO_SANITIZE).
TORCHVIDEO_BUILD_DIR=build-asan node scripts/build-addon.js --CDTORCHVIDEO_SANITIZE=address
npx tsc -p tsconfig.json

export TORCHVIDEO_ADDON="$PWD/build-asan/Release/torchvideo.node"
export TORCHVIDEO_SANITIZED=1

echo "== LeakSanitizer: scripts/asan-leak-check.js"
LD_PRELOAD="$LIBASAN" ASAN_OPTIONS=detect_leaks=1 node scripts/asan-leak-check.js

echo "== AddressSanitizer: tap"
if [ "$#" -eq 0 ]; then
  set -- test/*.test.js
fi
LD_PRELOAD="$LIBASAN" ASAN_OPTIONS=detect_leaks=0 npx tap --jobs 1 "$@"
