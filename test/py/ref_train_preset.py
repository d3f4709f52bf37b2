#!/usr/bin/python3
"""torchvision's training preset with given draws: the reference for torchvideo's training clips.

Usage: /usr/bin/python3 test/py/ref_train_preset.py --input frames.bin --shape N,T,H,W,3
           --draws '[{"top": 3, "left": 40, "flip": true}, ...]' --output clips.bin

references/video_classification/presets.py VideoClassificationPresetTrain(crop_size=(112, 112),
resize_size=(128, 171)): ConvertImageDtype(float32), Resize(resize_size, antialias=False), RandomHorizontalFlip,
Normalize(mean, std), RandomCrop(crop_size), ConvertBHWCtoCBHW; here each clip's random draws (the flip,
RandomCrop's top and left) are given instead of drawn, and the steps are torchvision's functional ops in
the preset's order, on the (T, C, H, W) view of each clip's uint8 (T, H, W, 3) frames as train.py's
dataset hands it over. Writes the clips, float32 (N, 3, T, crop, crop), raw, to --output.
"""
import argparse
import json

import numpy as np
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

MEAN = [0.43216, 0.394666, 0.37645]
STD = [0.22803, 0.22145, 0.216989]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True)
    parser.add_argument("--shape", required=True, help="N,T,H,W,3")
    parser.add_argument("--draws", required=True)
    parser.add_argument("--crop", type=int, default=112)
    parser.add_argument("--resize", default="128,171", help="H,W")
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    shape = [int(x) for x in args.shape.split(",")]
    frames = torch.from_numpy(np.fromfile(args.input, dtype=np.uint8).reshape(shape))
    draws = json.loads(args.draws)
    resize = [int(x) for x in args.resize.split(",")]
    clips = []
    for clip, draw in zip(frames, draws):
        vid = clip.permute(0, 3, 1, 2)  # (T, C, H, W), as train.py's VideoClips(output_format="TCHW")
        vid = F.convert_image_dtype(vid, torch.float32)
        vid = F.resize(vid, resize, interpolation=InterpolationMode.BILINEAR, antialias=False)
        if draw["flip"]:
            vid = F.hflip(vid)
        vid = F.normalize(vid, mean=MEAN, std=STD)
        vid = F.crop(vid, draw["top"], draw["left"], args.crop, args.crop)
        clips.append(vid.permute(1, 0, 2, 3))  # ConvertBHWCtoCBHW
    torch.stack(clips).contiguous().numpy().astype("<f4").tofile(args.output)
    print(json.dumps({"clips": len(clips)}))


if __name__ == "__main__":
    main()
