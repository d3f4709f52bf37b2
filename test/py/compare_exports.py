#!/usr/bin/python3
"""Which parameters and buffers of two TorchScript exports are bit-identical, for torchvideo's tests.

Usage:
  /usr/bin/python3 test/py/compare_exports.py A.pt B.pt

Prints one JSON line: {"parameters": {name: true|false, ...}, "buffers": {name: true|false, ...}},
true where torch.equal holds (same shape, dtype and every bit of every element; NaN-free weights).
A name present in one file only maps to false. Errors: one line on stderr, exit code 2.
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
    for kind, of_a, of_b in (("parameters", dict(a.named_parameters()), dict(b.named_parameters())),
                             ("buffers", dict(a.named_buffers()), dict(b.named_buffers()))):
        result[kind] = {}
        for name in sorted(set(of_a) | set(of_b)):
            x, y = of_a.get(name), of_b.get(name)
            result[kind][name] = (x is not None and y is not None and x.dtype == y.dtype
                                  and x.shape == y.shape and torch.equal(x, y))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
