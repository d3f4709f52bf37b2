#!/usr/bin/env bash
# The test command (npm test): runs the tap suite, then prints tap's summary as one line
# "N passed, N failed[, N skipped]" for CI to count. Extra arguments go to tap (e.g. one file).
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ ! -f build/Release/torchvideo.node || ! -f dist/index.js || ! -f models/r3d_18.pt ]]; then
  echo "test: the addon, the TypeScript build or the exports are missing: run bash scripts/setup.sh first" >&2
  exit 1
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
npx tap "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# tap's base reporter ends with a line such as "# { total: 63, pass: 61, fail: 1, skip: 1 }".
summary=$(grep -E '^# \{ total: ' "$log" | tail -n 1)
count() { grep -oE "$1: [0-9]+" <<<"$summary" | grep -oE '[0-9]+' || echo 0; }
passed=$(count pass)
failed=$(count fail)
skipped=$(( $(count skip) + $(count todo) ))
if [[ -z $summary ]]; then
  echo "test: tap printed no summary" >&2
  [[ $status -eq 0 ]] && status=1
fi
line="$passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"
exit "$status"
