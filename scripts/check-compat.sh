#!/usr/bin/env bash
# Compiles every C++ source (cpp/**/*.cpp, binding/*.cc) with -fsyntax-only against both ends of the
# supported range, so one command proves both:
#   trixie  Debian 13's LibTorch 2.6 and FFmpeg 7.1 headers (libtorch-dev, libav*-dev), fetched with
#           `apt-get download` through a private apt configuration and unpacked with `dpkg -x` into
#           .compat-cache/. Nothing is installed and the system's apt state is not touched. Their
#           libraries need Debian 13's glibc, so only headers are used: this is a compile check.
#   system  the system's own headers: on Debian 12, LibTorch 1.13 and FFmpeg 5.1, the build that is
#           linked and tested in full by `npm test`.
# The fetched headers are reused while the package lists are under a day old (COMPAT_REFRESH=1 refreshes
# them now); a refresh downloads again only when a package's version changed.
# Usage: bash scripts/check-compat.sh          (npm run check:compat)
set -euo pipefail
SELF=$(realpath "$0")
cd "$(dirname "$SELF")/.."

SUITE=trixie
PACKAGES=(libtorch-dev libgloo-dev libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev)
# The majors the trixie end must see, so a fallback to the system's headers cannot pass unnoticed.
EXPECT_TORCH_MAJOR=2
EXPECT_AVCODEC_MAJOR=61
JOBS=${COMPAT_JOBS:-2}

CACHE=$PWD/.compat-cache
APT_DIR=$CACHE/apt
TRIXIE_DIR=$CACHE/$SUITE
TRIXIE_ROOT=$TRIXIE_DIR/root
MULTIARCH=$(gcc -print-multiarch)

say() { printf '\033[1mcheck-compat:\033[0m %s\n' "$*"; }
die() { printf 'check-compat: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------------
# Fetching Debian 13's headers.

apt_options() {
  APT_OPTS=(
    -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
    -o "Dir::Etc::SourceParts=$APT_DIR/empty.d"
    -o "Dir::Etc::Preferences=$APT_DIR/empty.d/preferences"
    -o "Dir::Etc::PreferencesParts=$APT_DIR/empty.d"
    -o "Dir::State::Lists=$APT_DIR/lists"
    -o "Dir::State::status=$APT_DIR/status"
    -o "Dir::State::extended_states=$APT_DIR/extended_states"
    -o "Dir::Cache=$APT_DIR/cache"
    -o "APT::Architecture=$(dpkg --print-architecture)"
    -o "APT::Architectures::=$(dpkg --print-architecture)"
  )
  # As root, apt would hand downloads to the _apt user, who cannot write into this checkout.
  if [[ $(id -u) -eq 0 ]]; then
    APT_OPTS+=(-o APT::Sandbox::User=root)
  fi
}

prepare_apt_dir() {
  # Its own sources, lists, cache and preferences (the system's pins would not apply to trixie).
  mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/empty.d"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" \
    >"$APT_DIR/sources.list"
  # An empty dpkg status: apt sees nothing installed, so it resolves nothing against this machine.
  : >"$APT_DIR/status"
}

lists_fresh() {
  [[ -z ${COMPAT_REFRESH:-} ]] || return 1
  local packages
  packages=$(find "$APT_DIR/lists" -maxdepth 1 -name '*_Packages*' -mmin -1440 -print -quit 2>/dev/null)
  [[ -n $packages ]]
}

# Prints "package=version" for each of PACKAGES, as the private package lists name them.
wanted_versions() {
  local package version
  for package in "${PACKAGES[@]}"; do
    version=$(apt-cache "${APT_OPTS[@]}" show --no-all-versions "$package" 2>/dev/null |
      sed -n 's/^Version: //p' | head -n 1)
    [[ -n $version ]] || return 1
    echo "$package=$version"
  done
}

fetch_trixie() {
  [[ -f /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
    die "needs /usr/share/keyrings/debian-archive-keyring.gpg (apt-get install debian-archive-keyring)"
  apt_options
  prepare_apt_dir
  local have_root=0
  [[ -f $TRIXIE_DIR/versions && -d $TRIXIE_ROOT ]] && have_root=1

  if ((have_root)) && lists_fresh; then
    say "$SUITE headers cached: $(tr '\n' ' ' <"$TRIXIE_DIR/versions")"
    return
  fi
  say "apt-get update ($SUITE, private lists in .compat-cache/apt)"
  if ! apt-get "${APT_OPTS[@]}" -q update >"$APT_DIR/update.log" 2>&1; then
    if ((have_root)); then
      say "apt-get update failed (see .compat-cache/apt/update.log); reusing the cached $SUITE headers"
      return
    fi
    cat "$APT_DIR/update.log" >&2
    die "apt-get update failed for $SUITE"
  fi
  # apt keeps a list's modification time from the server; stamp it now so lists_fresh counts from here.
  find "$APT_DIR/lists" -maxdepth 1 -name '*_Packages*' -exec touch {} +

  local wanted wanted_list
  wanted=$(wanted_versions) || die "one of ${PACKAGES[*]} is missing from $SUITE's package lists"
  if ((have_root)) && [[ $wanted == "$(cat "$TRIXIE_DIR/versions")" ]]; then
    say "$SUITE headers up to date: $(tr '\n' ' ' <<<"$wanted")"
    return
  fi

  say "downloading $(tr '\n' ' ' <<<"$wanted")"
  rm -rf "$TRIXIE_DIR.new"
  mkdir -p "$TRIXIE_DIR.new/debs" "$TRIXIE_DIR.new/root"
  mapfile -t wanted_list <<<"$wanted"
  (cd "$TRIXIE_DIR.new/debs" && apt-get "${APT_OPTS[@]}" -q download "${wanted_list[@]}") ||
    die "apt-get download failed"
  local deb
  for deb in "$TRIXIE_DIR.new/debs"/*.deb; do
    dpkg -x "$deb" "$TRIXIE_DIR.new/root"
  done
  # Only headers are used (the libraries need Debian 13's glibc).
  find "$TRIXIE_DIR.new/root" -mindepth 1 -maxdepth 2 ! -path '*/usr' ! -path '*/usr/include' -exec rm -rf {} +
  rm -rf "$TRIXIE_DIR.new/debs"
  echo "$wanted" >"$TRIXIE_DIR.new/versions"
  rm -rf "$TRIXIE_DIR"
  mv "$TRIXIE_DIR.new" "$TRIXIE_DIR"
}

# ---------------------------------------------------------------------------------------------------
# Compiler flags per end.

common_flags() {
  local napi
  napi=$(node -p "require('node-addon-api').include" | tr -d '"')
  [[ -d node_modules/node-api-headers/include ]] || die "node_modules/node-api-headers is missing (npm ci)"
  COMMON_FLAGS=(
    -std=c++17 -fsyntax-only
    -Wall -Wextra -Wno-unused-parameter
    -I"$PWD" -I"$napi" -I"$PWD/node_modules/node-api-headers/include"
    -DNAPI_VERSION=8 -DNODE_ADDON_API_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
    # cmake-js's CMAKE_CXX_FLAGS (scripts/build-addon.js builds with cmake-js).
    -DBUILDING_NODE_EXTENSION
    -D__STDC_CONSTANT_MACROS -D_GLIBCXX_USE_CXX11_ABI=1
    # cpp/distributed compiled as CMakeLists.txt turns it on where Gloo's headers are found.
    -DUSE_C10D_GLOO -DTORCHVIDEO_DISTRIBUTED=1 -DTORCHVIDEO_WITH_GLOO=1 -DTORCHVIDEO_WITH_NCCL=0
    # Capture devices, as CMakeLists.txt turns them on where libavdevice is found.
    -DTORCHVIDEO_HAVE_AVDEVICE
  )
}

# $1: end name; the include directories follow. Writes $WORK/<end>.flags, one flag a line.
write_flags() {
  local end=$1
  shift
  local dir
  {
    for dir in "$@"; do printf -- '-I%s\n' "$dir"; done
    printf '%s\n' "${COMMON_FLAGS[@]}"
  } >"$WORK/$end.flags"
}

# Prints "<torch version> <libavcodec version>" as the given end's headers define them.
probe_versions() {
  local end=$1 flag flags=()
  # The same flags as the compile, but preprocessing only.
  while IFS= read -r flag; do
    [[ $flag == -fsyntax-only ]] || flags+=("$flag")
  done <"$WORK/$end.flags"
  printf '%s\n' '#include <cstdint>' '#include <torch/version.h>' 'extern "C" {' \
    '#include <libavcodec/version.h>' '}' \
    'torchvideo_probe TORCH_VERSION_MAJOR TORCH_VERSION_MINOR TORCH_VERSION_PATCH' \
    'torchvideo_probe LIBAVCODEC_VERSION_MAJOR LIBAVCODEC_VERSION_MINOR LIBAVCODEC_VERSION_MICRO' |
    g++ -E -P -x c++ "${flags[@]}" - 2>"$WORK/$end.probe.err" |
    sed -n 's/^torchvideo_probe //p' | tr -s ' ' '.' >"$WORK/$end.probe" || true
  local line1 line2
  line1=$(sed -n 1p "$WORK/$end.probe")
  line2=$(sed -n 2p "$WORK/$end.probe")
  [[ -n $line1 && -n $line2 ]] || { cat "$WORK/$end.probe.err" >&2; die "$end: cannot read the LibTorch/FFmpeg versions"; }
  echo "$line1 $line2"
}

# ---------------------------------------------------------------------------------------------------
# One compile: "<end> <file>" -> a status line; errors and warnings under $WORK/<end>/.

compile_one() {
  local end=$1 file=$2 flags out start elapsed status=ok
  mapfile -t flags <"$WORK/$end.flags"
  out=$WORK/$end/${file//\//_}
  start=$(date +%s%N)
  if ! g++ "${flags[@]}" -MD -MF "$out.d" -MT x "$file" >"$out.log" 2>&1; then
    status=FAIL
  elif [[ -s $out.log ]]; then
    status=warn
  fi
  # A header the fetched packages ship but that came from /usr/include means the check compiled
  # against the wrong end.
  if [[ $status != FAIL && -s $WORK/$end.forbidden ]] &&
    tr ' \\' '\n\n' <"$out.d" |
    awk 'NR == FNR { prefix[++n] = $0; next } { for (i = 1; i <= n; i++) if (index($0, prefix[i]) == 1) { print; next } }' \
      "$WORK/$end.forbidden" - >"$out.leak" && [[ -s $out.leak ]]; then
    status=FAIL
    { echo "$file: took these headers from the system instead of $end's:"; sed 's/^/  /' "$out.leak"; } >>"$out.log"
  fi
  elapsed=$((($(date +%s%N) - start) / 1000000))
  echo "$status" >"$out.status"
  printf '%-4s %-7s %-36s %5d.%01d s\n' "$status" "$end" "$file" $((elapsed / 1000)) $((elapsed % 1000 / 100))
}

if [[ ${1:-} == --compile-one ]]; then
  shift
  WORK=$1
  compile_one "$2" "$3"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------
# FFmpeg's headers need UINT64_C before them (libavutil/common.h: "missing -D__STDC_CONSTANT_MACROS");
# with g++ 13, <string> and friends no longer pull in <cstdint>. CMake defines __STDC_CONSTANT_MACROS,
# and every file includes <cstdint> before FFmpeg's headers, so any include order compiles.

check_cstdint_first() {
  local file first_ffmpeg first_cstdint bad=0
  while IFS= read -r file; do
    first_ffmpeg=$(grep -n -m1 -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*<lib(av|sw)' "$file" | cut -d: -f1)
    first_cstdint=$(grep -n -m1 -E '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(cstdint|stdint\.h)>' "$file" | cut -d: -f1)
    if [[ -z $first_cstdint || $first_cstdint -gt $first_ffmpeg ]]; then
      echo "FAIL $file: #include <cstdint> must come before FFmpeg's headers (line $first_ffmpeg)"
      bad=1
    fi
  done < <(grep -rlE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<lib(av|sw)' cpp binding)
  return $bad
}

main() {
  local begin=$SECONDS
  command -v g++ >/dev/null || die "needs g++ (build-essential)"
  fetch_trixie
  common_flags
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/check-compat.XXXXXX")
  trap 'rm -rf "$WORK"' EXIT
  mkdir -p "$WORK/$SUITE" "$WORK/system"
  # cpp/video/preprocessing_defaults.h is generated from its JSON, as the CMake build does.
  command -v cmake >/dev/null || die "needs cmake (it generates cpp/video/preprocessing_defaults.h)"
  cmake -DTORCHVIDEO_GENERATED_DIR="$WORK/generated" -P cpp/video/preprocessing_defaults.cmake ||
    die "cannot generate cpp/video/preprocessing_defaults.h"
  COMMON_FLAGS+=(-I"$WORK/generated")

  local inc=$TRIXIE_ROOT/usr/include
  # Fetched headers first; the system's /usr/include still serves glibc and libstdc++.
  write_flags "$SUITE" "$inc/torch/csrc/api/include" "$inc" "$inc/$MULTIARCH"
  write_flags system /usr/include/torch/csrc/api/include
  # Top-level names the fetched packages ship (torch, c10, libavcodec, ...): none of them may be read
  # from /usr/include in the trixie compile.
  {
    find "$inc" -mindepth 1 -maxdepth 1 ! -name "$MULTIARCH" -printf '/usr/include/%f%Y\n'
    find "$inc/$MULTIARCH" -mindepth 1 -maxdepth 1 -printf "/usr/include/$MULTIARCH/%f%Y\n"
  } | sed -e 's|d$|/|' -e 's|[fl]$||' >"$WORK/$SUITE.forbidden"
  : >"$WORK/system.forbidden"

  local trixie_versions system_versions torch avcodec
  trixie_versions=$(probe_versions "$SUITE")
  system_versions=$(probe_versions system)
  read -r torch avcodec <<<"$trixie_versions"
  say "$SUITE: LibTorch $torch, libavcodec $avcodec (FFmpeg 7.1 is libavcodec 61)"
  say "system: LibTorch ${system_versions% *}, libavcodec ${system_versions#* } (FFmpeg 5.1 is libavcodec 59)"
  [[ ${torch%%.*} == "$EXPECT_TORCH_MAJOR" && ${avcodec%%.*} == "$EXPECT_AVCODEC_MAJOR" ]] ||
    die "$SUITE end sees LibTorch $torch / libavcodec $avcodec, expected $EXPECT_TORCH_MAJOR.x / $EXPECT_AVCODEC_MAJOR.x"

  local failed=0
  check_cstdint_first || failed=1

  local sources
  mapfile -t sources < <(find cpp -name '*.cpp' | sort; find binding -maxdepth 1 -name '*.cc' | sort)
  ((${#sources[@]} > 0)) || die "no sources found"
  say "compiling ${#sources[@]} sources x 2 ends, $JOBS at a time"
  local file end
  for file in "${sources[@]}"; do
    for end in "$SUITE" system; do echo "$end $file"; done
  done | xargs -P "$JOBS" -L 1 bash "$SELF" --compile-one "$WORK"

  local total failures warnings log versions
  for end in "$SUITE" system; do
    total=0
    failures=0
    warnings=0
    for file in "${sources[@]}"; do
      log=$WORK/$end/${file//\//_}
      total=$((total + 1))
      case $(cat "$log.status" 2>/dev/null || echo FAIL) in
        FAIL) failures=$((failures + 1)) ;;
        warn) warnings=$((warnings + 1)) ;;
      esac
    done
    versions=$trixie_versions
    [[ $end == "$SUITE" ]] || versions=$system_versions
    say "$end (LibTorch ${versions% *}, libavcodec ${versions#* }): $total files, $failures failed, $warnings with warnings"
    ((failures == 0)) || failed=1
  done

  # The process group's source once more without Gloo (as against pip's PyTorch, which ships no Gloo
  # headers): its #if branches must compile too. NCCL stays off here: no CUDA headers on this machine.
  local engines=$SUITE-nogloo group=cpp/distributed/group.cpp
  grep -vx -e -DUSE_C10D_GLOO -e -DTORCHVIDEO_WITH_GLOO=1 "$WORK/$SUITE.flags" >"$WORK/$engines.flags"
  echo -DTORCHVIDEO_WITH_GLOO=0 >>"$WORK/$engines.flags"
  cp "$WORK/$SUITE.forbidden" "$WORK/$engines.forbidden"
  mkdir -p "$WORK/$engines"
  compile_one "$engines" "$group"
  if [[ $(cat "$WORK/$engines/${group//\//_}.status") == FAIL ]]; then
    failed=1
    printf '\n--- %s: %s (FAIL)\n' "$engines" "$group"
    cat "$WORK/$engines/${group//\//_}.log"
  fi

  # Warnings and errors in full, after the summary lines so they are not interleaved.
  for end in "$SUITE" system; do
    for file in "${sources[@]}"; do
      log=$WORK/$end/${file//\//_}
      if [[ -s $log.log ]]; then
        printf '\n--- %s: %s (%s)\n' "$end" "$file" "$(cat "$log.status" 2>/dev/null || echo FAIL)"
        cat "$log.log"
      fi
    done
  done
  if ((failed)); then
    say "FAILED ($((SECONDS - begin)) s)"
    exit 1
  fi
  say "ok: every source compiles against both ends ($((SECONDS - begin)) s)"
}

main "$@"
