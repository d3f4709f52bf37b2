#!/usr/bin/python3
"""PyTorch's own speed on torchvideo's TorchScript exports, for `npm run bench` to print beside ours.

Usage:
  /usr/bin/python3 scripts/bench_python.py [--models models/] [--arch all|r3d_18,mc3_18,...]
      [--batch 1,8] [--iters 3] [--warmup 2] [--modes optimized,scripted] [--threads N] [--json]

For each arch, mode and batch size B it times forward passes on a random float32 (B,3,16,112,112)
clip under torch.inference_mode() and reports the median over --iters divided by B (ms per clip).
Modes: "scripted" = the module as torch.jit.load returns it; "optimized" =
torch.jit.optimize_for_inference(torch.jit.freeze(module)), the path torchvideo takes.
With --json, stdout is exactly one JSON object:
  {"torch": version, "threads": n, "rows": [{"arch", "batch", "mode", "msPerClip"}, ...]}
Progress goes to stderr. Errors: one line on stderr, exit code 2.
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch

ARCHS = ["r3d_18", "mc3_18", "r2plus1d_18"]
MODES = ["optimized", "scripted"]
CLIP_SHAPE = (3, 16, 112, 112)  # (C, T, H, W) of one clip, as exported
# TorchScript's profiling executor records shapes on the first call and builds its optimized graph
# on the second, so fewer warm-up calls would time the profiling run.
MIN_WARMUP = 2


class BenchError(Exception):
    """A user-facing failure: one line on stderr, exit code 2."""


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected integers >= 1, got {text!r}")
    return values


def choice_list(allowed, all_word=None):
    def parse(text):
        if all_word is not None and text == all_word:
            return list(allowed)
        values = [v.strip() for v in text.split(",") if v.strip()]
        unknown = [v for v in values if v not in allowed]
        if not values or unknown:
            options = ", ".join(allowed + ([all_word] if all_word else []))
            raise argparse.ArgumentTypeError(f"unknown {', '.join(unknown) or 'empty list'}; "
                                             f"choose from {options} (comma-separated)")
        return values
    return parse


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench_python.py",
                                description="Time PyTorch on torchvideo's TorchScript exports.")
    p.add_argument("--models", default="models", help="folder holding <arch>.pt (default: models)")
    p.add_argument("--arch", default="all", type=choice_list(ARCHS, "all"),
                   help="'all' (default) or a comma-separated list of " + ", ".join(ARCHS))
    p.add_argument("--batch", default=[1, 8], type=int_list, help="batch sizes (default: 1,8)")
    p.add_argument("--iters", default=3, type=int,
                   help="timed calls per arch/mode/batch; the median is reported (default: 3)")
    p.add_argument("--warmup", default=MIN_WARMUP, type=int,
                   help=f"untimed calls first (default and minimum: {MIN_WARMUP})")
    p.add_argument("--modes", default=list(MODES), type=choice_list(MODES),
                   help="comma-separated: optimized, scripted (default: both; plain scripted r3d_18 "
                   "takes seconds per clip on CPU)")
    p.add_argument("--threads", default=os.cpu_count() or 1, type=int,
                   help="torch.set_num_threads (default: all cores)")
    p.add_argument("--seed", default=0, type=int, help="seed of the random input (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.iters < 1:
        p.error(f"--iters must be >= 1, got {args.iters}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if args.warmup < MIN_WARMUP:
        print(f"note: --warmup {args.warmup} raised to {MIN_WARMUP}: the profiling executor "
              "optimizes on its second call", file=sys.stderr)
        args.warmup = MIN_WARMUP
    return args


def model_paths(models_dir, archs, explicit):
    """Paths of the exports to time. With --arch all, a missing export is skipped with a note (the
    bench still reports the others); a named arch must exist."""
    paths = {}
    for arch in archs:
        path = os.path.join(models_dir, f"{arch}.pt")
        if os.path.isfile(path):
            paths[arch] = path
        elif explicit:
            raise BenchError(f"{path} not found; run: /usr/bin/python3 scripts/export_models.py "
                             f"--arch {arch} --out {models_dir}")
        else:
            print(f"note: {path} not found, skipping {arch}", file=sys.stderr)
    if not paths:
        raise BenchError(f"no exports in {models_dir}; run: /usr/bin/python3 scripts/export_models.py "
                         f"--arch all --out {models_dir}")
    return paths


def load_module(path, mode):
    module = torch.jit.load(path, map_location="cpu")
    module.eval()
    if mode == "optimized":
        # freeze needs eval mode: it inlines parameters and folds batch norm into the convolutions.
        module = torch.jit.optimize_for_inference(torch.jit.freeze(module))
    return module


def time_calls(module, x, warmup, iters):
    """Median wall time of one call, in ms."""
    for _ in range(warmup):
        module(x)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        module(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def bench(args):
    paths = model_paths(args.models, args.arch, explicit=len(args.arch) < len(ARCHS))
    generator = torch.Generator().manual_seed(args.seed)
    inputs = {b: torch.rand(b, *CLIP_SHAPE, generator=generator) for b in args.batch}
    rows = []
    with torch.inference_mode():
        for arch, path in paths.items():
            for mode in args.modes:
                # One module per arch and mode, reused across batch sizes as a server would; the
                # warm-up before each batch size lets the executor re-specialize for the new shape.
                module = load_module(path, mode)
                for batch in args.batch:
                    ms = time_calls(module, inputs[batch], args.warmup, args.iters) / batch
                    print(f"{arch} {mode} batch {batch}: {ms:.1f} ms/clip", file=sys.stderr)
                    rows.append({"arch": arch, "batch": batch, "mode": mode, "msPerClip": round(ms, 3)})
                del module
    return rows


def print_table(report):
    print(f"torch {report['torch']}, {report['threads']} threads")
    print(f"{'arch':<12} {'mode':<10} {'batch':>5} {'ms/clip':>10}")
    for r in report["rows"]:
        print(f"{r['arch']:<12} {r['mode']:<10} {r['batch']:>5} {r['msPerClip']:>10.1f}")


def main(argv=None):
    args = parse_args(argv)
    # Debian's torch starts with one intra-op thread; compare like with like (torchvideo uses all).
    torch.set_num_threads(args.threads)
    try:
        rows = bench(args)
    except (BenchError, OSError, RuntimeError, ValueError) as e:
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        print(f"bench_python.py: error: {lines[-1] if lines else type(e).__name__}", file=sys.stderr)
        return 2
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "rows": rows}
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
