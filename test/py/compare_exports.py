#!/usr/bin/python3
"""Which parameters and buffers of two TorchScript exports are bit-identical, for torchvideo's tests.

Usage:
  /usr/bin/python3 test/py/compare_exports.py A.pt B.pt

Prints one JSON line: {"parameters": {name: true|false, ...}, "buffers": {name: true|false, ...},
"maxAbsDiff": x}, true where torch.equal holds (same shape, dtype and every bit of every element;
NaN-free weights); maxAbsDiff is the largest |a - b| over every floating-point parameter and buffer of
the same shape (Infinity when some name or shape is in one file only). A name present in one file only
maps to false. Errors: one line on stderr, exit code 2.
"""

import json
import sys

import torch


def main(argv):
    if len(argv) != 2:
        print("compare_exports.py: error: expected two exports", file=sys.stderr)
        return 2
    try:
        a, b = (torch.jit.load(path, map_location="cpu") for path in argv)
    except (OSError, RuntimeError, ValueError) as e:
        print(f"compare_exports.py: error: {str(e).strip().splitlines()[-1]}", file=sys.stderr)
        return 2
    result = {}
    largest = 0.0
    for kind, of_a, of_b in (("parameters", dict(a.named_parameters()), dict(b.named_parameters())),
                             ("buffers", dict(a.named_buffers()), dict(b.named_buffers()))):
        result[kind] = {}
        for name in sorted(set(of_a) | set(of_b)):
            x, y = of_a.get(name), of_b.get(name)
            result[kind][name] = (x is not None and y is not None and x.dtype == y.dtype
                                  and x.shape == y.shape and torch.equal(x, y))
            if x is None or y is None or x.shape != y.shape:
                largest = float("inf")
            elif x.is_floating_point():
                largest = max(largest, (x.double() - y.double()).abs().max().item() if x.numel() else 0.0)
    result["maxAbsDiff"] = largest if largest != float("inf") else "Infinity"
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
