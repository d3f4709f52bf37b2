#!/usr/bin/env bash
# Brings a fresh Debian 12 machine to a working torchvideo: system packages, npm dependencies, the
# native addon, the TypeScript build and the three network exports. Idempotent: each step is
# skipped when its result is already there and up to date.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1msetup:\033[0m %s\n' "$*"; }

# LibTorch, torchvision (for exports and test references), FFmpeg's libraries (linked into the addon),
# the ffmpeg CLI and PyAV (test fixtures and references), and an optimized BLAS: Debian's LibTorch
# calls libblas.so.3, which is the slow reference BLAS unless OpenBLAS is installed.
# clang-format: npm run lint checks the C++ with Debian 12's (version 14). libgloo-dev: the headers
# of the Gloo that LibTorch's c10d links (distributed training and evaluation, CMakeLists.txt).
# libavdevice-dev: /dev/videoN cameras as live sources. rtsp-server-perl: the RTSP server the live-stream
# tests publish to and read from on loopback (its systemd unit is not started where there is no systemd).
PACKAGES=(
  build-essential cmake pkg-config
  libtorch-dev libgloo-dev python3-torchvision
  libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev
  libopenblas0-pthread
  ffmpeg python3-av
  rtsp-server-perl
  clang-format
  chromium
)

install_packages() {
  local missing=()
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if ((${#missing[@]} == 0)); then
    say "system packages present"
    return
  fi
  say "installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  # rtsp-server-perl ships a service listening on every interface: no service starts during this
  # install (a policy-rc.d answering 101, "forbidden", where the system has none); the tests start their
  # own server on loopback.
  local policy=/usr/sbin/policy-rc.d placed=0 status=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
    "${sudo[@]}" chmod 755 "$policy"
    placed=1
  fi
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" || status=$?
  if ((placed)); then "${sudo[@]}" rm -f "$policy"; fi
  return $status
}

# Is $1 older than any file under the following paths?
stale() {
  local target=$1
  shift
  [[ -e $target ]] || return 0
  [[ -n $(find "$@" -newer "$target" -type f -print -quit 2>/dev/null) ]]
}

install_node_modules() {
  # npm ci installs exactly the lockfile, so only a newer lockfile makes node_modules stale.
  if stale node_modules/.package-lock.json package-lock.json; then
    say "npm ci"
    # onnxruntime-node (a benchmark devDependency) would otherwise try to download CUDA binaries.
    ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --no-audit --no-fund
  else
    say "node_modules up to date"
  fi
}

build() {
  if stale build/Release/torchvideo.node CMakeLists.txt cpp binding; then
    say "building the native addon (a few minutes on 2 cores)"
    npm run --silent build:addon
  else
    say "native addon up to date"
  fi
  if stale dist/index.js src tsconfig.json; then
    say "compiling TypeScript"
    npm run --silent build:ts
  else
    say "TypeScript build up to date"
  fi
}

export_models() {
  # export_models.py skips exports that already match what is asked.
  /usr/bin/python3 scripts/export_models.py --arch all --out models "$@"
}

install_packages
install_node_modules
build
export_models "$@"
say "ready"
