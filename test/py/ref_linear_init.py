#!/usr/bin/python3
"""torch.nn.Linear's default initialisation against an export's fc, for torchvideo's tests.

Usage:
  /usr/bin/python3 test/py/ref_linear_init.py --seed S --in 512 --out N --export M.pt

torch.manual_seed(S); nn.Linear(in, out), then the max abs difference of its weight and bias from
the export's fc.weight and fc.bias. Prints one JSON line: {"weight": diff, "bias": diff}.
"""

import argparse
import json
import sys

import torch


def main(argv=None):
    p = argparse.ArgumentParser(prog="ref_linear_init.py")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--in", dest="in_features", type=int, required=True)
    p.add_argument("--out", dest="out_features", type=int, required=True)
    p.add_argument("--export", required=True)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)
    linear = torch.nn.Linear(args.in_features, args.out_features)
    fc = dict(torch.jit.load(args.export, map_location="cpu").named_parameters())
    diff = {name: (getattr(linear, name).detach() - fc[f"fc.{name}"].detach()).abs().max().item()
            for name in ("weight", "bias")}
    print(json.dumps(diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
