#!/usr/bin/env bash
# `npm run lint`: clang-format (C++), prettier (formatting of TS/JS/JSON) and ESLint (TS/JS), all
# findings reported, non-zero exit if any. `npm run format` (scripts/lint.sh --fix) applies
# clang-format and prettier instead. Installs nothing: clang-format is Debian 12's package
# (scripts/setup.sh installs it), prettier and ESLint are pinned devDependencies.
set -uo pipefail
cd "$(dirname "$0")/.."

CLANG_FORMAT=${CLANG_FORMAT:-clang-format}
# The version .clang-format is written for (Debian 12's clang-format 14): others format differently.
CLANG_FORMAT_MAJOR=14

fix=0
[[ ${1:-} == --fix ]] && fix=1

say() { printf '\033[1mlint:\033[0m %s\n' "$*"; }
status=0

# C++: every source of the addon (cpp/ and binding/).
mapfile -t cxx < <(git ls-files --cached --others --exclude-standard -- 'cpp/*.cpp' 'cpp/*.h' 'binding/*.cc' 'binding/*.h' | sort -u)
if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
  say "clang-format not found: apt-get install clang-format (Debian 12's, version $CLANG_FORMAT_MAJOR)"
  status=1
else
  version=$("$CLANG_FORMAT" --version)
  if [[ $version != *"version $CLANG_FORMAT_MAJOR."* ]]; then
    say "warning: $version; .clang-format is checked with clang-format $CLANG_FORMAT_MAJOR (Debian 12's), others may disagree"
  fi
  if ((fix)); then
    say "clang-format -i (${#cxx[@]} files)"
    "$CLANG_FORMAT" -i "${cxx[@]}" || status=1
  else
    say "clang-format --dry-run --Werror (${#cxx[@]} files)"
    "$CLANG_FORMAT" --dry-run --Werror "${cxx[@]}" || status=1
  fi
fi

# TS/JS: prettier (its ignores in .prettierignore), then ESLint (eslint.config.mjs).
if [[ ! -x node_modules/.bin/prettier || ! -x node_modules/.bin/eslint ]]; then
  say "prettier/eslint not installed: run npm ci (or npm install)"
  exit 1
fi
if ((fix)); then
  say "prettier --write"
  node_modules/.bin/prettier --write --log-level warn . || status=1
else
  say "prettier --check"
  node_modules/.bin/prettier --check --log-level warn . || status=1
  say "eslint"
  node_modules/.bin/eslint --max-warnings 0 . || status=1
fi

if ((status)); then
  if ((fix)); then say "failed"; else say "findings above (npm run format fixes formatting)"; fi
else
  say "ok"
fi
exit "$status"
