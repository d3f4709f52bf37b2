#!/usr/bin/python3
"""Reference preprocessing for the C++ parity tests: torchvision 0.14's VideoClassification preset.

Usage: /usr/bin/python3 test/py/ref_preprocess.py --input frames.bin --shape T,H,W,3 --output out.bin

Reads raw uint8 frames (T, H, W, 3), applies
VideoClassification(crop_size=(112, 112), resize_size=(128, 171)) to the (T, C, H, W) clip (a
permuted view, as torchvision's video datasets pass it) and writes raw float32 (3, T, 112, 112).
"""
import argparse
import sys

import numpy as np
import torch
from torchvision.transforms._presets import VideoClassification


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--shape", required=True, help="T,H,W,3")
    parser.add_argument("--output", required=True)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--resize", default="128,171", help="H,W")
    args = parser.parse_args()

    shape = [int(x) for x in args.shape.split(",")]
    if len(shape) != 4 or shape[3] != 3:
        print(f"--shape must be T,H,W,3, got {args.shape}", file=sys.stderr)
        return 2
    frames = np.fromfile(args.input, dtype=np.uint8).reshape(shape)
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, C, H, W) view
    resize = tuple(int(x) for x in args.resize.split(","))
    transform = VideoClassification(crop_size=(args.crop, args.crop), resize_size=resize)
    with torch.no_grad():
        out = transform(clip).contiguous()  # (C, T, H, W)
    out.numpy().astype(np.float32).tofile(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
