#!/usr/bin/python3
"""The batch-norm statistics a training forward leaves, for torchvideo's per-step buffer broadcast test.

Usage: /usr/bin/python3 test/py/ref_bn_update.py --start START.pt --clips clips.bin --shape B,3,T,H,W
           --compare AFTER.pt

Loads the TorchScript export START (its weights and buffers are the state a step begins from), runs one
forward of the raw float32 clips in train mode (what a training step's forward does to the running
means, variances and batch counts), and compares every buffer with the export AFTER. Prints
{"maxAbsDiff": x, "countsEqual": bool, "buffers": n} as one JSON line: x is the largest |a - b| over the
floating-point buffers; countsEqual whether the integer buffers (num_batches_tracked) are equal.
"""
import argparse
import json

import numpy as np
import torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", required=True)
    parser.add_argument("--clips", required=True)
    parser.add_argument("--shape", required=True)
    parser.add_argument("--compare", required=True)
    args = parser.parse_args()
    torch.set_num_threads(1)
    shape = [int(x) for x in args.shape.split(",")]
    clips = torch.from_numpy(np.fromfile(args.clips, dtype="<f4").reshape(shape))
    module = torch.jit.load(args.start, map_location="cpu")
    module.train()
    with torch.no_grad():
        module(clips)
    expected = dict(module.named_buffers())
    actual = dict(torch.jit.load(args.compare, map_location="cpu").named_buffers())
    if set(expected) != set(actual):
        raise SystemExit(f"buffer names differ: {sorted(set(expected) ^ set(actual))}")
    largest, counts_equal = 0.0, True
    for name, value in expected.items():
        other = actual[name]
        if value.is_floating_point():
            largest = max(largest, (value.double() - other.double()).abs().max().item())
        else:
            counts_equal = counts_equal and torch.equal(value, other)
    print(json.dumps({"maxAbsDiff": largest, "countsEqual": counts_equal, "buffers": len(expected)}))


if __name__ == "__main__":
    main()
