#!/usr/bin/python3
"""torchvision's own training draws: the distribution torchvideo's preprocess({ train: true }) must match.

Usage: /usr/bin/python3 test/py/ref_random_crop_draws.py --count N --output unused.bin

Draws N crops with transforms.RandomCrop.get_params on a (3, 128, 171) frame for a (112, 112) crop, and N
flip decisions by applying transforms.RandomHorizontalFlip() (its default p) to a 1x2 image and seeing
whether it came back reversed. Prints {"tops": [...], "lefts": [...], "flips": k, "p": p} as one JSON line.
"""
import argparse
import json

import torch
from torchvision import transforms


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--resize", default="128,171", help="H,W")
    parser.add_argument("--output", required=True, help="written empty (the test harness reads it)")
    args = parser.parse_args()
    torch.manual_seed(0)
    height, width = [int(x) for x in args.resize.split(",")]
    frame = torch.zeros(3, height, width)
    tops, lefts = [], []
    for _ in range(args.count):
        top, left, _, _ = transforms.RandomCrop.get_params(frame, (args.crop, args.crop))
        tops.append(top)
        lefts.append(left)
    flip = transforms.RandomHorizontalFlip()
    probe = torch.tensor([[[0.0, 1.0]]])
    flips = sum(int(flip(probe)[0, 0, 0] == 1.0) for _ in range(args.count))
    open(args.output, "wb").close()
    print(json.dumps({"tops": tops, "lefts": lefts, "flips": flips, "p": flip.p}))


if __name__ == "__main__":
    main()
