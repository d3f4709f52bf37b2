#!/usr/bin/python3
"""Identifies the random crop and flip behind torchvideo's preprocess(frames, { train: true, seed }).

Usage: /usr/bin/python3 test/py/ref_preprocess_train.py --input frames.bin --shape T,H,W,3
           --outputs clips.bin --count K --output unused.bin

torchvideo draws the crop offsets and the flip with C++'s std::mt19937_64, which Python cannot replay,
so this reference tries them all. It reads raw uint8 frames (T, H, W, 3) and K raw float32 clips
(3, T, 112, 112) that torchvideo made from them, resizes the frames the way
VideoClassification(crop_size=(112, 112), resize_size=(128, 171)) does (F.resize on the (T, C, H, W)
view: float bilinear, no antialias, rounded back to uint8), and then, for every candidate top in
[0, 128 - 112], left in [0, 171 - 112] and flip in {False, True}, applies F.crop, F.hflip,
F.convert_image_dtype (/255) and F.normalize, and lists the candidates that equal each clip within
--tolerance. Prints {"candidates": n, "matches": [[{top, left, flip, maxDiff}, ...] per clip],
"closest": [{top, left, flip, maxDiff} per clip]} as one JSON line.
"""
import argparse
import json
import sys

import numpy as np
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

MEAN = [0.43216, 0.394666, 0.37645]
STD = [0.22803, 0.22145, 0.216989]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--shape", required=True, help="T,H,W,3")
    parser.add_argument("--outputs", required=True, help="K raw float32 clips (3, T, crop, crop)")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--resize", default="128,171", help="H,W")
    parser.add_argument("--tolerance", type=float, default=1e-5)
    parser.add_argument("--output", required=True, help="written empty (the test harness reads it)")
    args = parser.parse_args()

    shape = [int(x) for x in args.shape.split(",")]
    if len(shape) != 4 or shape[3] != 3:
        print(f"--shape must be T,H,W,3, got {args.shape}", file=sys.stderr)
        return 2
    frame_count = shape[0]
    crop = args.crop
    resize = [int(x) for x in args.resize.split(",")]
    frames = np.fromfile(args.input, dtype=np.uint8).reshape(shape)
    clips = np.fromfile(args.outputs, dtype="<f4").astype(np.float32)
    clips = torch.from_numpy(clips.reshape(args.count, 3, frame_count, crop, crop)).permute(0, 2, 1, 3, 4)  # (K, T, C, h, w)

    with torch.no_grad():
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2)  # (T, C, H, W) view, as torchvision's datasets pass it
        resized = F.resize(clip, resize, interpolation=InterpolationMode.BILINEAR)  # uint8, rounded
        # A cheap first look: one row of each clip. Only candidates that pass it are compared whole.
        rows = clips[:, 0, 0, 0, :]
        matches = [[] for _ in range(args.count)]
        closest = [None] * args.count
        candidates = 0
        for top in range(resize[0] - crop + 1):
            for left in range(resize[1] - crop + 1):
                for flip in (False, True):
                    candidates += 1
                    x = F.crop(resized, top, left, crop, crop)
                    if flip:
                        x = F.hflip(x)
                    x = F.normalize(F.convert_image_dtype(x, torch.float), mean=MEAN, std=STD)
                    row_diff = (rows - x[0, 0, 0, :]).abs().amax(dim=1)
                    for k in range(args.count):
                        row = float(row_diff[k])
                        # The row's difference is a lower bound of the whole clip's: skip what can be
                        # neither a match nor closer than the closest so far.
                        if row > args.tolerance and closest[k] is not None and row > closest[k]["maxDiff"]:
                            continue
                        diff = float((clips[k] - x).abs().max())
                        found = {"top": top, "left": left, "flip": flip, "maxDiff": diff}
                        if closest[k] is None or diff < closest[k]["maxDiff"]:
                            closest[k] = found
                        if diff <= args.tolerance:
                            matches[k].append(found)

    open(args.output, "wb").close()
    print(json.dumps({"candidates": candidates, "matches": matches, "closest": closest}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
