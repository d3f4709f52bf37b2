#!/usr/bin/python3
"""PyTorch's own speed on torchvideo's TorchScript exports, for `npm run bench` to print beside ours.

Usage:
  /usr/bin/python3 scripts/bench_python.py [--models models/] [--arch all|r3d_18,mc3_18,...]
      [--batch 1,8] [--iters 3] [--warmup 2] [--modes optimized,scripted,eager] [--threads N] [--json]
      [--device cpu|cuda|cuda:N] [--precision float32,half] [--inputs device,host]

For each arch, mode, precision, batch size B and input source it times forward passes on a random
float32 (B,3,16,112,112) clip under torch.inference_mode() and reports the median over --iters divided
by B (ms per clip).
Modes: "scripted" = the module as torch.jit.load returns it; "optimized" =
torch.jit.optimize_for_inference(torch.jit.freeze(module)), the path torchvideo takes (with --precision
half: the module cast to float16 before freezing, as torchvideo's `half: true` does); "eager" = torchvision's
own nn.Module (torchvision.models.video.<arch>) with the export's state dict, weights and input in
channels_last_3d, and under torch.autocast(float16) for --precision half; "train" = one training step
of the module as torch.jit.load returns it, in train mode: forward, CrossEntropyLoss, backward and
torch.optim.SGD(lr 0.01, momentum 0.9, weight_decay 1e-4), torchvideo's Trainer.step (float32 only).
Every mode takes the same contiguous float32 input and returns float32 logits; a timed call is the whole
of that (the copy to the device for --inputs host, the cast to float16, the forward pass, the cast back).
On CUDA (--device cuda) each timed call also copies the logits to host memory and ends with
torch.cuda.synchronize(), which is what torchvideo's bench times (`(await model.forward(x)).to('cpu')`);
cuDNN's autotuner is on (torch.backends.cudnn.benchmark), as in torchvideo. --inputs: "device" = the
clip is already in the GPU's memory, "host" = it is in (pageable) host memory. Defaults on CPU: modes
optimized,scripted, input host; on CUDA: modes optimized,eager, inputs device,host, warm-up 3.
With --json, stdout is exactly one JSON object:
  {"torch": version, "threads": n, "device": "cpu"|"cuda:N", "deviceName": name,
   "rows": [{"arch", "batch", "mode", "precision", "input", "msPerClip"}, ...]}
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
MODES = ["optimized", "scripted", "eager", "train"]
# bf16 / int8: the <arch>-bf16.pt / <arch>-int8.pt exports beside <arch>.pt (export_models.py --precision);
# bf16-load: <arch>.pt cast to bfloat16 before freezing, as loadModel(path, { precision: 'bf16' }) does.
PRECISIONS = ["float32", "half", "bf16", "int8", "bf16-load"]
LOW_PRECISION_EXPORTS = ["bf16", "int8"]
INPUTS = ["device", "host"]
CLIP_SHAPE = (3, 16, 112, 112)  # (C, T, H, W) of one clip, as exported
# TorchScript's profiling executor records shapes on the first call and builds its optimized graph
# on the second, so fewer warm-up calls would time the profiling run. On CUDA a third call lets the
# fusers compile their kernels and cuDNN's autotuner settle before the clock starts.
MIN_WARMUP = 2
CUDA_WARMUP = 3


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


def device_name(text):
    if text == "cpu" or text == "cuda" or (text.startswith("cuda:") and text[5:].isdigit()):
        return text
    raise argparse.ArgumentTypeError(f"expected cpu, cuda or cuda:N, got {text!r}")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="bench_python.py",
                                description="Time PyTorch on torchvideo's TorchScript exports.")
    p.add_argument("--models", default="models", help="folder holding <arch>.pt (default: models)")
    p.add_argument("--arch", default="all", type=choice_list(ARCHS, "all"),
                   help="'all' (default) or a comma-separated list of " + ", ".join(ARCHS))
    p.add_argument("--batch", default=[1, 8], type=int_list, help="batch sizes (default: 1,8)")
    p.add_argument("--iters", default=3, type=int,
                   help="timed calls per arch/mode/batch; the median is reported (default: 3)")
    p.add_argument("--warmup", default=None, type=int,
                   help=f"untimed calls first (default {MIN_WARMUP} on CPU, {CUDA_WARMUP} on CUDA; "
                   f"minimum {MIN_WARMUP})")
    p.add_argument("--modes", default=None, type=choice_list(MODES),
                   help="comma-separated: optimized, scripted, eager (default on CPU: optimized,scripted; "
                   "plain scripted r3d_18 takes seconds per clip on CPU; on CUDA: optimized,eager)")
    p.add_argument("--device", default="cpu", type=device_name,
                   help="cpu (default), cuda or cuda:N")
    p.add_argument("--precision", default=["float32"], type=choice_list(PRECISIONS),
                   help="comma-separated: float32 (default), half (CUDA only)")
    p.add_argument("--inputs", default=None, type=choice_list(INPUTS),
                   help="where the input clip is: device (already on the GPU), host (host memory); "
                   "default on CUDA: device,host; on CPU: host")
    p.add_argument("--threads", default=os.cpu_count() or 1, type=int,
                   help="torch.set_num_threads (default: all cores)")
    p.add_argument("--seed", default=0, type=int, help="seed of the random input (default: 0)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = p.parse_args(argv)
    if args.iters < 1:
        p.error(f"--iters must be >= 1, got {args.iters}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    cuda = args.device.startswith("cuda")
    if args.modes is None:
        args.modes = ["optimized", "eager"] if cuda else ["optimized", "scripted"]
    if args.inputs is None:
        args.inputs = list(INPUTS) if cuda else ["host"]
    if not cuda and "half" in args.precision:
        p.error("--precision half needs --device cuda (torchvideo's half precision is CUDA only)")
    if not cuda and "device" in args.inputs:
        p.error("--inputs device needs --device cuda (on the CPU, host memory is the device's)")
    if args.warmup is None:
        args.warmup = CUDA_WARMUP if cuda else MIN_WARMUP
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


def resolve_device(name):
    device = torch.device(name)
    if device.type != "cuda":
        return device
    if not torch.cuda.is_available():
        raise BenchError(f"--device {name}: torch {torch.__version__} has no usable CUDA device "
                         "(torch.cuda.is_available() is False); run this with a CUDA PyTorch's python3")
    index = 0 if device.index is None else device.index
    if index >= torch.cuda.device_count():
        raise BenchError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    # torchvideo turns cuDNN's autotuner on for CUDA models: the input shape is fixed per model.
    torch.backends.cudnn.benchmark = True
    return torch.device("cuda", index)


def eager_module(path, arch):
    """torchvision's own network with the export's weights: the TorchScript module's state dict has
    the eager module's keys."""
    from torchvision.models import video as tv_video  # only this mode needs torchvision

    state = torch.jit.load(path, map_location="cpu").state_dict()
    if "fc.weight" not in state:
        raise BenchError(f"{path} has no fc.weight: not one of torchvision's video ResNets")
    model = getattr(tv_video, arch)(num_classes=state["fc.weight"].shape[0])
    model.load_state_dict(state)
    return model


def load_module(path, mode, device=torch.device("cpu"), precision="float32", arch=None):
    if mode == "eager":
        module = eager_module(path, arch).eval().to(device, memory_format=torch.channels_last_3d)
        return module
    if precision in LOW_PRECISION_EXPORTS:
        path = path[: -len(".pt")] + f"-{precision}.pt"
        if precision == "int8":
            torch.backends.quantized.engine = "onednn"
    module = torch.jit.load(path, map_location=device)
    module.eval()
    if precision == "half":
        module = module.half()
    if precision == "bf16-load":
        module = module.to(torch.bfloat16)
    if mode == "optimized":
        # freeze needs eval mode: it inlines parameters and folds batch norm into the convolutions.
        module = torch.jit.optimize_for_inference(torch.jit.freeze(module))
    return module


def make_train_call(module, device=torch.device("cpu"), amp=False):
    """One SGD step on a batch, as torchvideo's Trainer.step: labels drawn once per batch size. With amp
    (CUDA): float16 autocast and torch.cuda.amp.GradScaler, as the Trainer's amp option. The loss is read
    back to the host (loss.item()), as Trainer.step returns it, which also ends the step on a GPU."""
    module.train()
    criterion = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    scaler = torch.cuda.amp.GradScaler() if amp else None
    labels = {}

    def call(x):
        if x.shape[0] not in labels:
            drawn = torch.randint(0, 400, (x.shape[0],), generator=torch.Generator().manual_seed(0))
            labels[x.shape[0]] = drawn.to(device)
        optimizer.zero_grad()
        with torch.autocast(device_type="cuda", dtype=torch.float16, enabled=amp):
            loss = criterion(module(x), labels[x.shape[0]])
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        return loss.item()

    return call


def make_call(module, mode, precision, device):
    """One timed call: float32 clip (on the host or on the device) in, float32 logits out; on CUDA
    the logits end in host memory and the device is synchronized, as in torchvideo's bench."""
    cuda = device.type == "cuda"

    def call(x):
        if x.device != device:
            x = x.to(device)
        if mode == "eager":
            x = x.contiguous(memory_format=torch.channels_last_3d)
            if precision == "half":
                with torch.autocast(device_type="cuda", dtype=torch.float16):
                    y = module(x)
            else:
                y = module(x)
        else:
            y = module(x.half() if precision == "half" else x.bfloat16() if precision == "bf16-load" else x)
        y = y.float()
        if cuda:
            y = y.cpu()
            torch.cuda.synchronize(device)
        return y

    return call


def time_calls(call, x, warmup, iters):
    """Median wall time of one call, in ms."""
    for _ in range(warmup):
        call(x)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        call(x)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def bench(args, device):
    paths = model_paths(args.models, args.arch, explicit=len(args.arch) < len(ARCHS))
    generator = torch.Generator().manual_seed(args.seed)
    inputs = {b: torch.rand(b, *CLIP_SHAPE, generator=generator) for b in args.batch}
    rows = []
    with torch.inference_mode():
        for arch, path in paths.items():
            for mode in args.modes:
                for precision in args.precision:
                    # One module per arch, mode and precision, reused across batch sizes as a server
                    # would; the warm-up before each batch size lets the executor re-specialize for the
                    # new shape.
                    if mode == "train":
                        # "half" trains with amp (float16 autocast + GradScaler): CUDA only.
                        if precision != "float32" and device.type != "cuda":
                            continue
                        # Autograd needs tensors made outside inference mode, the module's included.
                        with torch.inference_mode(False), torch.enable_grad():
                            module = torch.jit.load(path, map_location=device)
                            call = make_train_call(module, device, amp=precision != "float32")
                            source = "device" if device.type == "cuda" else "host"
                            for batch in args.batch:
                                x = inputs[batch].clone().to(device)
                                ms = time_calls(call, x, args.warmup, args.iters) / batch
                                print(f"{arch} train {precision} batch {batch}: {ms:.3f} ms/clip", file=sys.stderr)
                                rows.append({"arch": arch, "batch": batch, "mode": mode, "precision": precision,
                                             "input": source, "msPerClip": round(ms, 4)})
                                del x
                        del module, call
                        continue
                    module = load_module(path, mode, device, precision, arch)
                    call = make_call(module, mode, precision, device)
                    for batch in args.batch:
                        for source in args.inputs:
                            x = inputs[batch].to(device) if source == "device" else inputs[batch]
                            ms = time_calls(call, x, args.warmup, args.iters) / batch
                            what = f"{arch} {mode} {precision} batch {batch} input {source}"
                            print(f"{what}: {ms:.3f} ms/clip", file=sys.stderr)
                            rows.append({"arch": arch, "batch": batch, "mode": mode, "precision": precision,
                                         "input": source, "msPerClip": round(ms, 4)})
                            del x
                    del module, call
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
    return rows


def print_table(report):
    print(f"torch {report['torch']}, {report['threads']} threads, {report['device']} ({report['deviceName']})")
    print(f"{'arch':<12} {'mode':<10} {'precision':<9} {'input':<6} {'batch':>5} {'ms/clip':>10}")
    for r in report["rows"]:
        digits = 1 if r["msPerClip"] >= 10 else 3
        print(f"{r['arch']:<12} {r['mode']:<10} {r['precision']:<9} {r['input']:<6} {r['batch']:>5} "
              f"{r['msPerClip']:>10.{digits}f}")


def main(argv=None):
    args = parse_args(argv)
    # Debian's torch starts with one intra-op thread; compare like with like (torchvideo uses all).
    torch.set_num_threads(args.threads)
    try:
        device = resolve_device(args.device)
        rows = bench(args, device)
    except (BenchError, OSError, RuntimeError, ValueError, ImportError) as e:
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        print(f"bench_python.py: error: {lines[-1] if lines else type(e).__name__}", file=sys.stderr)
        return 2
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    report = {"torch": torch.__version__, "threads": torch.get_num_threads(), "device": str(device),
              "deviceName": name, "rows": rows}
    if args.json:
        print(json.dumps(report))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
