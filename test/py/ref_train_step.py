#!/usr/bin/python3
"""PyTorch's reference training steps for torchvideo's trainer tests.

Usage:
  /usr/bin/python3 test/py/ref_train_step.py --model M.pt --clips clips.bin --shape B,3,T,H,W
      --labels labels.bin --steps N --lr LR --momentum M --weight-decay WD
      [--compare STEP:TRAINED.pt ...] [--device cuda [--amp]]

Loads the TorchScript export with torch.jit.load, puts it in train mode and runs N steps of
torchvision's reference recipe on the same batch each step: CrossEntropyLoss() (mean, no label
smoothing), loss.backward(), torch.optim.SGD(model.parameters(), lr, momentum, weight_decay) (one
parameter group). After step STEP it compares every parameter and buffer of TRAINED.pt (torchvideo's
export after its STEP-th step) with its own. Prints one JSON line on stdout:
  {"losses": [...], "corrects": [...], "compare": {"STEP": {"parameters": max abs diff,
   "buffers": max abs diff, "worst": name, "missing": [names], "update": max abs change of a
   parameter since the start}}}
--device runs it there (default cpu); --amp (CUDA) adds torch.autocast(float16) around forward and loss
and torch.cuda.amp.GradScaler() around backward and step, as train.py --amp does.
clips.bin is raw little-endian float32 of --shape; labels.bin raw little-endian int64 (B).
Errors: one line on stderr, exit code 2.
"""

import argparse
import contextlib
import json
import os
import sys

import numpy as np
import torch


def parse_args(argv):
    p = argparse.ArgumentParser(prog="ref_train_step.py", description="Reference SGD steps on a TorchScript export.")
    p.add_argument("--model", required=True)
    p.add_argument("--clips", required=True)
    p.add_argument("--shape", required=True, type=lambda s: [int(d) for d in s.split(",")])
    p.add_argument("--labels", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--lr", type=float, required=True)
    p.add_argument("--momentum", type=float, required=True)
    p.add_argument("--weight-decay", type=float, required=True)
    p.add_argument("--compare", action="append", default=[], help="STEP:TRAINED.pt")
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", action="store_true")
    return p.parse_args(argv)


def differences(mine, theirs):
    """Max abs difference over parameters and over buffers between two modules, by name."""
    result = {"parameters": 0.0, "buffers": 0.0, "worst": None, "missing": []}
    worst = -1.0
    for kind, mine_items, theirs_items in (
        ("parameters", dict(mine.named_parameters()), dict(theirs.named_parameters())),
        ("buffers", dict(mine.named_buffers()), dict(theirs.named_buffers())),
    ):
        if set(mine_items) != set(theirs_items):
            result["missing"] += sorted(set(mine_items) ^ set(theirs_items))
        for name, tensor in mine_items.items():
            if name not in theirs_items:
                continue
            other = theirs_items[name]
            if tensor.shape != other.shape:
                result["missing"].append(f"{name} (shape {list(tensor.shape)} vs {list(other.shape)})")
                continue
            diff = ((tensor.detach().double().cpu() - other.detach().double().cpu()).abs().max().item()
                    if tensor.numel() else 0.0)
            result[kind] = max(result[kind], diff)
            if diff > worst:
                worst, result["worst"] = diff, name
    return result


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(os.cpu_count() or 1)
    device = torch.device(args.device)
    clips = torch.from_numpy(np.fromfile(args.clips, dtype="<f4").astype(np.float32).reshape(args.shape).copy())
    labels = torch.from_numpy(np.fromfile(args.labels, dtype="<i8").astype(np.int64).copy())
    clips, labels = clips.to(device), labels.to(device)
    compare = {}
    for spec in args.compare:
        step, path = spec.split(":", 1)
        compare[int(step)] = path
    try:
        model = torch.jit.load(args.model, map_location=device)
        initial = torch.jit.load(args.model, map_location="cpu")
        model.train()
        for parameter in model.parameters():
            parameter.requires_grad_(True)
        criterion = torch.nn.CrossEntropyLoss()
        optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum,
                                    weight_decay=args.weight_decay)
        scaler = torch.cuda.amp.GradScaler() if args.amp else None
        losses, corrects, compared = [], [], {}
        for step in range(1, args.steps + 1):
            optimizer.zero_grad()
            # Not torch.autocast(enabled=False): on the CPU it refuses float16 even when disabled.
            with torch.autocast(device.type, dtype=torch.float16) if args.amp else contextlib.nullcontext():
                output = model(clips)
                loss = criterion(output, labels)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            losses.append(loss.item())
            corrects.append(int((output.argmax(1) == labels).sum().item()))
            if step in compare:
                compared[str(step)] = differences(model, torch.jit.load(compare[step], map_location="cpu"))
                # How far the steps moved the weights: a comparison only means something when the
                # update is far larger than the tolerance.
                compared[str(step)]["update"] = differences(model, initial)["parameters"]
    except (OSError, RuntimeError, ValueError) as e:
        lines = [line for line in str(e).strip().splitlines() if line.strip()]
        print(f"ref_train_step.py: error: {lines[-1] if lines else type(e).__name__}", file=sys.stderr)
        return 2
    print(json.dumps({"losses": losses, "corrects": corrects, "compare": compared}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
