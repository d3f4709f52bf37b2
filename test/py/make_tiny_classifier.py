#!/usr/bin/python3
"""A tiny video classifier for the serving tests: clips (B, 3, 4, 32, 32), 5 labelled classes.

Usage: /usr/bin/python3 test/py/make_tiny_classifier.py --out tiny.pt

Conv3d(3 -> 4, 3x3x3) + ReLU, mean over time and space, fc(4 -> 5), random weights (seed 0), scripted with
torch.jit.script and saved with a sidecar JSON beside it (tiny.json): clip_length 4, crop 32x32 (resize
36x48), frame rate 15, mc3_18's mean/std, labels "class zero" .. "class four" (with spaces, as Kinetics'
labels have). Each clip's logits depend on its own pixels only (no batch statistics), as for the real
networks in eval mode, so a batched row equals the clip's own forward. Milliseconds per clip on a CPU.
"""
import argparse
import json
import os

import torch

LABELS = ["class zero", "class one", "class two", "class three", "class four"]


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv3d(3, 4, kernel_size=3, padding=1)
        self.fc = torch.nn.Linear(4, len(LABELS))

    def forward(self, x):
        features = torch.relu(self.conv(x)).mean(dim=[2, 3, 4])
        return self.fc(features)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.manual_seed(0)
    module = torch.jit.script(Tiny().eval())
    module.save(args.out)
    sidecar = {
        "arch": "tiny",
        "num_classes": len(LABELS),
        "labels": LABELS,
        "clip_length": 4,
        "frame_rate": 15,
        "resize_size": [36, 48],
        "crop_size": [32, 32],
        "mean": [0.43216, 0.394666, 0.37645],
        "std": [0.22803, 0.22145, 0.216989],
    }
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(sidecar, f)


if __name__ == "__main__":
    main()
