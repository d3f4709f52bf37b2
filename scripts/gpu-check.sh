#!/usr/bin/env bash
# scripts/gpu-check.sh: build torchvideo against a CUDA PyTorch's LibTorch, then run the CUDA checks
# (test/gpu/check.js) and the benchmark's GPU rows (scripts/bench.js --device cuda), on a machine that
# has a CUDA PyTorch in its python3, cmake and a C++ compiler, but may have no Node, no FFmpeg, no tap
# and no internet.
#
# 1. On the Debian build machine, in a built checkout (npm run build), make .gpu/ (about 37 MB: Node,
#    FFmpeg's source, nasm + pkgconf, dist/ and the addon's header packages):
#      bash ../shared/gpu/prepare.sh
#    and the runtime packages the library loads (prepare.sh carries only the build's header packages):
#      bash scripts/gpu-check.sh --pack-deps
#    Optionally give the classifyVideo check real videos (the GPU machine has no ffmpeg CLI to make any):
#      mkdir -p .gpu/videos && cp ../shared/videos/mmaction2__demo.mp4 ../shared/videos/mmaction2__test.avi .gpu/videos/
# 2. On the CUDA machine, from the checkout's root, with .gpu/ carried beside it:
#      bash scripts/gpu-check.sh [--gpu-dir DIR] [--no-check] [--no-bench] [video|folder ...] [-- bench.js options]
#    e.g. bash scripts/gpu-check.sh -- --arch r2plus1d_18 --iters 50
#
# Steps: Node from DIR/node.xz (else the `node` on PATH); dist/ and the header packages from
# DIR/inputs.tgz (when dist/ is missing or older); FFmpeg's libraries from pkg-config, else built once
# from DIR/ffmpeg.tar.xz, minimal (file protocol; MP4/MKV/AVI; H.264, HEVC, MPEG-4, MJPEG, VP8, VP9
# decoders) into $WORK/ff; the addon built against $PYTHON's torch into build-cuda/ (cmake, ninja when
# present; incremental on a re-run) and selected with TORCHVIDEO_ADDON=build-cuda/Release/torchvideo.node;
# the three networks exported with $PYTHON (scripts/export_models.py --arch all --out models: random
# weights, seed 0; exports already up to date are kept); then
#   node test/gpu/check.js  [videos]        the CUDA checks, ending "gpu-check: N passed, N failed"
#   node test/gpu/eval-pipeline.js [videos] the evaluation pipeline: decode ceiling, network alone, end to end
#   node test/gpu/trainer-check.js          the trainer's (float32 and AMP steps vs PyTorch on the GPU)
#   node test/gpu/distributed-check.js      NCCL and Gloo on the GPU (ranks as processes), bf16 at load
#   node scripts/bench.js --device cuda     ms/clip beside PyTorch on the same GPU and export
# Everything with a number goes to stdout; logs go to $OUT: ffmpeg.log, build.log, export.log,
# check.log, trainer-check.log, distributed-check.log, eval.log, bench.log, bench.json. ../shared/gpu/run.sh, whose steps these are, had a built addon about
# 50 s after its start on an H200 machine's 16 cores.
#
# Options: --gpu-dir DIR  the folder prepare.sh made (default .gpu; env TORCHVIDEO_GPU_DIR)
#          --no-check, --no-trainer, --no-distributed, --no-eval, --no-bench  skip that step
#          video|folder  videos for the classifyVideo check and the evaluation pipeline (default: DIR/videos,
#                        then the scripts' own lists)
#          -- ...        the rest goes to scripts/bench.js (--arch, --batch, --precision, --iters, --no-python)
# Environment: PYTHON (default python3: the CUDA PyTorch's interpreter), OUT (logs, default
#          /tmp/gpu-out), WORK (scratch: Node, FFmpeg build; default ${TMPDIR:-/tmp}/torchvideo-gpu).
# Exit status: 0 when every check passed and the benchmark ran; 1 when a check or the benchmark
# failed; 2 when something it needs is missing.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "gpu-check: $*" >&2; exit 2; }

gpu_dir=${TORCHVIDEO_GPU_DIR:-.gpu}
run_check=1 run_trainer=1 run_distributed=1 run_bench=1 run_eval=1 pack_deps=0
videos=() bench_args=()
while (($#)); do
  case $1 in
    --gpu-dir) (($# >= 2)) || die "--gpu-dir needs a folder"; gpu_dir=$2; shift 2 ;;
    --gpu-dir=*) gpu_dir=${1#*=}; shift ;;
    --no-check) run_check=0; shift ;;
    --no-bench) run_bench=0; shift ;;
    --no-eval) run_eval=0; shift ;;
    --no-trainer) run_trainer=0; shift ;;
    --no-distributed) run_distributed=0; shift ;;
    --pack-deps) pack_deps=1; shift ;;
    -h | --help) usage; exit 0 ;;
    --) shift; bench_args=("$@"); break ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) videos+=("$(realpath -m "$1")"); shift ;;
  esac
done
G=$(realpath -m "$gpu_dir")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
[[ -f package.json && -f scripts/bench.js ]] || die "$root is not a torchvideo checkout"
# build-cuda/ stays out of git status, as prepare.sh does for .gpu/ (a copy without .git skips this).
if exclude=$(git rev-parse --git-path info/exclude 2>/dev/null); then
  mkdir -p "$(dirname "$exclude")" && { grep -qx '/build-cuda/' "$exclude" 2>/dev/null || echo '/build-cuda/' >> "$exclude"; }
fi

# The packages dist/ requires at load (the report's charting packages load only for HTML reports).
RUNTIME_DEPS=(node_modules/csv-parse node_modules/node-gyp-build)
if ((pack_deps)); then
  mkdir -p "$G" && tar -czf "$G/runtime-deps.tgz" "${RUNTIME_DEPS[@]}"
  echo "gpu-check: wrote $G/runtime-deps.tgz ($(du -h "$G/runtime-deps.tgz" | cut -f1))"
  exit 0
fi

PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/gpu-out}
W=${WORK:-${TMPDIR:-/tmp}/torchvideo-gpu}
mkdir -p "$OUT" "$W/bin"
export PYTHON OUT
T0=$(date +%s)
log() { echo "== +$(( $(date +%s) - T0 ))s $*"; }
# The last lines of a log, when a step fails.
fail_with() { echo "gpu-check: $1 failed; the end of $2:" >&2; tail -n "${3:-30}" "$2" >&2; exit 2; }

# -------------------------------------------------------------------------------- Node and tools
if [[ -s $G/node.xz ]]; then
  xz -dc "$G/node.xz" > "$W/bin/node.tmp" && chmod +x "$W/bin/node.tmp" && mv "$W/bin/node.tmp" "$W/bin/node"
  export PATH=$W/bin:$PATH
elif ! command -v node > /dev/null; then
  die "no Node: $G/node.xz is missing and no node is on PATH (make $G with ../shared/gpu/prepare.sh on the build machine)"
fi
if [[ -d $G/tools/usr/bin ]]; then
  export PATH=$PATH:$G/tools/usr/bin
  export LD_LIBRARY_PATH=$G/tools/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
if [[ -f $G/inputs.tgz && ( ! -f dist/index.js || $G/inputs.tgz -nt dist/index.js ) ]]; then
  tar -xzf "$G/inputs.tgz" -C "$root"
  touch dist/index.js
fi
[[ -f dist/index.js ]] || die "dist/ is missing: build it (npm run build) or carry $G/inputs.tgz from prepare.sh"
[[ -f $G/runtime-deps.tgz ]] && tar -xzf "$G/runtime-deps.tgz" -C "$root"
[[ -d node_modules/csv-parse ]] || die "node_modules/csv-parse is missing: make $G/runtime-deps.tgz with --pack-deps"
[[ -d node_modules/node-api-headers/include ]] || die "node_modules/node-api-headers is missing: carry $G/inputs.tgz"

torch_probe='import torch; ok = torch.cuda.is_available()
print(torch.__version__, "CUDA", torch.version.cuda, "available", ok, torch.cuda.get_device_name(0) if ok else "")'
torch_info=$("$PYTHON" -c "$torch_probe" 2>&1) \
  || die "$PYTHON cannot import torch (set PYTHON to the CUDA PyTorch's python3): ${torch_info##*$'\n'}"
log "node $(node --version) ($(command -v node)); $PYTHON: torch $torch_info"
command -v nvidia-smi > /dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/   GPU: /' || true

# ---------------------------------------------------------------------------------------- FFmpeg
if ! pkg-config --exists libavformat libavcodec libswscale libavutil 2>/dev/null; then
  if [[ ! -f $W/ff/lib/pkgconfig/libavcodec.pc ]]; then
    [[ -f $G/ffmpeg.tar.xz ]] || die "pkg-config finds no FFmpeg and $G/ffmpeg.tar.xz is missing"
    command -v pkg-config > /dev/null || die "no pkg-config: carry $G/tools from prepare.sh"
    asm=(); command -v nasm > /dev/null || asm=(--disable-x86asm)  # slower decoding, but it builds
    log "building FFmpeg (minimal, decoders only) into $W/ff"
    rm -rf "$W/ffmpeg-src" && mkdir -p "$W/ffmpeg-src"
    tar -xJf "$G/ffmpeg.tar.xz" -C "$W/ffmpeg-src" --strip-components=1
    (cd "$W/ffmpeg-src" && ./configure --prefix="$W/ff" --enable-shared --disable-static --disable-programs \
        --disable-doc --disable-autodetect --disable-everything --enable-protocol=file \
        --enable-demuxer=mov,matroska,avi --enable-decoder=h264,hevc,mpeg4,mjpeg,vp8,vp9 \
        --enable-parser=h264,hevc,mpeg4video,vp8,vp9,mjpeg "${asm[@]}" \
      && make -j"$(nproc)" && make install) > "$OUT/ffmpeg.log" 2>&1 || fail_with "FFmpeg's build" "$OUT/ffmpeg.log"
  fi
  export PKG_CONFIG_PATH=$W/ff/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export LD_LIBRARY_PATH=$W/ff/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
log "FFmpeg $(pkg-config --modversion libavcodec | sed 's/^/libavcodec /') from $(pkg-config --variable=libdir libavcodec)"

# ------------------------------------------------------------------------------------- the addon
log "building the addon against $PYTHON's LibTorch into build-cuda/"
prefix=$("$PYTHON" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')
# pip's PyTorch keeps nccl.h in its nvidia-nccl package, outside torch's include folder.
if [[ -z ${NCCL_INCLUDE_DIR:-} ]]; then
  nccl_probe='import glob, os, site
found = [h for p in site.getsitepackages() for h in glob.glob(os.path.join(p, "nvidia", "**", "nccl.h"), recursive=True)]
print(os.path.dirname(found[0]))'
  NCCL_INCLUDE_DIR=$("$PYTHON" -c "$nccl_probe" 2>/dev/null) && export NCCL_INCLUDE_DIR || unset NCCL_INCLUDE_DIR
fi
generator=(); command -v ninja > /dev/null && [[ ! -f build-cuda/Makefile ]] && generator=(-G Ninja)
{ cmake -S . -B build-cuda "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_JS_INC="$root/node_modules/node-api-headers/include" \
    -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$root/build-cuda/Release" \
  && cmake --build build-cuda -j"$(nproc)"; } > "$OUT/build.log" 2>&1 || fail_with "the addon's build" "$OUT/build.log" 40
grep -h 'torchvideo: distributed' "$OUT/build.log" | sed 's/^-- /   /' || true
export TORCHVIDEO_ADDON=$root/build-cuda/Release/torchvideo.node
[[ -f $TORCHVIDEO_ADDON ]] || die "the build made no $TORCHVIDEO_ADDON"

log "exporting the networks with $PYTHON (kept when up to date)"
"$PYTHON" scripts/export_models.py --arch all --out models > "$OUT/export.log" 2>&1 || fail_with "export_models.py" "$OUT/export.log" 20
sed 's/^/   /' "$OUT/export.log" | tail -n 6

# -------------------------------------------------------------------------------- checks + bench
status=0
if ((run_check)); then
  [[ ${#videos[@]} -eq 0 && -d $G/videos ]] && videos=("$G/videos")
  log "CUDA checks: node test/gpu/check.js ${videos[*]}"
  node test/gpu/check.js "${videos[@]}" 2>&1 | tee "$OUT/check.log" || status=1
fi
if ((run_trainer)); then
  log "trainer CUDA checks: node test/gpu/trainer-check.js"
  node test/gpu/trainer-check.js 2>&1 | tee "$OUT/trainer-check.log" || status=1
fi
if ((run_distributed)); then
  log "distributed and bf16 CUDA checks: node test/gpu/distributed-check.js"
  node test/gpu/distributed-check.js 2>&1 | tee "$OUT/distributed-check.log" || status=1
fi
if ((run_eval)); then
  log "evaluation pipeline: node test/gpu/eval-pipeline.js ${videos[*]}"
  node test/gpu/eval-pipeline.js "${videos[@]}" 2>&1 | tee "$OUT/eval.log" || status=1
fi
if ((run_bench)); then
  log "benchmark: node scripts/bench.js --device cuda ${bench_args[*]}"
  node scripts/bench.js --device cuda --json "$OUT/bench.json" "${bench_args[@]}" 2>&1 | tee "$OUT/bench.log" || status=1
fi
log "done ($( ((status)) && echo 'something FAILED: see above' || echo 'all passed' )); logs in $OUT"
exit "$status"
