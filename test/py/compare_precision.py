#!/usr/bin/python3
"""A bf16/int8 export beside the float32 export it came from, in PyTorch: both run on the same random
float32 clips. Prints one JSON line: the low-precision logits' dtype and shape, the largest |softmax
probability| and |logit| differences, the share of equal top-1 classes, and the largest difference
after freezing and optimizing the export again (what torchvideo's loader does to every model).

Usage: compare_precision.py --low X-int8.pt --fp32 X.pt --shape 2,3,16,112,112 [--seed 0]
"""

import argparse
import json

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--low", required=True)
    p.add_argument("--fp32", required=True)
    p.add_argument("--shape", required=True)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    torch.set_num_threads(2)
    # int8 exports hold oneDNN-quantized weights; they are repacked at load for the selected engine.
    torch.backends.quantized.engine = "onednn"
    shape = [int(v) for v in args.shape.split(",")]
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(args.seed))
    low = torch.jit.load(args.low, map_location="cpu").eval()
    fp32 = torch.jit.load(args.fp32, map_location="cpu").eval()
    with torch.inference_mode():
        got, want = low(x), fp32(x)
        again = torch.jit.optimize_for_inference(torch.jit.freeze(low))(x)
    probs = (got.float().softmax(1) - want.softmax(1)).abs()
    print(json.dumps({
        "dtype": str(got.dtype),
        "shape": list(got.shape),
        "maxAbsProbDiff": float(probs.max()),
        "maxAbsLogitDiff": float((got.float() - want).abs().max()),
        "top1": float((got.argmax(1) == want.argmax(1)).float().mean()),
        "refrozenMaxDiff": float((again - got).abs().max()),
    }))


if __name__ == "__main__":
    main()
