#!/usr/bin/python3
"""torchvision's own eager network with a state dict loaded: the reference for exported weights.

Usage: /usr/bin/python3 test/py/ref_eager_forward.py --arch mc3_18 --weights W.pth --input in.bin
           --shape 1,3,4,32,32 --output out.bin

Builds torchvision.models.video.<arch>(num_classes = fc.weight's rows), loads the state dict
strictly, runs it in eval mode under inference_mode on raw little-endian float32 input and writes
the raw float32 logits. Prints {"shape": [...]} on stdout.
"""
import argparse
import json

import numpy as np
import torch
from torchvision.models import video


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", required=True, choices=["r3d_18", "mc3_18", "r2plus1d_18"])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--shape", required=True)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)

    state = torch.load(args.weights, map_location="cpu")
    model = getattr(video, args.arch)(num_classes=state["fc.weight"].shape[0])
    model.load_state_dict(state, strict=True)
    model.eval()
    shape = [int(x) for x in args.shape.split(",")]
    x = torch.from_numpy(np.fromfile(args.input, dtype="<f4").astype(np.float32).reshape(shape))
    with torch.inference_mode():
        logits = model(x)
    logits.numpy().astype("<f4").tofile(args.output)
    print(json.dumps({"shape": list(logits.shape)}))


if __name__ == "__main__":
    main()
